#include "harness/progress.h"

#include <fmt/format.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace hoardlab::harness {
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

} // namespace

std::string human_duration(double s) {
  if (s < 60) return fmt::format("{:.0f}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  return fmt::format("{}h{:02}m", static_cast<int>(s) / 3600, static_cast<int>(s) % 3600 / 60);
}

Progress::Progress(int total_runs, bool quiet)
    : total_(total_runs), tty_(isatty(2) != 0), quiet_(quiet), started_at_(now_s()) {}

std::string Progress::eta() const {
  if (finished_ == 0) return "?";
  return human_duration(run_time_sum_ / finished_ * (total_ - finished_));
}

void Progress::start(const std::string& label) {
  label_ = label;
  run_started_ = now_s();
  if (quiet_ || !tty_) return;
  const int width = 30;
  int filled = total_ ? finished_ * width / total_ : width;
  std::string bar(filled, '#');
  bar.resize(width, '.');
  std::string line = fmt::format("[{}] {}/{} ETA {} {}", bar, finished_, total_, eta(), label);
  if (line.size() > 150) line.resize(150);
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
}

void Progress::done(const std::string& outcome) {
  ++finished_;
  run_time_sum_ += now_s() - run_started_;
  if (quiet_) return;
  bool failed = outcome.starts_with("FAILED");
  if (!tty_)
    std::fprintf(stderr, "[%d/%d] %s: %s (ETA %s)\n", finished_, total_, label_.c_str(),
                 outcome.c_str(), eta().c_str());
  else if (failed) // failures stay on screen above the bar
    std::fprintf(stderr, "\r\033[K%s: %s\n", label_.c_str(), outcome.c_str());
}

void Progress::finish() {
  if (!quiet_ && tty_) std::fprintf(stderr, "\r\033[K");
  if (!quiet_)
    std::fprintf(stderr, "%d runs in %s\n", finished_,
                 human_duration(now_s() - started_at_).c_str());
}

} // namespace hoardlab::harness

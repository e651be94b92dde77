// Progress on stderr: a bar with ETA on a terminal, one plain line per run otherwise (logs).
#pragma once

#include <string>

namespace hoardlab::harness {

// "42s", "3m07s", "2h05m": an estimate or a run's length, as the progress and start lines print it.
std::string human_duration(double seconds);

class Progress {
public:
  Progress(int total_runs, bool quiet);
  // Called before a run starts; `label` names the cell and repetition.
  void start(const std::string& label);
  // Called after it ends, with a short result ("1.23M ops/s", "FAILED: timed out").
  void done(const std::string& outcome);
  void finish();

private:
  std::string eta() const;
  int total_, finished_ = 0;
  bool tty_, quiet_;
  double started_at_, run_time_sum_ = 0, run_started_ = 0;
  std::string label_;
};

} // namespace hoardlab::harness

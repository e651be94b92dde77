#include "bench_common.h"

#include <dlfcn.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace hoardlab::bench {

// ---------------------------------------------------------------------------------------------
// Flags

Flags::Flags(std::string workload, std::string summary)
    : workload_(std::move(workload)), summary_(std::move(summary)) {}

void Flags::add_u64(const char* name, uint64_t* value, const char* help, uint64_t min_value,
                    uint64_t max_value) {
  entries_.push_back({name, help, false, value, nullptr, 0.0, 0.0, min_value, max_value});
}

void Flags::add_double(const char* name, double* value, const char* help, double min_value,
                       double max_value) {
  entries_.push_back({name, help, true, nullptr, value, min_value, max_value, 0, 0});
}

void Flags::usage_error(const std::string& message) const {
  std::fprintf(stderr, "%s: %s\n(run '%s --help' for the flags)\n", workload_.c_str(),
               message.c_str(), workload_.c_str());
  std::exit(kExitUsage);
}

void Flags::print_help() const {
  std::printf("usage: %s [flags]\n%s\n\nflags:\n", workload_.c_str(), summary_.c_str());
  for (const Entry& e : entries_) {
    std::string def = e.is_double ? std::to_string(*e.dbl) : std::to_string(*e.u64);
    std::printf("  --%-16s %s (default %s)\n", e.name.c_str(), e.help.c_str(), def.c_str());
  }
  std::printf("  --%-16s %s\n", "quick", "tiny parameters: a run well under a second");
  std::printf("  %-18s %s\n", kCheckFlags, "check the other flags, run nothing (exit 0 or 2)");
  std::printf("  --%-16s %s\n", "help", "this text");
  std::printf("\nprints one line on stdout: HLBENCH {json}; exit 2: bad flag, "
              "exit 3: a block did not hold what was written into it\n");
}

void Flags::set(const Entry& e, const std::string& text) {
  const char* s = text.c_str();
  char* end = nullptr;
  errno = 0;
  if (e.is_double) {
    double v = std::strtod(s, &end);
    if (text.empty() || *end != '\0' || errno != 0 || !std::isfinite(v))
      usage_error("--" + e.name + ": '" + text + "' is not a number");
    if (v < e.min_value || v > e.max_value)
      usage_error("--" + e.name + ": " + text + " is out of range [" + std::to_string(e.min_value) +
                  ", " + std::to_string(e.max_value) + "]");
    *e.dbl = v;
  } else {
    if (text.empty() || text[0] == '-')
      usage_error("--" + e.name + ": '" + text + "' is not a non-negative integer");
    unsigned long long v = std::strtoull(s, &end, 0);
    // Units make sizes readable on the command line: 64K, 1M, 2G (powers of 1024).
    if (end != s && errno == 0 && *end != '\0' && end[1] == '\0') {
      unsigned shift = *end == 'K' || *end == 'k'   ? 10
                       : *end == 'M' || *end == 'm' ? 20
                       : *end == 'G' || *end == 'g' ? 30
                                                    : 0;
      if (shift != 0 && v <= (UINT64_MAX >> shift)) {
        v <<= shift;
        ++end;
      }
    }
    if (end == s || *end != '\0' || errno != 0)
      usage_error("--" + e.name + ": '" + text + "' is not a non-negative integer");
    if (v < e.min_u64 || v > e.max_u64)
      usage_error("--" + e.name + ": " + text + " is out of range [" + std::to_string(e.min_u64) +
                  ", " + std::to_string(e.max_u64) + "]");
    *e.u64 = v;
  }
}

void Flags::parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      print_help();
      std::exit(0);
    }
  }
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      if (quick_) quick_();
    }
    if (std::strcmp(argv[i], kCheckFlags) == 0) check_only = true;
  }
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--quick" || arg == kCheckFlags) continue;
    if (arg.rfind("--", 0) != 0) usage_error("unexpected argument '" + arg + "'");
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const Entry* found = nullptr;
    for (const Entry& e : entries_)
      if (e.name == name) found = &e;
    if (found == nullptr) usage_error("unknown flag '--" + name + "'");
    if (!has_value) {
      if (i + 1 >= argc) usage_error("--" + name + " needs a value");
      value = argv[++i];
    }
    set(*found, value);
  }
  if (check_only) std::exit(0);
}

std::string Flags::params_json() const {
  std::string out;
  char buf[64];
  for (const Entry& e : entries_) {
    if (e.name == "threads" || e.name == "seed") continue; // top-level fields of the line
    if (!out.empty()) out += ',';
    if (e.is_double)
      std::snprintf(buf, sizeof buf, "%.6g", *e.dbl);
    else
      std::snprintf(buf, sizeof buf, "%" PRIu64, *e.u64);
    out += json_string(e.name) + ":" + buf;
  }
  return out;
}

void add_common(Flags& flags, Common& common, unsigned which) {
  flags.add_u64("threads", &common.threads, "worker threads", 1, 1024);
  if (which & kUseIterations)
    flags.add_u64("iterations", &common.iterations, "rounds of work (see README)", 1,
                  UINT64_MAX / 2);
  if (which & kUseSeconds)
    flags.add_double("seconds", &common.seconds, "run time in seconds", 0.001, 3600.0);
  if (which & kUseSizes) {
    flags.add_u64("min-size", &common.min_size, "smallest block in bytes", 1, 1ULL << 32);
    flags.add_u64("max-size", &common.max_size, "largest block in bytes", 1, 1ULL << 32);
  }
  flags.add_u64("seed", &common.seed, "random seed");
  flags.add_double("scale", &common.scale, "multiplies --iterations / --seconds", 1e-6, 1e6);
}

void finish_common(Flags& flags, Common& common, unsigned which) {
  if ((which & kUseSizes) && common.min_size > common.max_size)
    flags.usage_error("--min-size " + std::to_string(common.min_size) + " is above --max-size " +
                      std::to_string(common.max_size));
  if (common.scale != 1.0) {
    if (which & kUseIterations)
      common.iterations = std::max<uint64_t>(
          1, static_cast<uint64_t>(std::llround(common.iterations * common.scale)));
    if (which & kUseSeconds) common.seconds = std::max(0.001, common.seconds * common.scale);
  }
}

// ---------------------------------------------------------------------------------------------
// Random numbers

static uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Rng::Rng(uint64_t seed, uint64_t stream) {
  uint64_t x = seed * 0x2545F4914F6CDD1DULL + stream * 0x9E3779B97F4A7C15ULL + 1;
  for (uint64_t& s : s_)
    s = splitmix64(x);
}

uint64_t Rng::next() {
  auto rotl = [](uint64_t v, int k) { return (v << k) | (v >> (64 - k)); };
  uint64_t result = rotl(s_[1] * 5, 7) * 9;
  uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

uint64_t Rng::uniform(uint64_t lo, uint64_t hi) {
  uint64_t span = hi - lo + 1;
  if (span == 0) return next(); // the full 64-bit range
  // Lemire's multiply-shift: no division on the hot path; the bias (< span / 2^64) is far below
  // anything a benchmark could notice.
  return lo + static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * span) >> 64);
}

double Rng::unit() {
  return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

uint64_t Rng::log_uniform(uint64_t lo, uint64_t hi) {
  if (lo >= hi) return lo;
  double a = std::log2(static_cast<double>(lo));
  double b = std::log2(static_cast<double>(hi) + 1.0);
  uint64_t v = static_cast<uint64_t>(std::exp2(a + (b - a) * unit()));
  return v < lo ? lo : v > hi ? hi : v;
}

// ---------------------------------------------------------------------------------------------
// Patterns

namespace {
constexpr size_t kHeadBytes = 128;
constexpr size_t kPageStride = 4096;

inline uint8_t pattern_byte(uint64_t tag, size_t offset) {
  uint64_t x = tag ^ (static_cast<uint64_t>(offset) * 0x9E3779B97F4A7C15ULL);
  x ^= x >> 29;
  return static_cast<uint8_t>(x ^ (x >> 8));
}

// Visits the patterned offsets [begin, end) of a block of n bytes.
template <class F>
inline bool for_each_patterned(size_t n, F&& f) {
  size_t head = n < kHeadBytes ? n : kHeadBytes;
  for (size_t i = 0; i < head; ++i)
    if (!f(i)) return false;
  for (size_t page = kPageStride; page + 8 <= n; page += kPageStride)
    for (size_t i = page; i < page + 8; ++i)
      if (!f(i)) return false;
  size_t tail = n >= 8 ? n - 8 : 0;
  if (tail < head) tail = head;
  for (size_t i = tail; i < n; ++i)
    if (!f(i)) return false;
  return true;
}
} // namespace

void pattern_fill(void* p, size_t n, uint64_t tag) {
  auto* b = static_cast<uint8_t*>(p);
  for_each_patterned(n, [&](size_t i) {
    b[i] = pattern_byte(tag, i);
    return true;
  });
}

bool pattern_check(const void* p, size_t n, uint64_t tag) {
  const auto* b = static_cast<const uint8_t*>(p);
  return for_each_patterned(n, [&](size_t i) { return b[i] == pattern_byte(tag, i); });
}

void pattern_verify(const char* workload, const void* p, size_t n, uint64_t tag) {
  if (pattern_check(p, n, tag)) [[likely]]
    return;
  const auto* b = static_cast<const uint8_t*>(p);
  size_t bad = 0;
  for_each_patterned(n, [&](size_t i) {
    bad = i;
    return b[i] == pattern_byte(tag, i);
  });
  char msg[256];
  std::snprintf(msg, sizeof msg,
                "block %p of %zu bytes (tag %#" PRIx64 ") holds 0x%02x at offset %zu where 0x%02x "
                "was written: the allocator handed this memory out twice or wrote into a live "
                "block",
                p, n, tag, b[bad], bad, pattern_byte(tag, bad));
  check_failed(workload, msg);
}

void check_failed(const char* workload, const std::string& message) {
  std::fprintf(stderr, "%s: CHECK FAILED: %s\n", workload, message.c_str());
  std::fflush(stderr);
  std::_Exit(kExitCorrupt);
}

void* checked_malloc(const char* workload, size_t n) {
  void* p = std::malloc(n);
  if (p == nullptr)
    check_failed(workload,
                 "malloc(" + std::to_string(n) + ") returned NULL (" + std::strerror(errno) + ")");
  return p;
}

namespace {
struct SelfHeader {
  uint64_t size;
  uint64_t tag;
};
} // namespace

void* self_describing_alloc(const char* workload, size_t n, uint64_t tag) {
  if (n < kSelfDescribingMin) n = kSelfDescribingMin;
  void* p = checked_malloc(workload, n);
  pattern_fill(p, n, tag);
  SelfHeader h{n, tag};
  std::memcpy(p, &h, sizeof h);
  return p;
}

size_t self_describing_free(const char* workload, void* p) {
  SelfHeader h;
  std::memcpy(&h, p, sizeof h);
  if (h.size < kSelfDescribingMin || h.size > (1ULL << 40))
    check_failed(workload, "block header holds a size of " + std::to_string(h.size) +
                               ": the allocator overwrote a live block");
  // The header hides the first 16 pattern bytes; check the rest against the recorded tag.
  auto* b = static_cast<uint8_t*>(p);
  pattern_fill(b, sizeof h, h.tag);
  pattern_verify(workload, p, h.size, h.tag);
  std::free(p);
  return h.size;
}

// ---------------------------------------------------------------------------------------------
// Threads

double run_threads(uint64_t threads, const std::function<void(uint64_t)>& body) {
  std::atomic<uint64_t> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (uint64_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ready.fetch_add(1, std::memory_order_acq_rel);
      while (!go.load(std::memory_order_acquire))
        std::this_thread::yield();
      body(t);
    });
  }
  while (ready.load(std::memory_order_acquire) < threads)
    std::this_thread::yield();
  Stopwatch watch;
  go.store(true, std::memory_order_release);
  for (auto& th : pool)
    th.join();
  return watch.seconds();
}

// ---------------------------------------------------------------------------------------------
// Process facts

static uint64_t status_field_kib(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  uint64_t value = 0;
  size_t len = std::strlen(field);
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, field, len) == 0 && line[len] == ':') {
      value = std::strtoull(line + len + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return value;
}

uint64_t peak_rss_kib() {
  uint64_t hwm = status_field_kib("VmHWM");
  if (hwm != 0) return hwm;
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss);
}

uint64_t current_rss_kib() {
  return status_field_kib("VmRSS");
}

std::string malloc_library() {
  // dlsym(RTLD_DEFAULT) follows the symbol search order, so a preloaded malloc is found first;
  // taking &malloc could instead give the executable's own PLT stub.
  void* sym = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info info{};
  if (sym == nullptr || dladdr(sym, &info) == 0 || info.dli_fname == nullptr) return "unknown";
  char resolved[4096];
  if (realpath(info.dli_fname, resolved) != nullptr) {
    // Keep the name the loader used (libjemalloc.so.2, not libjemalloc.so.2.x.y) when it is a
    // path, since that is what LD_PRELOAD names; realpath only fills in a bare name.
    if (info.dli_fname[0] == '/') return info.dli_fname;
    return resolved;
  }
  return info.dli_fname;
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

void print_result(const Flags& flags, const Common& common, const Result& result) {
  double ops_per_s = result.elapsed_s > 0 ? static_cast<double>(result.ops) / result.elapsed_s : 0;
  std::string line = "HLBENCH {\"workload\":" + json_string(flags.workload());
  char buf[512];
  std::snprintf(buf, sizeof buf, ",\"threads\":%" PRIu64 ",\"params\":{", common.threads);
  line += buf;
  line += flags.params_json();
  std::snprintf(buf, sizeof buf,
                "},\"elapsed_s\":%.6f,\"ops\":%" PRIu64 ",\"ops_per_s\":%.1f,"
                "\"peak_rss_kib\":%" PRIu64 ",\"malloc_lib\":",
                result.elapsed_s, result.ops, ops_per_s,
                std::max(peak_rss_kib(), result.other_peak_rss_kib));
  line += buf;
  line += json_string(malloc_library());
  std::snprintf(buf, sizeof buf, ",\"seed\":%" PRIu64 ",\"check\":\"ok\"", common.seed);
  line += buf;
  if (!result.extra_json.empty()) line += "," + result.extra_json;
  line += "}\n";
  std::fputs(line.c_str(), stdout);
  std::fflush(stdout);
}

std::string live_peak_json(uint64_t bytes) {
  return "\"live_peak_bytes\":" + std::to_string(bytes);
}

} // namespace hoardlab::bench

// What every workload shares: flag parsing, the HLBENCH result line, peak RSS, the library that
// `malloc` resolved to, block patterns and their checks, seeded random numbers, and threads that
// start together. The workloads call only the plain malloc family, so any allocator can be
// preloaded under them; this library itself allocates only before and after the timed region.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace hoardlab::bench {

/// The flag that makes a workload check its flags and exit (0, or kExitUsage naming the
/// problem) without running: the harness asks each program before an experiment's first run.
/// The harness looks for this text in a program's file to know that it speaks the convention.
inline constexpr char kCheckFlags[] = "--check-flags";

/// Exit codes the harness relies on.
inline constexpr int kExitUsage = 2;   // bad flag or bad value
inline constexpr int kExitCorrupt = 3; // a block did not hold what was written into it

// ---------------------------------------------------------------------------------------------
// Flags

/// A workload's flags. Common flags (--threads, --iterations or --seconds, --min-size,
/// --max-size, --seed, --scale, --quick, --help) are registered by the workload through the
/// add_* calls like its own ones, so --help lists them all and the result line reports them all.
class Flags {
public:
  Flags(std::string workload, std::string summary);

  void add_u64(const char* name, uint64_t* value, const char* help, uint64_t min_value = 0,
               uint64_t max_value = UINT64_MAX);
  void add_double(const char* name, double* value, const char* help, double min_value = 0.0,
                  double max_value = 1e12);
  /// --quick applies tiny values, set by `quick` before the other flags are read, so an
  /// explicit flag still wins over it.
  void set_quick(std::function<void()> quick) { quick_ = std::move(quick); }
  /// Parses argv; prints --help and exits 0, or prints the problem and exits kExitUsage; with
  /// --check-flags, exits 0 once every flag has parsed.
  void parse(int argc, char** argv);
  /// Ends with kExitUsage after naming the problem; for checks between flags.
  [[noreturn]] void usage_error(const std::string& message) const;

  const std::string& workload() const { return workload_; }
  /// `"name":value,...` for every flag, in registration order (the result line's params).
  std::string params_json() const;

private:
  struct Entry {
    std::string name;
    std::string help;
    bool is_double;
    uint64_t* u64;
    double* dbl;
    double min_value;
    double max_value;
    uint64_t min_u64;
    uint64_t max_u64;
  };
  void print_help() const;
  void set(const Entry& e, const std::string& text);

  std::string workload_;
  std::string summary_;
  std::vector<Entry> entries_;
  std::function<void()> quick_;
};

/// A block a workload holds: its address, size, and the tag its pattern was written with.
struct Block {
  void* p;
  uint64_t size;
  uint64_t tag;
};

/// Common flag values; each workload registers the ones it uses with add_common().
struct Common {
  uint64_t threads = 2;
  uint64_t iterations = 0;
  double seconds = 0.0;
  uint64_t min_size = 16;
  uint64_t max_size = 256;
  uint64_t seed = 1;
  double scale = 1.0; // multiplies --iterations or --seconds (used by the table script)
};

enum CommonWork : unsigned { kUseIterations = 1, kUseSeconds = 2, kUseSizes = 4 };
void add_common(Flags& flags, Common& common, unsigned which);
/// Checks min <= max and applies --scale; call after parse().
void finish_common(Flags& flags, Common& common, unsigned which);

// ---------------------------------------------------------------------------------------------
// Random numbers: splitmix64 for seeding and xoshiro256** for draws. Written here rather than
// taken from <random> because std::mt19937_64 is 2.5 KiB of state per thread and its
// distributions are not specified bit for bit, while a seed must reproduce a run anywhere.
class Rng {
public:
  explicit Rng(uint64_t seed, uint64_t stream = 0);
  uint64_t next();
  /// Uniform in [lo, hi].
  uint64_t uniform(uint64_t lo, uint64_t hi);
  /// Log-uniform in [lo, hi]: as many draws in [16, 32) as in [1024, 2048), the shape of real
  /// programs' size mixes (most requests small, a tail of large ones).
  uint64_t log_uniform(uint64_t lo, uint64_t hi);
  double unit(); // [0, 1)

private:
  uint64_t s_[4];
};

// ---------------------------------------------------------------------------------------------
// Block patterns. The value at each patterned offset depends on the block's tag and the offset
// only, so a grown block (realloc) can be checked against its old length and a block can be
// checked by a thread other than the one that wrote it. Patterned: the first 128 bytes, one word
// in every 4 KiB page (so a large block's pages are touched and counted in RSS) and the last
// bytes; checking every byte would make the workloads measure memset instead of the allocator.

void pattern_fill(void* p, size_t n, uint64_t tag);
/// Returns true when every patterned byte holds its value.
bool pattern_check(const void* p, size_t n, uint64_t tag);
/// Checks and, on a mismatch, prints what was wrong (workload, block, size, first bad offset,
/// expected and found bytes) to stderr and exits kExitCorrupt.
void pattern_verify(const char* workload, const void* p, size_t n, uint64_t tag);
/// Prints `message` for a failed check of another kind and exits kExitCorrupt.
[[noreturn]] void check_failed(const char* workload, const std::string& message);
/// malloc that treats NULL as a failed check (the allocator under test ran out or broke).
void* checked_malloc(const char* workload, size_t n);

/// A tag unique to (thread, sequence number).
inline uint64_t make_tag(uint64_t thread, uint64_t sequence) {
  return (thread << 48) ^ sequence ^ 0x9e3779b97f4a7c15ULL;
}

/// Blocks that carry their own size and tag in their first 16 bytes, for workloads that pass
/// bare pointers between threads. Their size is at least kSelfDescribingMin.
inline constexpr size_t kSelfDescribingMin = 16;
void* self_describing_alloc(const char* workload, size_t n, uint64_t tag);
/// Verifies the block (exits kExitCorrupt on a mismatch) and frees it; returns its size.
size_t self_describing_free(const char* workload, void* p);

// ---------------------------------------------------------------------------------------------
// Keeping results alive: the compiler must assume the value is read, so it keeps the
// allocation and the writes that produced it (compilers delete `free(malloc(16))` outright).
template <class T>
inline void do_not_optimize(T const& value) {
  asm volatile("" : : "r,m"(value) : "memory");
}
inline void clobber_memory() {
  asm volatile("" : : : "memory");
}

// ---------------------------------------------------------------------------------------------
// Threads

/// Runs body(thread_index) on `threads` new threads that start together; returns the seconds
/// from the common start to the last thread's end.
double run_threads(uint64_t threads, const std::function<void(uint64_t)>& body);

class Stopwatch {
public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

private:
  std::chrono::steady_clock::time_point start_;
};

// ---------------------------------------------------------------------------------------------
// Process facts and the result line

/// Peak resident set size in KiB: VmHWM from /proc/self/status, else getrusage's ru_maxrss.
uint64_t peak_rss_kib();
/// Current resident set size in KiB (VmRSS).
uint64_t current_rss_kib();
/// The file of the object that `malloc` resolves to in this process (dladdr on the address
/// dlsym(RTLD_DEFAULT, "malloc") returns), e.g. /usr/lib/x86_64-linux-gnu/libjemalloc.so.2.
std::string malloc_library();

/// The bytes one thread's workload holds and the most it held, for the fragmentation figure
/// (peak RSS / live peak). Each thread counts its own, so counting adds no shared write to the
/// timed loop; the sum of the threads' peaks is an upper bound on the process's live peak, equal
/// to it when the threads peak together (the workloads' steady phases), so the fragmentation
/// it gives errs low, never high.
struct LiveBytes {
  uint64_t now = 0;
  uint64_t peak = 0;
  void add(uint64_t n) {
    now += n;
    if (now > peak) peak = now;
  }
  void sub(uint64_t n) { now -= n; }
};

/// `"live_peak_bytes":N` for Result::extra_json.
std::string live_peak_json(uint64_t bytes);

struct Result {
  double elapsed_s = 0.0;
  uint64_t ops = 0;
  /// The largest peak RSS (KiB) of processes the workload started and measured itself, or 0.
  /// The line's peak_rss_kib is the larger of it and this process's own (short-lived: the
  /// children, which are the programs it measures, while the launcher holds ~3 MiB).
  uint64_t other_peak_rss_kib = 0;
  /// Extra top-level fields, already JSON: `"live_peak_bytes":123` (no leading comma).
  std::string extra_json;
};

/// Prints the one HLBENCH line on stdout (peak_rss_kib: Result::other_peak_rss_kib's note):
/// HLBENCH {"workload":..,"threads":..,"params":{..},"elapsed_s":..,"ops":..,"ops_per_s":..,
///          "peak_rss_kib":..,"malloc_lib":"..","seed":..,"check":"ok"[,extra]}
void print_result(const Flags& flags, const Common& common, const Result& result);

/// JSON string literal for `text` (quotes and escapes).
std::string json_string(const std::string& text);

} // namespace hoardlab::bench

// libFuzzer target: sequences of malloc, free, realloc, memalign and calloc against the hardened
// allocator (hoardlab_hardened, through hl_*), some with an injected corruption: a write past a
// block's end into a free neighbour, a write into a freed block, a double free.
//
// What each input must do:
//  - no corruption: every operation succeeds, every block keeps its contents, no two live blocks
//    overlap, alignments and calloc's zeroes hold. Run in this process; a failure aborts here.
//  - a corruption: the hardened allocator either stops the process with its own message
//    ("hoardlab: ...; aborting", SIGABRT), or the corruption was harmless: no later allocation
//    overlaps a live block or returns a planted address, and nothing crashes. To make a
//    corrupted free block be looked at, the sequence ends by allocating blocks of the victim's
//    size until the thread's bin and its heap's superblocks of that class are used up.
//
// Why a child process per corrupted input, not hardened.on_error=report: a corrupted free list
// cannot be repaired and always aborts (free_link.h), so report mode covers only the double and
// invalid frees; and after a detected corruption this process's heap is not one to go on
// fuzzing in. The child runs the sequence with its stderr on a pipe; this process tells the
// expected abort (SIGABRT and the allocator's line) from anything else (another signal, a
// failed property: exit status 3, a hang: libFuzzer's -timeout), and aborts on anything else so
// that libFuzzer keeps the input. Inputs without a corruption stay in process, at full speed.
#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hoardlab/hoardlab.h"

namespace {

// Sizes up to this are small blocks (below every large.threshold the default configuration
// allows), and only their freed memory is a target: a freed large run may be unmapped.
constexpr std::size_t kSmallMax = 4096;
constexpr std::size_t kSlots = 32;
constexpr std::size_t kFillMax = 4096; // bytes of a block filled and checked

enum class Kind : std::uint8_t {
  kMalloc,
  kFree,
  kRealloc,
  kMemalign,
  kCalloc,
  kWriteFreed,   // a use-after-free write into a freed block's first 16 bytes
  kOverflowFree, // a write past a live block's end into the free block after it
  kDoubleFree,   // a freed block freed again
  kCount
};

struct Op {
  Kind kind;
  std::uint8_t slot;
  std::uint8_t a; // alignment shift, calloc count, write offset, write length, plant choice
  std::uint8_t b;
  std::uint16_t size;
  std::uint64_t value; // bytes a corruption writes
};

bool is_corruption(Kind k) {
  return k == Kind::kWriteFreed || k == Kind::kOverflowFree || k == Kind::kDoubleFree;
}

// A fixed-length record per op, so that the parse does not depend on the heap's state.
std::vector<Op> parse(const std::uint8_t* data, std::size_t n) {
  std::vector<Op> ops;
  constexpr std::size_t kRecord = 14;
  for (std::size_t i = 0; i + kRecord <= n && ops.size() < 4096; i += kRecord) {
    const std::uint8_t* r = data + i;
    Op op{};
    op.kind = static_cast<Kind>(r[0] % static_cast<unsigned>(Kind::kCount));
    op.slot = static_cast<std::uint8_t>(r[1] % kSlots);
    op.a = r[2];
    op.b = r[3];
    const unsigned raw = r[4] | (r[5] << 8);
    // Mostly small sizes, 0 included; one in eight up to 32 KiB (large objects past 16 KiB).
    op.size = static_cast<std::uint16_t>((raw & 7) == 7 ? (raw >> 3) & 0x7fff : (raw >> 3) % 1025);
    std::memcpy(&op.value, r + 6, 8);
    ops.push_back(op);
  }
  return ops;
}

[[noreturn]] void fail(bool in_child, const char* what, const void* p) {
  std::fprintf(stderr, "hardened_fuzz: %s (%p)\n", what, p);
  if (in_child) _exit(3);
  std::abort();
}

struct Block {
  unsigned char* p = nullptr;
  std::size_t size = 0;
  unsigned char fill = 0;
};

class Run {
public:
  explicit Run(bool in_child) : in_child_(in_child) {}

  void apply(const Op& op) {
    Block& s = slots_[op.slot];
    switch (op.kind) {
    case Kind::kMalloc:
      release(s);
      take(s, static_cast<unsigned char*>(hl_malloc(op.size)), op.size, op.b, false);
      break;
    case Kind::kFree:
      release(s);
      break;
    case Kind::kRealloc: {
      if (s.p == nullptr || op.size == 0) break; // realloc(p, 0) frees: kFree covers it
      check(s);
      forget_live(s);
      auto* q = static_cast<unsigned char*>(hl_realloc(s.p, op.size));
      if (q == nullptr) fail(in_child_, "realloc failed", s.p);
      if (q != s.p) note_freed(s.p, s.size);
      const std::size_t kept = std::min({s.size, std::size_t{op.size}, kFillMax});
      for (std::size_t i = 0; i < kept; ++i)
        if (q[i] != s.fill) fail(in_child_, "realloc lost the block's contents", q);
      s.p = nullptr;
      take(s, q, op.size, op.b, false);
      break;
    }
    case Kind::kMemalign: {
      release(s);
      const std::size_t align = std::size_t{16} << (op.a % 9); // 16 B .. 4 KiB
      void* q = nullptr;
      if (hl_posix_memalign(&q, align, op.size) != 0) fail(in_child_, "memalign failed", nullptr);
      if (reinterpret_cast<std::uintptr_t>(q) % align != 0) fail(in_child_, "misaligned", q);
      take(s, static_cast<unsigned char*>(q), op.size, op.b, false);
      break;
    }
    case Kind::kCalloc: {
      release(s);
      const std::size_t count = 1 + op.a % 8;
      const std::size_t size = op.size / count;
      take(s, static_cast<unsigned char*>(hl_calloc(count, size)), count * size, op.b, true);
      break;
    }
    case Kind::kWriteFreed: {
      if (freed_.empty()) break;
      auto it = pick_freed(op.a);
      write_into(reinterpret_cast<unsigned char*>(it->first), op.b % 16, op);
      break;
    }
    case Kind::kOverflowFree: {
      if (s.p == nullptr || s.size > kSmallMax) break;
      unsigned char* end = s.p + hl_usable_size(s.p);
      if (freed_.count(reinterpret_cast<std::uintptr_t>(end)) == 0) break; // not a free block
      write_into(end, 0, op);
      break;
    }
    case Kind::kDoubleFree: {
      if (freed_.empty()) break;
      auto it = pick_freed(op.a);
      victim_size_ = it->second;
      corrupted_ = true;
      hl_free(reinterpret_cast<void*>(it->first));
      break;
    }
    case Kind::kCount:
      break;
    }
  }

  // After a corruption: blocks of the victim's size until its class is used up here, so that a
  // corrupted link is popped (and caught) or shown harmless.
  void drain() {
    if (!corrupted_) return;
    // Up to 8 MiB: a bin holds at most 8192 blocks (thread_cache.cpp, kMaxBinBlocks).
    const std::size_t per = victim_size_ < 16 ? 16 : victim_size_;
    std::vector<Block> taken(std::min<std::size_t>(20000, (std::size_t{8} << 20) / per));
    for (Block& b : taken)
      take(b, static_cast<unsigned char*>(hl_malloc(victim_size_)), victim_size_, 0x5a, false);
  }

  bool corrupted() const { return corrupted_; }

  void release_all() {
    for (Block& s : slots_)
      release(s);
  }

private:
  std::map<std::uintptr_t, std::size_t>::iterator pick_freed(std::uint8_t choice) {
    auto it = freed_.begin();
    std::advance(it, choice % freed_.size());
    return it;
  }

  // A corruption of 1-8 bytes at `at + offset`, `at` a free block: the op's bytes, or a planted
  // pointer (a live block, or a stack address) an attacker would want handed out.
  void write_into(unsigned char* at, std::size_t offset, const Op& op) {
    std::uint64_t value = op.value;
    std::size_t len = 1 + op.size % 8;
    if (op.a & 0x80) {
      len = 8;
      offset &= 8;
      const Block& live = slots_[op.b % kSlots];
      value = live.p != nullptr ? reinterpret_cast<std::uint64_t>(live.p)
                                : reinterpret_cast<std::uint64_t>(&value);
    }
    // Inside the free block's first 16 bytes (every block has them): a write past them could
    // reach a live neighbour, which is the overflow case, not this one.
    if (offset + len > 16) offset = 16 - len;
    auto it = freed_.find(reinterpret_cast<std::uintptr_t>(at));
    victim_size_ = it != freed_.end() ? it->second : 16;
    corrupted_ = true;
    std::memcpy(at + offset, &value, len);
  }

  void take(Block& s, unsigned char* p, std::size_t size, unsigned char fill, bool zeroed) {
    if (p == nullptr) fail(in_child_, "allocation failed", nullptr);
    const auto begin = reinterpret_cast<std::uintptr_t>(p);
    const std::size_t span = size == 0 ? 1 : size;
    // No overlap with a live block (a planted or doubly linked block would give one).
    auto next = live_.lower_bound(begin);
    if (next != live_.end() && next->first < begin + span)
      fail(in_child_, "overlaps a live block", p);
    if (next != live_.begin() && std::prev(next)->second > begin)
      fail(in_child_, "overlaps a live block", p);
    live_[begin] = begin + span;
    // Freed blocks this one covers are live again.
    for (auto it = freed_.lower_bound(begin); it != freed_.end() && it->first < begin + span;)
      it = freed_.erase(it);
    if (auto it = freed_.lower_bound(begin); it != freed_.begin()) {
      --it;
      if (it->first + it->second > begin) freed_.erase(it);
    }
    const std::size_t filled = std::min(size, kFillMax);
    if (zeroed)
      for (std::size_t i = 0; i < filled; ++i)
        if (p[i] != 0) fail(in_child_, "calloc block not zeroed", p);
    std::memset(p, fill, filled);
    s.p = p;
    s.size = size;
    s.fill = fill;
  }

  void check(const Block& s) {
    const std::size_t filled = std::min(s.size, kFillMax);
    for (std::size_t i = 0; i < filled; ++i)
      if (s.p[i] != s.fill) fail(in_child_, "a live block's contents changed", s.p);
  }

  void forget_live(const Block& s) { live_.erase(reinterpret_cast<std::uintptr_t>(s.p)); }

  void note_freed(unsigned char* p, std::size_t size) {
    if (size <= kSmallMax) freed_[reinterpret_cast<std::uintptr_t>(p)] = size;
  }

  void release(Block& s) {
    if (s.p == nullptr) return;
    check(s);
    forget_live(s);
    hl_free(s.p);
    note_freed(s.p, s.size);
    s.p = nullptr;
  }

  bool in_child_;
  Block slots_[kSlots];
  std::map<std::uintptr_t, std::uintptr_t> live_; // begin -> end
  std::map<std::uintptr_t, std::size_t> freed_;   // small blocks freed, not handed out since
  bool corrupted_ = false;
  std::size_t victim_size_ = 16;
};

// A child's exit status when a corruption was injected and the run ended without harm.
constexpr int kHarmless = 4;

// Runs with a corruption injected, and those the allocator stopped, printed at exit (the rest
// ended without harm: the corrupted block was not looked at again, or its superblock was
// reformatted or released).
struct Tally {
  unsigned long corrupted = 0;
  unsigned long stopped = 0;
  ~Tally() {
    if (corrupted != 0)
      std::fprintf(stderr,
                   "hardened_fuzz: %lu runs with a corruption, %lu stopped by the allocator, %lu "
                   "harmless\n",
                   corrupted, stopped, corrupted - stopped);
  }
} g_tally;

// The expected end of a corrupted run: the allocator's own line, then abort().
bool deliberate_abort(int status, const std::string& err) {
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
         err.find("hoardlab: ") != std::string::npos && err.find("; aborting") != std::string::npos;
}

void run_in_child(const std::vector<Op>& ops) {
  int fds[2];
  if (pipe(fds) != 0) std::abort();
  const pid_t pid = fork();
  if (pid < 0) std::abort();
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 2);
    // libFuzzer's handlers would report the child's abort as a crash of its own: the parent
    // judges the child by how it ended.
    for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE})
      signal(sig, SIG_DFL);
    Run run(true);
    for (const Op& op : ops)
      run.apply(op);
    run.drain();
    _exit(run.corrupted() ? kHarmless : 0);
  }
  close(fds[1]);
  std::string err;
  char buf[512];
  // Until EOF: a read interrupted by libFuzzer's timer (EINTR) is retried, or closing the pipe
  // early would kill a child still writing its report with SIGPIPE.
  for (ssize_t got; (got = read(fds[0], buf, sizeof buf)) != 0;) {
    if (got < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (err.size() < 4096) err.append(buf, static_cast<std::size_t>(got));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return; // no corruption took place
  ++g_tally.corrupted;
  if (WIFEXITED(status) && WEXITSTATUS(status) == kHarmless) return;
  if (deliberate_abort(status, err)) {
    ++g_tally.stopped;
    return;
  }
  std::fprintf(stderr,
               "hardened_fuzz: a corrupted run ended otherwise than by the allocator's "
               "abort (status %#x):\n%s\n",
               status, err.c_str());
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<Op> ops = parse(data, size);
  bool corrupts = false;
  for (const Op& op : ops)
    corrupts |= is_corruption(op.kind);
  if (corrupts) {
    run_in_child(ops);
    return 0;
  }
  Run run(false);
  for (const Op& op : ops)
    run.apply(op);
  run.release_all();
  return 0;
}

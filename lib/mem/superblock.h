// Superblocks: S-byte, S-aligned chunks of the small-object range, each holding blocks of one
// size class (Hoard §3). The header sits at a fixed offset from the superblock's start, so a
// block's header is (p & ~(S-1)) + kHeaderOffset. Layer: mem.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/atomic.h"
#include "core/intrusive_list.h"
#include "mem/free_link.h"

namespace hoardlab::mem {

struct Heap;

// What is known to be zero in a superblock's bump region [bump, end) (calloc skips the memset of
// such blocks): Z1: every byte past the header that no block handed out since the memory came
// from the OS has covered reads as zero. Fresh from the arena, or carved again after the whole
// superblock was purged (pool.cpp, "released"), everything past the header is zero (kZeroAll);
// reformatted after blocks were handed out, nothing is known (kZeroNone). A bump block lies above
// every block handed out before it, so Z1 holds for it while the state says so.
inline constexpr std::uint8_t kZeroNone = 0;
inline constexpr std::uint8_t kZeroAll = 1;

inline constexpr std::uint32_t kNoClass = 0xffffffffu;

// Where a superblock's header lies past the superblock's start. Default: at the start, the first
// block after it. Hardened: the first page is a guard (no access, pool.cpp) and the header follows
// it, so that a linear overflow from the previous superblock's last block faults on the guard
// before it reaches the header that every check trusts. A constant, so that superblock_of stays a
// mask and the header's fields are loaded at a fixed displacement: no instruction on the fast
// paths.
#ifdef HOARDLAB_HARDENED
inline constexpr std::size_t kHeaderOffset = 4096;
#else
inline constexpr std::size_t kHeaderOffset = 0;
#endif
// Alignments up to the large threshold are served by a class whose size they divide: the first
// block of a superblock is aligned to pow2_factor(block size) (SizeClasses::first_block_offset).

/// A superblock header.
///
/// Protocol:   the hot line is written only when the superblock is (re)formatted, which happens
///             only while it has no block outside its free list (used == 0); any thread holding a
///             block of it may read it. The owner line is read and written only by the thread that
///             holds the owning heap (or that just popped the superblock from the pool). Any thread
///             pushes freed blocks onto remote_head; the owner takes the whole list.
/// Invariants: (S1) used = |blocks handed out| = live + in thread caches + in remote_head;
///             used + |free_list| + (end - bump)/block_size == capacity.
///             (S2) owner == nullptr  <=>  the superblock is in its node's pool.
///             (S3) in_pending: see remote.cpp's N1-N3 (set while sb is on its owner's pending
///             stack or a claim on it is being pushed or given back; never while it is pooled).
/// Ordering:   [RF1] a remote push's CAS is acq_rel, publishing the chain's links; [RF2] the
///             owner's exchange is acq_rel and pairs with [RF1]. [OW1] owner is stored release
///             by the heap that hands the superblock on, after draining; [OW2] readers load it
///             acquire. remote_head and in_pending: the handshake in remote.cpp ([RF1], [RF2],
///             [AD1], [PN1]-[PN3], [GV1]/[GV2]); every write of in_pending is an RMW. [RL1] a
///             release to the arena (pool.cpp) loads in_pending acquire: a superblock still
///             claimed, whose header may be linked on a pending stack, is not purged.
/// ABA:        remote_head is only pushed to and emptied whole by exchange, never popped one
///             at a time, so no ABA is possible and no popper reads a block a user may write.
struct alignas(64) Superblock {
  // ---- hot line: read by every free ----
  std::uint32_t cls = kNoClass;
  std::uint32_t block_size = 0;
  std::uint32_t capacity = 0;
  std::uint32_t node = 0;
  std::uint32_t first_offset = 0;
  std::uint32_t span = 0;        // capacity * block_size: the bytes the blocks cover
  std::uint64_t block_magic = 0; // ceil(2^64 / block_size): is_block_start's divisibility test
  core::Atomic<Heap*> owner{nullptr};

  // ---- owner line: guarded by the owning heap ----
  alignas(64) core::ListNode link;
  void* free_list = nullptr;
  char* bump = nullptr;
  char* end = nullptr;
  std::uint32_t used = 0;
  std::uint16_t group = 0;
  std::uint8_t zero_state = kZeroAll;       // which never-used bump blocks read as zero (Z1)
  std::uint8_t on_huge = 0;                 // its 2 MiB range may be a huge page (pool.cpp, H1)
  std::uint64_t empty_since_ms = 0;         // when it entered its pool empty (purge.delay_ms)
  core::Atomic<std::uint32_t> pool_next{0}; // [TS3] pool stack link: index of the one below

  // ---- remote line: written by any thread ----
  alignas(64) core::Atomic<void*> remote_head{nullptr};
  core::Atomic<Superblock*> pending_next{nullptr};
  core::Atomic<bool> in_pending{false};

  static Superblock* of_link(core::ListNode* n) noexcept {
    return reinterpret_cast<Superblock*>(reinterpret_cast<char*>(n) - offsetof(Superblock, link));
  }
  // The superblock's start, where first_offset counts from (the header lies kHeaderOffset past
  // it). Counting from the start rather than the header keeps is_block_start to the default
  // build's instructions: this - kHeaderOffset folds back into the mask of superblock_of.
  char* base() noexcept { return reinterpret_cast<char*>(this) - kHeaderOffset; }
  const char* base() const noexcept { return reinterpret_cast<const char*>(this) - kHeaderOffset; }
  // A block about to be taken from the bump region reads as zero (Z1).
  bool bump_block_is_zero() const noexcept { return zero_state == kZeroAll; }

  // A header in memory that was purged whole (it reads as zero) and is carved again: every field
  // back to its initial value, as the constructor would set it, but the fields a stale reader may
  // still load are stored atomically, not constructed: a pool pop that read this superblock as
  // the stack's top before it left the pool loads pool_next [TS3] (its CAS then fails on the
  // tag), and a drain_pending that cleared in_pending [PN2] may still load owner and remote_head.
  void reinit(std::uint32_t on_node) noexcept {
    cls = kNoClass;
    block_size = 0;
    capacity = 0;
    node = on_node;
    first_offset = 0;
    span = 0;
    block_magic = 0;
    owner.store_relaxed(nullptr);
    link = core::ListNode{};
    free_list = nullptr;
    bump = nullptr;
    end = nullptr;
    used = 0;
    group = 0;
    zero_state = kZeroAll;
    on_huge = 0; // its range was taken off huge pages when it was released (pool.cpp, H1)
    empty_since_ms = 0;
    pool_next.store_relaxed(0);
    remote_head.store_relaxed(nullptr);
    pending_next.store_relaxed(nullptr);
    in_pending.store_relaxed(false);
  }
  // The blocks' geometry, set when the superblock is formatted: `capacity` blocks of `size` bytes
  // from `first` bytes past the superblock's start (base()).
  void set_geometry(std::uint32_t size, std::uint32_t count, std::uint32_t first) noexcept {
    block_size = size;
    block_magic = ~std::uint64_t{0} / size + 1; // ceil(2^64 / size); size >= 16
    capacity = count;
    first_offset = first;
    span = count * size;
  }
  bool has_free() const noexcept { return free_list != nullptr || bump < end; }

  // Whether q is the start of one of this superblock's blocks. O(1), one multiplication: for an
  // offset n < 2^32 (n < span <= S <= 4 MiB) and c = ceil(2^64 / d), d divides n exactly when
  // n * c mod 2^64 < c (Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019,
  // the divisibility test). An unformatted header has span 0 and c 0: nothing passes.
  bool is_block_start(const void* q) const noexcept {
    const std::uint64_t offset = reinterpret_cast<std::uintptr_t>(q) -
                                 reinterpret_cast<std::uintptr_t>(base()) - first_offset;
    return offset < span && offset * block_magic < block_magic;
  }

  // The link of `at`, a free block of this superblock (its free list or remote list). Hardened: a
  // link that is neither null nor a block of this superblock aborts with a report.
  void* next_local(const void* at) const noexcept {
    void* q = load_link(at);
#ifdef HOARDLAB_HARDENED
    if (q != nullptr && !is_block_start(q)) [[unlikely]]
      report_bad_link(at, q, "a block of the same superblock");
#endif
    return q;
  }

  // The owner takes one block; nullptr when none is left locally.
  void* take_block() noexcept {
    void* p = free_list;
    if (p != nullptr) {
      free_list = next_local(p);
      mark_in_use(p);
    } else if (bump < end) {
      p = bump;
      bump += block_size;
      if (zero_state != kZeroAll) mark_in_use(p); // reused memory may hold an old check word
    } else {
      return nullptr;
    }
    ++used;
    return p;
  }
  void put_block(void* p) noexcept {
    store_link(p, free_list);
    free_list = p;
    --used;
  }

  // The owner takes up to `want` blocks (want >= 1) onto *chain (linked through their first
  // word), the free list first, then the bump region; returns how many. A refill's batch in one
  // call: the free list's prefix is cut off whole (one store, not one per block) and `used`
  // moves once.
  std::size_t take_blocks(std::size_t want, void** chain) noexcept {
    std::size_t got = 0;
    void* c = *chain;
    if (void* first = free_list; first != nullptr) {
      void* last = first;
      got = 1;
      for (void* next; got < want && (next = next_local(last)) != nullptr; ++got)
        last = next;
      free_list = next_local(last);
      store_link(last, c);
      c = first;
    }
#ifdef HOARDLAB_HARDENED
    got += take_bump_shuffled(want - got, &c);
#else
    for (; got < want && bump < end; ++got) {
      store_link(bump, c);
      c = bump;
      bump += block_size;
    }
#endif
    used += static_cast<std::uint32_t>(got);
    *chain = c;
    return got;
  }

#ifdef HOARDLAB_HARDENED
  // Up to `want` blocks of the bump region onto *chain in a shuffled order (hardened): the n
  // blocks taken are linked in the order (r + i*step) mod n, with r and step (coprime to n) drawn
  // from the region's address hashed with the link key, so that the block after a given one is
  // not its neighbour in memory. An affine permutation, not a uniform one: it takes no state and
  // no memory, and an attacker who does not know the key does not know it.
  std::size_t take_bump_shuffled(std::size_t want, void** chain) noexcept {
    const std::size_t left = static_cast<std::size_t>(end - bump) / block_size;
    const std::size_t n = want < left ? want : left;
    if (n == 0) return 0;
    std::uint64_t h =
        (reinterpret_cast<std::uintptr_t>(bump) ^ g_link_keys.mark) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    const std::size_t r = static_cast<std::size_t>(h % n);
    std::size_t step = static_cast<std::size_t>((h >> 32) % n) | 1u;
    while (gcd(step, n) != 1)
      ++step;
    void* c = *chain;
    for (std::size_t i = 0; i < n; ++i) {
      char* p = bump + ((r + i * step) % n) * block_size;
      store_link(p, c);
      c = p;
    }
    bump += n * block_size;
    *chain = c;
    return n;
  }
  static std::size_t gcd(std::size_t a, std::size_t b) noexcept {
    while (b != 0) {
      const std::size_t t = a % b;
      a = b;
      b = t;
    }
    return a;
  }
#endif

  // The owner puts back n blocks linked from first to last (last's link is overwritten).
  void put_blocks(void* first, void* last, std::size_t n) noexcept {
    store_link(last, free_list);
    free_list = first;
    used -= static_cast<std::uint32_t>(n);
  }
};

static_assert(sizeof(Superblock) <= 256, "the header must leave room for blocks");

} // namespace hoardlab::mem

// Run under `prlimit --as=BYTES`: allocation must fail cleanly (NULL and ENOMEM, bad_alloc from
// new), never crash, and memory freed after a failure must be usable again. Small allocations
// must work at all, which needs the allocator to shrink its address-space reservation when
// RLIMIT_AS refuses the full one.
// Usage: dropin_address_limit LIMIT_MIB. Prints "ok ..." and exits 0; otherwise names the step.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

namespace {

int fail(const char* step) {
  std::printf("FAILED: %s (errno %d)\n", step, errno);
  return 1;
}

// A list threaded through the blocks themselves: the bookkeeping must not allocate.
struct Node {
  Node* next;
};

std::size_t fill_until_failure(std::size_t block, std::size_t cap_bytes, Node*& head, int& err) {
  std::size_t bytes = 0;
  err = 0;
  while (bytes < cap_bytes) {
    errno = 0;
    void* p = std::malloc(block);
    if (p == nullptr) {
      err = errno;
      break;
    }
    std::memset(p, 0xab, block < 4096 ? block : 4096);
    auto* n = static_cast<Node*>(p);
    n->next = head;
    head = n;
    bytes += block;
  }
  return bytes;
}

void release(Node*& head) {
  while (head != nullptr) {
    Node* next = head->next;
    std::free(head);
    head = next;
  }
}

} // namespace

int main(int argc, char** argv) {
  const std::size_t limit_mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 256;
  const std::size_t limit = limit_mib << 20;

  void* small = std::malloc(100);
  if (small == nullptr) return fail("a 100-byte malloc under the address-space limit");
  std::free(small);

  errno = 0;
  if (std::malloc(2 * limit) != nullptr) return fail("malloc(2 x limit) succeeded");
  if (errno != ENOMEM) return fail("malloc(2 x limit) did not set ENOMEM");
  errno = 0;
  if (std::calloc(limit / 8, 16) != nullptr) return fail("calloc(2 x limit) succeeded");
  if (errno != ENOMEM) return fail("calloc(2 x limit) did not set ENOMEM");

  bool threw = false;
  try {
    volatile std::size_t n = 2 * limit;
    void* p = ::operator new(n);
    ::operator delete(p);
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  if (!threw) return fail("operator new(2 x limit) did not throw bad_alloc");

  // Large blocks until the limit refuses one.
  Node* big = nullptr;
  int err = 0;
  const std::size_t big_bytes = fill_until_failure(1 << 20, 2 * limit, big, err);
  if (err != ENOMEM) return fail("1 MiB blocks: the failing malloc did not set ENOMEM");
  if (big_bytes < limit / 8) return fail("1 MiB blocks: failed with most of the limit unused");

  // While exhausted: realloc that cannot grow keeps the block.
  void* keep = nullptr;
  for (int i = 0; i < 64 && keep == nullptr; ++i) {
    Node* n = big;
    if (n == nullptr) break;
    big = n->next;
    std::free(n);
    keep = std::malloc(1000);
  }
  if (keep != nullptr) {
    std::memset(keep, 0x11, 1000);
    errno = 0;
    void* grown = std::realloc(keep, 4 * limit);
    if (grown != nullptr) return fail("realloc to 4 x limit succeeded");
    if (errno != ENOMEM) return fail("failed realloc did not set ENOMEM");
    for (int i = 0; i < 1000; ++i)
      if (static_cast<unsigned char*>(keep)[i] != 0x11) return fail("failed realloc lost data");
    std::free(keep);
  }
  release(big);

  // Small blocks until the limit refuses one (the small-object path's own failure).
  Node* smalls = nullptr;
  const std::size_t small_bytes = fill_until_failure(64, 2 * limit, smalls, err);
  if (err != ENOMEM) return fail("64-byte blocks: the failing malloc did not set ENOMEM");
  if (small_bytes < limit / 8) return fail("64-byte blocks: failed with most of the limit unused");
  release(smalls);

  // The small blocks were freed: allocating them again must work. (Whether freed small-object
  // memory can serve a large block under RLIMIT_AS depends on the design: allocators that keep
  // their address space reserved, as jemalloc with opt.retain and hoardlab with its pool do,
  // cannot; so only the same kind of allocation is required to succeed again.)
  Node* again = nullptr;
  const std::size_t again_bytes = fill_until_failure(64, small_bytes / 2, again, err);
  if (again_bytes < small_bytes / 2) return fail("after freeing, small allocation still fails");
  release(again);

  std::printf("ok limit_mib=%zu big_mib=%zu small_mib=%zu\n", limit_mib, big_bytes >> 20,
              small_bytes >> 20);
  return 0;
}

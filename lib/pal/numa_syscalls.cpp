// Raw-syscall wrappers for NUMA memory policy (see numa_syscalls.h for why not libnuma).
#include "pal/numa_syscalls.h"

#include <cerrno>
#include <cstdint>
#include <sys/syscall.h>
#include <unistd.h>

namespace hoardlab::pal {
namespace {

constexpr int kMpolFNode = 1 << 0; // MPOL_F_NODE
constexpr int kMpolFAddr = 1 << 1; // MPOL_F_ADDR
constexpr int kBitsPerWord = 64;
constexpr int kMaskWords = kMaxOsNodes / kBitsPerWord;

// One node as a kernel nodemask. The mask lives on the caller's stack (128 bytes): no
// allocation, and callers on different threads never share it.
struct NodeMask {
  std::uint64_t words[kMaskWords] = {};
};

// errno is preserved: these run inside malloc, whose callers may be inspecting errno.
long raw_syscall_result(long r, int saved_errno) noexcept {
  const long result = r < 0 ? -static_cast<long>(errno) : r;
  errno = saved_errno;
  return result;
}

} // namespace

int bind_range(void* addr, std::size_t bytes, MemPolicy mode, int os_node) noexcept {
  const int saved = errno;
  NodeMask mask;
  const bool needs_node = mode != MemPolicy::kDefault && mode != MemPolicy::kLocal;
  if (needs_node) {
    if (os_node < 0 || os_node >= kMaxOsNodes) return -EINVAL;
    mask.words[os_node / kBitsPerWord] = std::uint64_t{1} << (os_node % kBitsPerWord);
  }
  // maxnode is the mask's bit count; the kernel reads maxnode-1 bits (an old off-by-one kept
  // for compatibility), so pass one more than the bits in use.
  const long r =
      syscall(SYS_mbind, addr, bytes, static_cast<int>(mode), needs_node ? mask.words : nullptr,
              needs_node ? static_cast<unsigned long>(kMaxOsNodes) + 1 : 0UL, 0U);
  return static_cast<int>(raw_syscall_result(r, saved));
}

int page_node(const void* addr) noexcept {
  const int saved = errno;
  int node = -1;
  const long r = syscall(SYS_get_mempolicy, &node, nullptr, 0UL, addr, kMpolFNode | kMpolFAddr);
  const long result = raw_syscall_result(r, saved);
  return result < 0 ? static_cast<int>(result) : node;
}

int range_policy(const void* addr, MemPolicy* mode, int* first_node) noexcept {
  const int saved = errno;
  int raw_mode = 0;
  NodeMask mask;
  const long r = syscall(SYS_get_mempolicy, &raw_mode, mask.words,
                         static_cast<unsigned long>(kMaxOsNodes), addr, kMpolFAddr);
  const long result = raw_syscall_result(r, saved);
  if (result < 0) return static_cast<int>(result);
  // The mode word carries flags (MPOL_F_STATIC_NODES...) in its high bits.
  if (mode != nullptr) *mode = static_cast<MemPolicy>(raw_mode & 0xff);
  if (first_node != nullptr) {
    *first_node = -1;
    for (int w = 0; w < kMaskWords && *first_node < 0; ++w)
      if (mask.words[w] != 0) *first_node = w * kBitsPerWord + __builtin_ctzll(mask.words[w]);
  }
  return 0;
}

int set_thread_policy(MemPolicy mode, int os_node) noexcept {
  const int saved = errno;
  NodeMask mask;
  const bool needs_node = mode != MemPolicy::kDefault && mode != MemPolicy::kLocal;
  if (needs_node) {
    if (os_node < 0 || os_node >= kMaxOsNodes) return -EINVAL;
    mask.words[os_node / kBitsPerWord] = std::uint64_t{1} << (os_node % kBitsPerWord);
  }
  const long r =
      syscall(SYS_set_mempolicy, static_cast<int>(mode), needs_node ? mask.words : nullptr,
              needs_node ? static_cast<unsigned long>(kMaxOsNodes) + 1 : 0UL);
  return static_cast<int>(raw_syscall_result(r, saved));
}

} // namespace hoardlab::pal

// Asymmetric fences over membarrier(2) (asymmetric_fence.h).
#include "pal/asymmetric_fence.h"

#include <cerrno>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace hoardlab::pal {

namespace detail {
constinit core::Atomic<bool> g_expedited_membarrier{false};
} // namespace detail

namespace {

long membarrier(int command) noexcept {
  return syscall(SYS_membarrier, command, 0U, 0);
}

} // namespace

bool init_asymmetric_fences() noexcept {
  if (detail::g_expedited_membarrier.load_relaxed()) return true;
  const int saved = errno;
  const long supported = membarrier(MEMBARRIER_CMD_QUERY);
  const bool ok = supported > 0 && (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
                  membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
  errno = saved;
  // Published by init's release of kStateReady, which every user of the fences acquires.
  detail::g_expedited_membarrier.store_relaxed(ok);
  return ok;
}

bool heavy_fence() noexcept {
  if (!detail::g_expedited_membarrier.load_relaxed()) {
    core::fence_seq_cst(); // [AF2] the fallback pairs with the light side's seq_cst fence
    return true;
  }
  const int saved = errno;
  const bool ok = membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0; // [AF2]
  errno = saved;
  return ok;
}

} // namespace hoardlab::pal

// A C++ library that a C host dlopens RTLD_LOCAL (dropin_c_program): its operator new is the
// preloaded shim's, while its C++ runtime is in the library's local scope only. Each probe
// returns 1 when operator new failed as the standard says.
#include <cstddef>
#include <cstdint>
#include <new>

namespace {
std::size_t opaque(std::size_t v) {
  volatile std::size_t x = v;
  return x;
}
} // namespace

extern "C" __attribute__((visibility("default"))) int dropin_new_throws_bad_alloc() {
  try {
    void* p = ::operator new(opaque(SIZE_MAX - 4096));
    ::operator delete(p);
  } catch (const std::bad_alloc&) {
    return 1;
  }
  return 0;
}

extern "C" __attribute__((visibility("default"))) int dropin_nothrow_new_returns_null() {
  return ::operator new(opaque(SIZE_MAX - 4096), std::nothrow) ==
         nullptr&& ::operator new[](opaque(SIZE_MAX - 4096), std::align_val_t{64}, std::nothrow) ==
         nullptr;
}

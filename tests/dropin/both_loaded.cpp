// Linked against libhoardlab.so and run with libhoardlab-malloc.so preloaded: both libraries
// are in the process and both define hl_*, yet there must be one allocator. The preloaded shim
// comes first in the dynamic linker's search order, so every reference to malloc and to hl_*
// from the program and its libraries binds to the shim's definitions; libhoardlab.so's copy of
// the allocator is never entered. This program checks that from the outside.
// Prints "ok" and exits 0, or names the failing check.
#include "hoardlab/hoardlab.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>

namespace {

int fail(const char* what) {
  std::printf("FAILED: %s\n", what);
  return 1;
}

const char* object_of(void* address) {
  Dl_info info{};
  if (address == nullptr || dladdr(address, &info) == 0 || info.dli_fname == nullptr) return "?";
  return info.dli_fname;
}

} // namespace

int main() {
  const char* malloc_from = object_of(dlsym(RTLD_DEFAULT, "malloc"));
  const char* hl_from = object_of(reinterpret_cast<void*>(&hl_malloc));
  std::printf("malloc from %s\nhl_malloc from %s\n", malloc_from, hl_from);
  if (std::strcmp(malloc_from, hl_from) != 0) return fail("malloc and hl_malloc differ");

  // Blocks cross freely between the two APIs: one allocator.
  void* a = hl_malloc(100);
  void* b = std::malloc(100);
  if (a == nullptr || b == nullptr) return fail("allocation");
  if (hl_owns(b) != 1) return fail("hl_owns does not know malloc's block");
  std::free(a);
  hl_free(b);

  hl_stats before{}, after{};
  hl_stats_get(&before);
  void* blocks[1000];
  for (auto& p : blocks)
    p = std::malloc(64);
  hl_stats_get(&after);
  for (auto& p : blocks)
    std::free(p);
  if (after.allocations < before.allocations + 1000)
    return fail("malloc's allocations are not in hl_stats: two instances");
  std::printf("ok\n");
  return 0;
}

// A plugin linked against libhoardlab-malloc.so, dlopened with RTLD_DEEPBIND by a host that
// already allocated with glibc: inside the plugin, malloc and free are hoardlab's, so the
// host's glibc blocks reach hoardlab's free, realloc and malloc_usable_size.
#include "hoardlab/hoardlab.h"

#include <cstdlib>
#include <dlfcn.h>
#include <malloc.h>

#define PLUGIN_API extern "C" __attribute__((visibility("default")))

// The object `malloc` resolves to for this plugin.
PLUGIN_API const char* plugin_malloc_object() {
  Dl_info info{};
  void* (*self_malloc)(std::size_t) = &malloc;
  if (dladdr(reinterpret_cast<void*>(self_malloc), &info) == 0 || info.dli_fname == nullptr)
    return "?";
  return info.dli_fname;
}
PLUGIN_API void plugin_free(void* p) {
  free(p);
}
PLUGIN_API void* plugin_realloc(void* p, std::size_t n) {
  return realloc(p, n);
}
PLUGIN_API std::size_t plugin_usable_size(void* p) {
  return malloc_usable_size(p);
}
PLUGIN_API void* plugin_malloc(std::size_t n) {
  return malloc(n);
}
PLUGIN_API int plugin_owns(const void* p) {
  return hl_owns(p);
}

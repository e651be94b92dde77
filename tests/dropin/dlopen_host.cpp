// Allocates with glibc's malloc, then dlopens a plugin linked against the shim with
// RTLD_DEEPBIND and frees across the boundary: glibc blocks freed, reallocated and measured
// by the plugin (hence by hoardlab, which must hand them back to glibc), hoardlab blocks
// made and freed by the plugin, and a pointer that belongs to neither, which must be left alone.
// Usage: dropin_dlopen_host PLUGIN. Prints "ok ..." and exits 0, or names the failing step.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <malloc.h>
#include <thread>
#include <vector>

namespace {

int fail(const char* step) {
  std::printf("FAILED: %s\n", step);
  return 1;
}

template <typename F>
F symbol(void* handle, const char* name) {
  return reinterpret_cast<F>(dlsym(handle, name));
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) return fail("usage: dropin_dlopen_host PLUGIN");
  // glibc blocks of every kind: small (tcache/fastbin sizes), medium, and mmapped (> 128 KiB).
  const std::size_t sizes[] = {8, 24, 100, 1000, 5000, 70000, 300000, 2 << 20};
  std::vector<unsigned char*> blocks;
  std::vector<std::size_t> glibc_usable;
  for (int round = 0; round < 4; ++round)
    for (std::size_t n : sizes) {
      auto* p = static_cast<unsigned char*>(std::malloc(n));
      if (p == nullptr) return fail("glibc malloc");
      for (std::size_t i = 0; i < n; ++i)
        p[i] = static_cast<unsigned char>(i * 7);
      blocks.push_back(p);
      glibc_usable.push_back(malloc_usable_size(p));
    }

  // Blocks from a second thread live in a glibc arena of their own (NON_MAIN_ARENA chunks,
  // in a 64 MiB-aligned heap), which hoardlab must recognise as well.
  const std::size_t main_arena_blocks = blocks.size();
  std::thread([&] {
    for (std::size_t n : sizes) {
      auto* p = static_cast<unsigned char*>(std::malloc(n));
      if (p == nullptr) continue;
      for (std::size_t i = 0; i < n; ++i)
        p[i] = static_cast<unsigned char>(i * 7);
      blocks.push_back(p);
      glibc_usable.push_back(malloc_usable_size(p));
    }
  }).join();
  if (blocks.size() != main_arena_blocks + sizeof(sizes) / sizeof(sizes[0]))
    return fail("glibc malloc in a second thread");

  void* plugin = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (plugin == nullptr) {
    std::printf("FAILED: dlopen: %s\n", dlerror());
    return 1;
  }
  auto p_object = symbol<const char* (*)()>(plugin, "plugin_malloc_object");
  auto p_free = symbol<void (*)(void*)>(plugin, "plugin_free");
  auto p_realloc = symbol<void* (*)(void*, std::size_t)>(plugin, "plugin_realloc");
  auto p_usable = symbol<std::size_t (*)(void*)>(plugin, "plugin_usable_size");
  auto p_malloc = symbol<void* (*)(std::size_t)>(plugin, "plugin_malloc");
  auto p_owns = symbol<int (*)(const void*)>(plugin, "plugin_owns");
  if (!p_object || !p_free || !p_realloc || !p_usable || !p_malloc || !p_owns)
    return fail("plugin symbols");
  std::printf("plugin malloc from %s\n", p_object());

  // The plugin's own blocks are hoardlab's; glibc's are not.
  void* mine = p_malloc(333);
  if (mine == nullptr || p_owns(mine) != 1) return fail("plugin malloc is not hoardlab's");
  if (p_owns(blocks[0]) != 0) return fail("hoardlab claims a glibc block");
  p_free(mine);

  std::size_t freed = 0, reallocated = 0;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const std::size_t n = sizes[i % (sizeof(sizes) / sizeof(sizes[0]))];
    if (p_usable(blocks[i]) != glibc_usable[i]) {
      std::printf("FAILED: usable size of a glibc block of %zu: plugin says %zu, glibc %zu\n", n,
                  p_usable(blocks[i]), glibc_usable[i]);
      return 1;
    }
    if (i % 2 == 0) {
      errno = 4242;
      p_free(blocks[i]); // back to glibc through hoardlab's free
      if (errno != 4242) return fail("free of a glibc block changed errno");
      ++freed;
      continue;
    }
    auto* q = static_cast<unsigned char*>(p_realloc(blocks[i], 2 * n + 10));
    if (q == nullptr) return fail("plugin realloc of a glibc block");
    for (std::size_t k = 0; k < n; ++k)
      if (q[k] != static_cast<unsigned char>(k * 7)) return fail("realloc lost the contents");
    ++reallocated;
    // glibc's realloc returned a glibc block: the host frees it with glibc.
    std::free(q);
  }

  // A pointer that is neither hoardlab's nor glibc's: reported once, never written to.
  static unsigned char not_a_heap_block[256];
  std::memset(not_a_heap_block, 0x3c, sizeof(not_a_heap_block));
  errno = 4343;
  p_free(not_a_heap_block + 64);
  if (errno != 4343) return fail("free of an unknown pointer changed errno");
  p_free(not_a_heap_block + 128);
  if (p_usable(not_a_heap_block + 64) != 0) return fail("usable size of a foreign pointer");
  for (unsigned char c : not_a_heap_block)
    if (c != 0x3c) return fail("a foreign pointer was written to");

  // glibc still works after all of this.
  void* after = std::malloc(4096);
  if (after == nullptr) return fail("glibc malloc afterwards");
  std::free(after);
  dlclose(plugin);
  std::printf("ok freed=%zu reallocated=%zu\n", freed, reallocated);
  return 0;
}

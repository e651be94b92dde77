/* A C program, run with the malloc under test preloaded: malloc, calloc, realloc and free work,
 * and no C++ runtime (libstdc++, or libm and libgcc_s that come with it) is mapped, since
 * nothing here is C++. Prints "ok" and one line per loaded object, or "FAILED: ...".
 * Usage: dropin_c_program [dlopen PLUGIN | new-without-runtime]. With a plugin: dlopens it
 * RTLD_LOCAL (as Python loads an extension) and calls its `dropin_new_throws_bad_alloc` and
 * `dropin_nothrow_new_returns_null`, which test operator new's failure from C++ code whose
 * runtime is in a local scope only. new-without-runtime: calls the malloc's `operator new`
 * (_Znwm) with an impossible size from C, with no C++ runtime loaded to throw from. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed(const char* step) {
  printf("FAILED: %s\n", step);
  return 1;
}

struct mapped {
  int cxx_runtime;
};

static int note_object(struct dl_phdr_info* info, size_t size, void* data) {
  (void)size;
  struct mapped* seen = (struct mapped*)data;
  const char* name = info->dlpi_name;
  printf("object %s\n", name[0] != '\0' ? name : "(main)");
  if (strstr(name, "libstdc++") != NULL || strstr(name, "libgcc_s") != NULL ||
      strstr(name, "libm.so") != NULL)
    seen->cxx_runtime = 1;
  return 0;
}

typedef int (*probe_fn)(void);

static int run_plugin(const char* path) {
  void* plugin = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (plugin == NULL) {
    printf("FAILED: dlopen %s: %s\n", path, dlerror());
    return 1;
  }
  /* The premise: the runtime the plugin brought is in its local scope only. */
  printf("runtime in the global scope: %s\n",
         dlsym(RTLD_DEFAULT, "_ZSt17__throw_bad_allocv") != NULL ? "yes" : "no");
  probe_fn throws = (probe_fn)dlsym(plugin, "dropin_new_throws_bad_alloc");
  probe_fn nothrow = (probe_fn)dlsym(plugin, "dropin_nothrow_new_returns_null");
  if (throws == NULL || nothrow == NULL) return failed("the plugin's probes are missing");
  if (!throws()) return failed("the plugin's operator new did not throw a catchable bad_alloc");
  if (!nothrow()) return failed("the plugin's nothrow operator new did not return null");
  return 0;
}

int main(int argc, char** argv) {
  char* p = malloc(100);
  if (p == NULL) return failed("malloc(100)");
  memset(p, 'x', 100);
  char* q = realloc(p, 100000);
  if (q == NULL || q[99] != 'x') return failed("realloc to 100000 kept the data");
  int* z = calloc(1000, sizeof(int));
  if (z == NULL || z[999] != 0) return failed("calloc");
  free(z);
  free(q);

  struct mapped seen = {0};
  dl_iterate_phdr(note_object, &seen);
  if (seen.cxx_runtime) return failed("a C++ runtime is mapped in a C program");

  if (argc == 3 && strcmp(argv[1], "dlopen") == 0 && run_plugin(argv[2]) != 0) return 1;
  if (argc == 2 && strcmp(argv[1], "new-without-runtime") == 0) {
    typedef void* (*new_fn)(size_t);
    new_fn new_bytes = (new_fn)dlsym(RTLD_DEFAULT, "_Znwm");
    if (new_bytes == NULL) return failed("no operator new to call");
    fflush(stdout);
    new_bytes((size_t)-1 - 4096);
    return failed("operator new returned");
  }
  printf("ok\n");
  return 0;
}

/* Preloaded after the malloc under test: when a process exits normally it appends one line to
 * $HOARDLAB_DROPIN_PROBE_FILE saying which object `malloc` resolves into and, when that object
 * has hoardlab's statistics, how many allocations it served. That line is the proof that the
 * allocator was active in a program whose output a test compares.
 * Written with open/write only, so the probe itself does not allocate. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hoardlab/hoardlab.h"

typedef void (*stats_get_fn)(hl_stats*);

/* The object whose malloc the dynamic linker binds to: the first loaded object, in search
 * order, that defines malloc itself. dlsym(RTLD_DEFAULT) is not enough: an executable that
 * takes malloc's address exports a canonical PLT entry named malloc. */
struct malloc_search {
  int index;
  char found[1024];
};

static int find_malloc_definer(struct dl_phdr_info* info, size_t size, void* data) {
  (void)size;
  struct malloc_search* search = (struct malloc_search*)data;
  if (search->index++ == 0 || info->dlpi_name == NULL || info->dlpi_name[0] == '\0') return 0;
  void* handle = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
  if (handle == NULL) return 0;
  void* sym = dlsym(handle, "malloc");
  Dl_info where;
  memset(&where, 0, sizeof(where));
  int defines = sym != NULL && dladdr(sym, &where) != 0 && where.dli_fname != NULL &&
                strcmp(where.dli_fname, info->dlpi_name) == 0;
  dlclose(handle);
  if (!defines) return 0;
  snprintf(search->found, sizeof(search->found), "%s", info->dlpi_name);
  return 1;
}

__attribute__((destructor)) static void dropin_probe_record(void) {
  const char* file = getenv("HOARDLAB_DROPIN_PROBE_FILE");
  if (file == NULL || *file == '\0') return;
  struct malloc_search search;
  memset(&search, 0, sizeof(search));
  const char* from = "?";
  if (dl_iterate_phdr(find_malloc_definer, &search) != 0) from = search.found;
  long long allocations = -1, held = -1;
  stats_get_fn get = (stats_get_fn)dlsym(RTLD_DEFAULT, "hl_stats_get");
  if (get != NULL) {
    hl_stats s;
    memset(&s, 0, sizeof(s));
    get(&s);
    allocations = (long long)s.allocations;
    held = (long long)s.bytes_held;
  }
  char line[4096];
  int n = snprintf(line, sizeof(line), "pid=%ld malloc_from=%s allocations=%lld bytes_held=%lld\n",
                   (long)getpid(), from, allocations, held);
  if (n <= 0) return;
  if ((size_t)n >= sizeof(line)) n = (int)sizeof(line) - 1;
  int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ssize_t ignored = write(fd, line, (size_t)n);
  (void)ignored;
  close(fd);
}

/* An address in the small-object range that was reserved but never committed: the PROT_NONE
 * mapping right above the read-write mapping that holds a small block (hoardlab commits its
 * range front to back). Small blocks are allocated until one exists (a step of the range larger
 * than the commit chunk), up to 64 MiB; NULL when none appeared (another allocator; the
 * program then exits 5, so that a test cannot pass without the misuse). */
#ifndef MISUSE_UNCOMMITTED_H
#define MISUSE_UNCOMMITTED_H

#include <fcntl.h>

#include "misuse.h"

static char maps_text[1 << 20];

/* The start of the no-access mapping, larger than a page, that begins where the mappings
 * contiguous with the one holding p end; 0 if none. */
static uintptr_t no_access_above(const void* p) {
  int fd = open("/proc/self/maps", O_RDONLY);
  if (fd < 0) return 0;
  size_t n = 0;
  ssize_t r;
  while (n < sizeof maps_text - 1 && (r = read(fd, maps_text + n, sizeof maps_text - 1 - n)) > 0)
    n += (size_t)r;
  close(fd);
  maps_text[n] = 0;
  uintptr_t holder_end = 0;
  for (char* line = maps_text; *line != 0;) {
    char* next = strchr(line, '\n');
    if (next != NULL) *next = 0;
    unsigned long lo = 0, hi = 0;
    char perms[5] = {0};
    if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3) {
      if (holder_end != 0) {
        if (lo != holder_end) return 0;
        /* A one-page no-access mapping is a guard page before a carved superblock's header (the
         * hardened build); the mappings go on, contiguous, to the uncommitted part. */
        if (strcmp(perms, "---p") == 0 && hi - lo > 4096) return lo;
        holder_end = hi;
      } else if ((uintptr_t)p >= lo && (uintptr_t)p < hi)
        holder_end = hi;
    }
    if (next == NULL) break;
    line = next + 1;
  }
  return 0;
}

__attribute__((unused)) static char* uncommitted_small_address(void) {
  for (int mib = 0; mib < 64; ++mib) {
    void* last = NULL;
    for (int i = 0; i < 1024; ++i)
      last = malloc(1000);
    uintptr_t a = no_access_above(last);
    if (a != 0) return (char*)a + 4096 + 64;
  }
  return NULL;
}

#endif

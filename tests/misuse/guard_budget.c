/* Run with the hardened library preloaded and HOARDLAB_HEAP_SUPERBLOCK_SIZE=16KiB: carves a
 * superblock per 8 KiB malloc (one block each) until past the guard-page budget, a quarter of
 * vm.max_map_count; every malloc must still succeed once the guards stop, and the mappings must
 * stay within the budget (two per guarded superblock). Exits 0 when both hold, 77 (skipped) when
 * the map count is too large for a short test. The caller checks the one stderr line. */
#include <stdio.h>
#include <stdlib.h>

static long read_long(const char* path) {
  FILE* f = fopen(path, "r");
  long v = 0;
  if (f == NULL) return 0;
  if (fscanf(f, "%ld", &v) != 1) v = 0;
  fclose(f);
  return v;
}

int main(void) {
  const long max_maps = read_long("/proc/sys/vm/max_map_count");
  if (max_maps <= 0 || max_maps > 262144) return 77;
  const long budget = max_maps / 4, n = budget + 2000;
  for (long i = 0; i < n; ++i) {
    char* p = malloc(8192);
    if (p == NULL) {
      printf("FAILED: malloc %ld of %ld returned NULL\n", i, n);
      return 1;
    }
    p[0] = 1;
  }
  FILE* f = fopen("/proc/self/maps", "r");
  long maps = 0;
  char line[512];
  while (f != NULL && fgets(line, sizeof line, f) != NULL)
    ++maps;
  printf("%ld blocks, %ld mappings, budget %ld guards\n", n, maps, budget);
  return maps <= 2 * budget + 1000 ? 0 : 1;
}

#include "../misuse.h"
/* An address 16 bytes into the 64 KiB-aligned region a small block lies in (hoardlab: inside its
 * superblock's header). */
int main(void) {
  char* p = malloc(64);
  char* base = (char*)((uintptr_t)p & ~(uintptr_t)0xffff);
  if (base + 16 != p) free(base + 16);
  allocate_watching(64, 64, NULL);
  return 0;
}

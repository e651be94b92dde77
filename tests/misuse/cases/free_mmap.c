#include "../misuse.h"
#include <sys/mman.h>
int main(void) {
  char* m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  free(m + 16);
  allocate_watching(64, 64, m + 16);
  return 0;
}

#include "../misuse.h"
int main(void) {
  char* p = malloc(1 << 20);
  misuse_sink = realloc(p + 100, 2 << 20);
  allocate_watching(1 << 20, 4, NULL);
  return 0;
}

#include "../misuse.h"
int main(void) {
  char* p = malloc(64);
  free(p + 8);
  allocate_watching(64, 64, NULL);
  return 0;
}

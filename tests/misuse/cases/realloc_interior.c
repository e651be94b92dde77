#include "../misuse.h"
int main(void) {
  char* p = malloc(64);
  misuse_sink = realloc(p + 16, 200);
  allocate_watching(64, 4, NULL);
  return 0;
}

#include "../misuse.h"
int main(void) {
  char local[64];
  misuse_sink = local;
  free(local);
  allocate_watching(64, 64, local);
  return 0;
}

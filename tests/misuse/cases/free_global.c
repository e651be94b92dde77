#include "../misuse.h"
static _Alignas(16) char global_block[64];
int main(void) {
  free(global_block);
  allocate_watching(64, 64, global_block);
  return 0;
}

#include "../uncommitted.h"
/* realloc of an address inside the small-object range that no superblock was ever carved at. */
int main(void) {
  char* p = uncommitted_small_address();
  if (p == NULL) {
    puts("no reserved, uncommitted small-object range found");
    return 5;
  }
  misuse_sink = realloc(p, 100);
  allocate_watching(64, 64, NULL);
  return 0;
}

#include "../uncommitted.h"
/* An address inside the small-object range that no superblock was ever carved at: reserved, never
 * committed (no access). */
int main(void) {
  char* p = uncommitted_small_address();
  if (p == NULL) {
    puts("no reserved, uncommitted small-object range found");
    return 5;
  }
  free(p);
  allocate_watching(64, 64, NULL);
  return 0;
}

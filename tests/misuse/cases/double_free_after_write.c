#include "../misuse.h"
/* A write of one byte into a freed block's first word (a use after free), then a second free of
 * it, with another block freed between the two. The write breaks the check word that tells a
 * free block from a live one, so the second free takes the block for a live one and puts it in
 * its bin again, rewriting its link whole: the bin's list becomes a cycle through the two blocks.
 * The four blocks handed out next must be distinct; the hardened library stops the program at
 * the pop that would hand a block out a second time (its check word was cleared when it was
 * handed out first), not at the second free (paper_notes/hardening.md). */
int main(void) {
  unsigned char* p = malloc(32);
  void* q = malloc(32);
  free(p);
  free(q);
  p[3] ^= 0x5a;
  free(p);
  void* got[4];
  for (int i = 0; i < 4; ++i) {
    got[i] = malloc(32);
    for (int j = 0; j < i; ++j)
      if (got[j] == got[i]) {
        printf("malloc(32) returned %p twice\n", got[i]);
        fflush(stdout);
        _exit(EXIT_CONTRACT);
      }
  }
  return 0;
}

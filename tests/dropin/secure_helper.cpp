// Linked against libhoardlab-malloc.so (no LD_PRELOAD, which a setuid program ignores): the
// AT_SECURE test runs a setuid copy of it. Allocates, then prints the AT_SECURE it sees.
#include <cstdio>
#include <cstdlib>
#include <sys/auxv.h>

int main() {
  void* volatile blocks[100];
  for (auto& p : blocks)
    p = std::malloc(256);
  for (auto& p : blocks)
    std::free(p);
  std::printf("AT_SECURE=%lu\n", getauxval(AT_SECURE));
  return 0;
}

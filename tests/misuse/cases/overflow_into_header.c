#include <signal.h>

#include "../misuse.h"
/* A linear overflow of 8 KiB from the last block of a superblock, through the 64 KiB boundary into
 * the next superblock (hoardlab: into that superblock's header, or the guard page before it), then
 * frees of that superblock's blocks and more allocations. The program tells a fault at the
 * overflow itself, on the page right at the boundary (exit 6: stopped by a guard page), from any
 * other. */
#define SB ((uintptr_t)64 * 1024)
#define N 4096

static volatile sig_atomic_t overflowing;
static volatile uintptr_t boundary;

static void on_segv(int sig, siginfo_t* info, void* ctx) {
  (void)sig;
  (void)ctx;
  uintptr_t at = (uintptr_t)info->si_addr;
  if (overflowing && at >= boundary && at < boundary + 4096) {
    static const char msg[] = "stopped at the overflow by a fault on the page after the boundary\n";
    write(1, msg, sizeof msg - 1);
    _exit(6);
  }
  signal(SIGSEGV, SIG_DFL); /* a fault anywhere else: die of it, as without the handler */
}

static char* blocks[N];

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, NULL);

  for (int i = 0; i < N; ++i)
    blocks[i] = malloc(64);
  /* The last block of the lowest superblock whose successor also holds blocks of ours. */
  uintptr_t base = 0;
  for (int i = 0; i < N; ++i) {
    uintptr_t b = (uintptr_t)blocks[i] & ~(SB - 1);
    if (base != 0 && b >= base) continue;
    for (int j = 0; j < N; ++j)
      if (((uintptr_t)blocks[j] & ~(SB - 1)) == b + SB) {
        base = b;
        break;
      }
  }
  char* last = NULL;
  for (int i = 0; i < N; ++i)
    if (((uintptr_t)blocks[i] & ~(SB - 1)) == base && blocks[i] > last) last = blocks[i];
  if (last == NULL) return 0;
  boundary = ((uintptr_t)last & ~(SB - 1)) + SB;
  overflowing = 1;
  memset(last, 0x41, (size_t)(boundary - (uintptr_t)last) + 8192);
  overflowing = 0;
  /* Free the blocks of the superblock past the boundary, then allocate as a program would. */
  for (int i = 0; i < N; ++i)
    if (((uintptr_t)blocks[i] & ~(SB - 1)) == boundary) free(blocks[i]);
  allocate_watching(64, 4 * N, NULL);
  return 0;
}

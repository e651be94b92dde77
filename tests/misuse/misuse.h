/* What the misuse programs share. Each program does one misuse, then keeps using the allocator;
 * it exits 0 when it ran to the end, 3 when an allocation returned the address it planted (the
 * exploit worked), 4 when a call broke the malloc family's contract. Built at -O0 with
 * -fno-builtin: a compiler may delete a malloc/free pair or a double free outright. */
#ifndef MISUSE_H
#define MISUSE_H

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_PLANTED 3
#define EXIT_CONTRACT 4

/* A target an attacker would like malloc to return: static, aligned like a block. */
__attribute__((unused)) static _Alignas(64) char planted_target[256];

static void* volatile misuse_sink;

/* Allocates `n` blocks of `size` and keeps them; ends with EXIT_PLANTED if one is `planted`. */
__attribute__((unused)) static void allocate_watching(size_t size, int n, const void* planted) {
  for (int i = 0; i < n; ++i) {
    void* p = malloc(size);
    if (p == planted) {
      printf("PLANTED: malloc(%zu) returned %p\n", size, p);
      fflush(stdout);
      _exit(EXIT_PLANTED);
    }
    if (p != NULL) memset(p, 0x5a, size);
    misuse_sink = p;
  }
}

/* Two blocks of `size` adjacent in memory, *lo directly below *hi (within 64 tries); 0 if none. */
__attribute__((unused)) static int adjacent_pair(size_t size, char** lo, char** hi) {
  static char* blocks[64];
  for (int i = 0; i < 64; ++i)
    blocks[i] = malloc(size);
  for (int i = 0; i < 64; ++i)
    for (int j = 0; j < 64; ++j)
      if (blocks[j] == blocks[i] + malloc_usable_size(blocks[i])) {
        *lo = blocks[i];
        *hi = blocks[j];
        return 1;
      }
  return 0;
}

/* Runs fn(arg) on a thread and waits for it. */
__attribute__((unused)) static void on_thread(void* (*fn)(void*), void* arg) {
  pthread_t t;
  pthread_create(&t, NULL, fn, arg);
  pthread_join(t, NULL);
}

/* Stages of a program's threads: one waits for a stage, another sets it. */
static pthread_mutex_t misuse_stage_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t misuse_stage_cond = PTHREAD_COND_INITIALIZER;
static int misuse_stage;
__attribute__((unused)) static void wait_for(int s) {
  pthread_mutex_lock(&misuse_stage_lock);
  while (misuse_stage != s)
    pthread_cond_wait(&misuse_stage_cond, &misuse_stage_lock);
  pthread_mutex_unlock(&misuse_stage_lock);
}
__attribute__((unused)) static void go(int s) {
  pthread_mutex_lock(&misuse_stage_lock);
  misuse_stage = s;
  pthread_cond_broadcast(&misuse_stage_cond);
  pthread_mutex_unlock(&misuse_stage_lock);
}

#endif

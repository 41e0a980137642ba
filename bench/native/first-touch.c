/*
 * Reference for bench/first-touch.bench.ts: Linux's own first-touch anonymous faults.
 * Maps <pages> 4 KiB pages private anonymous, MADV_NOHUGEPAGE, stores one 32-bit word per page
 * (each store takes a page fault: do_anonymous_page), unmaps. Prints pages per second of each of
 * <reps> samples, one per line.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: first-touch <pages> <reps>\n");
    return 2;
  }
  size_t pages = strtoul(argv[1], NULL, 10);
  int reps = atoi(argv[2]);
  size_t len = pages * 4096;
  for (int r = 0; r < reps; r++) {
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 1; }
    if (madvise(p, len, MADV_NOHUGEPAGE) != 0) { perror("madvise"); return 1; }
    double t0 = now();
    for (size_t i = 0; i < pages; i++) *(volatile uint32_t *)(p + i * 4096) = (uint32_t)(i + 1);
    double s = now() - t0;
    if (*(volatile uint32_t *)(p + (pages - 1) * 4096) != (uint32_t)pages) return 1;
    munmap(p, len);
    printf("%.0f\n", pages / s);
  }
  return 0;
}

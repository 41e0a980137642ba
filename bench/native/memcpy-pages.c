/*
 * Reference for bench/migrate.bench.ts: the host's memcpy page rate. Copies <pages> 4 KiB pages
 * from one buffer to another (both touched beforehand), one memcpy per page, <reps> times.
 * Prints pages per second of each sample, one per line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: memcpy-pages <pages> <reps>\n");
    return 2;
  }
  size_t pages = strtoul(argv[1], NULL, 10);
  int reps = atoi(argv[2]);
  size_t len = pages * 4096;
  char *a = malloc(len), *b = malloc(len);
  if (!a || !b) return 1;
  memset(a, 1, len);
  memset(b, 2, len);
  unsigned sum = 0;
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    for (size_t i = 0; i < pages; i++) memcpy(b + i * 4096, a + i * 4096, 4096);
    double s = now() - t0;
    sum += (unsigned char)b[(r * 4096 + 7) % len];
    a[r] = (char)r;
    printf("%.0f\n", pages / s);
  }
  return sum == 0xffffffff;
}

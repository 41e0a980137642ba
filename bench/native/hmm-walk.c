/*
 * The native reference of the hmm-range-fault benchmark: a snapshot walk of 1 GiB of present
 * 4 KiB PTEs in a 4-level table laid out as a structure of arrays (one array of entry flag words,
 * one of payloads: lower table or pfn; tables are indexes into them, as in hmmsim's pool), writing
 * one 64-bit hmm_pfns word per page with the kernel's rules for a present PTE (VALID, WRITE when
 * writable, the sticky input bits kept, ERROR-free path only). Prints one line per sample:
 * pages per second of wall-clock time, then of process CPU time. Built by bench/native-walk.ts
 * with the host's cc at -O2.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define PTRS 512u
#define PAGES (1u << 18) /* 1 GiB of 4 KiB pages */
#define KIND_MASK 0xfu
#define KIND_TABLE 1u
#define KIND_PRESENT 2u
#define PTE_WRITE 0x10u
#define PTE_SPECIAL 0x80u
#define PTE_PROTNONE 0x100u
#define PTE_LEAF 0x200u
#define HMM_VALID (1ull << 63)
#define HMM_WRITE (1ull << 62)
#define HMM_ERROR (1ull << 61)
#define HMM_INOUT (7ull << 58)

static uint32_t *lo; /* per entry: kind and bits */
static uint32_t *hi; /* per entry: lower table index or pfn */
static uint32_t ntables = 1;

static uint32_t table_alloc(void) { return ntables++; }

static double now(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* The PTE loop: what a snapshot does per page. A non-fast entry would go to a slow path. */
static int walk_pte(uint32_t t, uint64_t *pfns) {
  const uint32_t *l = lo + (size_t)t * PTRS, *h = hi + (size_t)t * PTRS;
  for (uint32_t i = 0; i < PTRS; i++) {
    uint32_t e = l[i];
    if ((e & (KIND_MASK | PTE_PROTNONE | PTE_SPECIAL)) != KIND_PRESENT) return -1;
    pfns[i] = (pfns[i] & HMM_INOUT) | h[i] | HMM_VALID | ((e & PTE_WRITE) ? HMM_WRITE : 0);
  }
  return 0;
}

/* walk_pgd_range … walk_pmd_range over [vpn, vpn + n) from table pgd. */
static int walk(uint32_t pgd, uint64_t vpn, uint64_t n, uint64_t *pfns) {
  for (uint64_t v = vpn; v < vpn + n; v += PTRS) {
    uint32_t t = pgd;
    for (int level = 4; level > 1; level--) {
      uint32_t idx = t * PTRS + ((v >> (9 * (level - 1))) & (PTRS - 1));
      if ((lo[idx] & KIND_MASK) != KIND_TABLE || (lo[idx] & PTE_LEAF)) return -1;
      t = hi[idx];
    }
    if (walk_pte(t, pfns + (v - vpn)) != 0) return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 7;
  size_t cap = PAGES / PTRS + 8;
  lo = calloc(cap * PTRS, sizeof *lo);
  hi = calloc(cap * PTRS, sizeof *hi);
  uint64_t *pfns = calloc(PAGES, sizeof *pfns);
  if (!lo || !hi || !pfns) return 1;
  uint32_t pgd = table_alloc();
  uint64_t base = 1ull << 27; /* a 1 GiB-aligned start (512 GiB in), as a user mapping */
  for (uint64_t p = 0; p < PAGES; p++) {
    uint64_t v = base + p;
    uint32_t t = pgd;
    for (int level = 4; level > 1; level--) {
      uint32_t idx = t * PTRS + ((v >> (9 * (level - 1))) & (PTRS - 1));
      if (lo[idx] == 0) {
        lo[idx] = KIND_TABLE;
        hi[idx] = table_alloc();
      }
      t = hi[idx];
    }
    lo[t * PTRS + (v & (PTRS - 1))] = KIND_PRESENT | PTE_WRITE | 0x60u; /* dirty, young */
    hi[t * PTRS + (v & (PTRS - 1))] = (uint32_t)(1000 + p);
  }
  for (int r = 0; r <= reps; r++) {
    double t0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    if (walk(pgd, base, PAGES, pfns) != 0) return 2;
    double s = now(CLOCK_MONOTONIC) - t0, c = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
    if (pfns[PAGES - 1] != (HMM_VALID | HMM_WRITE | (1000 + PAGES - 1))) return 3;
    if (r > 0) printf("%.0f %.0f\n", PAGES / s, PAGES / c); /* the first is a warm-up */
  }
  return 0;
}

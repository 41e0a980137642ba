/**
 * Deterministic regressions for bugs the mm model test (mm.model.test.ts) found, each the shrunk
 * counterexample replayed by hand.
 */
import { describe, expect, it } from 'vitest';
import { Machine } from '../../src/machine.ts';
import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../../src/mm/constants.ts';
import { rmapWalk } from '../../src/mm/rmap.ts';
import { auditKernel, walkMm } from './audit.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

function machine(): Machine {
  return new Machine({ memory: 16 * 1024 * 1024, swap: 1024 * 1024, hugetlbPages: 1, thp: 'madvise' });
}

/** The pfn a present PTE maps at `addr` in `mm`, or -1. */
function pfnAt(k: Machine, mm: Machine['processes'][number]['mm'], addr: number): number {
  let pfn = -1;
  walkMm(k, mm, (vpn, level, lo, hi) => {
    if (level === 1 && vpn === addr / PAGE_SIZE && (lo & 0xf) === 2) pfn = hi;
  });
  return pfn;
}

describe('mm model regressions', () => {
  it('an anonymous page index above 2^31 (any mmap near MMAP_BASE) is kept whole, so rmap finds the page', async () => {
    const k = machine();
    const p = await k.createProcess();
    const a = await p.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    expect(a / PAGE_SIZE).toBeGreaterThan(2 ** 31);
    await p.write(a + PAGE_SIZE, new Uint8Array([7]));
    const pfn = pfnAt(k, p.mm, a + PAGE_SIZE);
    expect(k.pm.index[pfn]).toBe(a / PAGE_SIZE + 1);
    const hits = rmapWalk(k, pfn);
    expect(hits.map((h) => h.addr)).toEqual([a + PAGE_SIZE]);
    auditKernel(k);
    await p.exit();
  });
});

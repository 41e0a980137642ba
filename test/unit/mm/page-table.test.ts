import { describe, expect, it } from 'vitest';
import { PTRS_PER_TABLE } from '../../../src/mm/constants.ts';
import {
  ensureEntry,
  findEntry,
  LEVEL_PAGES,
  leafLevel,
  leafOffset,
  levelIndex,
  PageTablePool,
  walkLeaf,
  walkToLeaf,
} from '../../../src/mm/page-table.ts';
import { freePgtables } from '../../../src/mm/pgwalk.ts';
import { PTE_KIND_MASK, PTE_LEAF, PTE_NONE, PTE_PRESENT, PTE_TABLE, PTE_WRITE } from '../../../src/mm/pte.ts';

/** Virtual pages covered by one PMD entry (2 MiB), one PUD entry (1 GiB) and one PGD entry (512 GiB). */
const SPAN_2M = LEVEL_PAGES[2];
const SPAN_1G = LEVEL_PAGES[3];
const SPAN_512G = LEVEL_PAGES[4];

function setPte(pool: PageTablePool, pgd: number, vpn: number, pfn: number): number {
  const off = ensureEntry(pool, pgd, vpn, 1);
  pool.words[off] = PTE_PRESENT | PTE_WRITE;
  pool.words[off + 1] = pfn;
  return off;
}

describe('PageTablePool', () => {
  it('never hands out table 0, reuses freed tables, and hands them out zeroed', () => {
    const pool = new PageTablePool(4);
    const a = pool.alloc();
    const b = pool.alloc();
    expect(a).toBeGreaterThan(0);
    expect(b).not.toBe(a);
    expect(pool.inUse).toBe(2);
    pool.words[pool.entryOffset(b, 7)] = PTE_PRESENT;
    expect(pool.isEmpty(b)).toBe(false);
    pool.words[pool.entryOffset(b, 7)] = 0;
    pool.words[pool.entryOffset(b, 7) + 1] = 42;
    pool.free(b);
    expect(pool.inUse).toBe(1);
    const c = pool.alloc();
    expect(c).toBe(b);
    expect(pool.words[pool.entryOffset(c, 7) + 1]).toBe(0);
    expect(pool.isEmpty(c)).toBe(true);
  });

  it('grows without losing entries (offsets stay valid; re-read `words`)', () => {
    const pool = new PageTablePool(2);
    const tables: number[] = [];
    for (let i = 0; i < 40; i++) {
      const t = pool.alloc();
      tables.push(t);
      pool.words[pool.entryOffset(t, i)] = PTE_PRESENT;
      pool.words[pool.entryOffset(t, i) + 1] = 1000 + i;
    }
    expect(new Set(tables).size).toBe(40);
    expect(pool.words.length).toBeGreaterThanOrEqual(41 * PTRS_PER_TABLE * 2);
    tables.forEach((t, i) => {
      expect(pool.words[pool.entryOffset(t, i)]).toBe(PTE_PRESENT);
      expect(pool.words[pool.entryOffset(t, i) + 1]).toBe(1000 + i);
    });
    expect(PageTablePool.BYTES_PER_ENTRY).toBe(8);
  });
});

describe('walks', () => {
  it('levelIndex picks the 9 bits of each level', () => {
    const vpn = 3 * SPAN_512G + 5 * SPAN_1G + 7 * SPAN_2M + 9;
    expect([levelIndex(vpn, 1), levelIndex(vpn, 2), levelIndex(vpn, 3), levelIndex(vpn, 4)]).toEqual([
      9, 7, 5, 3,
    ]);
    expect(levelIndex(511 * SPAN_512G + 1, 4)).toBe(511);
  });

  it('ensureEntry allocates the missing tables once; findEntry finds the same entry without allocating', () => {
    const pool = new PageTablePool();
    const pgd = pool.alloc();
    const vpn = 2 * SPAN_1G + 3 * SPAN_2M + 5;
    expect(findEntry(pool, pgd, vpn, 1)).toBe(-1);
    const off = ensureEntry(pool, pgd, vpn, 1);
    expect(pool.inUse).toBe(4); // PGD + PUD + PMD + PTE tables
    expect(ensureEntry(pool, pgd, vpn, 1)).toBe(off);
    expect(findEntry(pool, pgd, vpn, 1)).toBe(off);
    expect(ensureEntry(pool, pgd, vpn + 1, 1)).toBe(off + 2); // same PTE table
    expect(pool.inUse).toBe(4);
    ensureEntry(pool, pgd, vpn + SPAN_2M, 1); // next 2 MiB: a new PTE table
    expect(pool.inUse).toBe(5);
    ensureEntry(pool, pgd, vpn + SPAN_1G, 1); // next 1 GiB: PMD and PTE tables
    expect(pool.inUse).toBe(7);
    // The PMD entry points at the PTE table holding `off`.
    const pmd = findEntry(pool, pgd, vpn, 2);
    expect(pool.words[pmd]! & PTE_KIND_MASK).toBe(PTE_TABLE);
    expect(pool.entryOffset(pool.words[pmd + 1]!, levelIndex(vpn, 1))).toBe(off);
    expect(findEntry(pool, pgd, vpn + 7 * SPAN_2M, 1)).toBe(-1);
    expect(findEntry(pool, pgd, vpn + 7 * SPAN_2M, 2)).not.toBe(-1); // its PMD table exists
  });

  it('a huge leaf stops ensureEntry and findEntry below it (-1) and is where walkToLeaf stops', () => {
    const pool = new PageTablePool();
    const pgd = pool.alloc();
    const vpn = 5 * SPAN_2M;
    const pmd = ensureEntry(pool, pgd, vpn, 2);
    pool.words[pmd] = PTE_PRESENT | PTE_LEAF | PTE_WRITE;
    pool.words[pmd + 1] = 4096;
    const tables = pool.inUse;
    expect(ensureEntry(pool, pgd, vpn + 3, 1)).toBe(-1);
    expect(findEntry(pool, pgd, vpn + 3, 1)).toBe(-1);
    expect(pool.inUse).toBe(tables);
    expect(walkToLeaf(pool, pgd, vpn + 3)).toBe(pmd);
    expect(leafLevel(walkLeaf(pool, pgd, vpn + 3))).toBe(2);
  });

  it('walkLeaf stops at the first none entry, or at the PTE, and says at which level', () => {
    const pool = new PageTablePool();
    const pgd = pool.alloc();
    const top = walkLeaf(pool, pgd, 12345);
    expect(leafLevel(top)).toBe(4);
    expect(leafOffset(top)).toBe(pool.entryOffset(pgd, levelIndex(12345, 4)));
    const pte = setPte(pool, pgd, 12345, 77);
    expect(walkToLeaf(pool, pgd, 12345)).toBe(pte);
    expect(leafLevel(walkLeaf(pool, pgd, 12345))).toBe(1);
    // same PMD table, no PMD entry
    expect(leafLevel(walkLeaf(pool, pgd, 12345 + SPAN_2M))).toBe(2);
    // same PUD table, no PUD entry
    expect(leafLevel(walkLeaf(pool, pgd, 12345 + SPAN_1G))).toBe(3);
    const none = walkLeaf(pool, pgd, 12345 + 1);
    expect(leafLevel(none)).toBe(1);
    expect(pool.words[leafOffset(none)]! & PTE_KIND_MASK).toBe(PTE_NONE);
  });

  it('walkLeaf keeps no state between calls: two results read back independently', () => {
    const pool = new PageTablePool();
    const pgd = pool.alloc();
    const pte = setPte(pool, pgd, 12345, 77);
    const a = walkLeaf(pool, pgd, 12345);
    const b = walkLeaf(pool, pgd, 12345 + SPAN_1G);
    expect([leafOffset(a), leafLevel(a)]).toEqual([pte, 1]);
    expect(leafLevel(b)).toBe(3);
  });
});

describe('freePgtables', () => {
  it('frees only empty tables wholly inside the range, and clears the entries that pointed at them', () => {
    const pool = new PageTablePool();
    const pgd = pool.alloc();
    const p0 = setPte(pool, pgd, 0, 10); // PTE table A: vpns [0, 512)
    const p1 = setPte(pool, pgd, 512, 11); // PTE table B: [512, 1024)
    const p2 = setPte(pool, pgd, 1024, 12); // PTE table C: [1024, 1536)
    expect(pool.inUse).toBe(1 + 1 + 1 + 3);
    pool.words[p1] = 0;
    pool.words[p1 + 1] = 0;
    pool.words[p2] = 0;
    pool.words[p2 + 1] = 0;

    // B is empty and inside; C is empty but only partly inside; the PMD table is neither.
    freePgtables(pool, pgd, 512, 1024 + 300);
    expect(pool.inUse).toBe(5);
    expect(findEntry(pool, pgd, 512, 1)).toBe(-1);
    expect(pool.words[findEntry(pool, pgd, 512, 2)]).toBe(0);
    expect(findEntry(pool, pgd, 1024, 1)).toBe(p2);
    expect(findEntry(pool, pgd, 0, 1)).toBe(p0);

    // The whole first 512 GiB: C goes; A holds an entry and stays, so the upper tables stay.
    freePgtables(pool, pgd, 0, SPAN_512G);
    expect(pool.inUse).toBe(4);
    expect(findEntry(pool, pgd, 0, 1)).toBe(p0);
    expect(pool.words[p0 + 1]).toBe(10);

    pool.words[p0] = 0;
    pool.words[p0 + 1] = 0;
    freePgtables(pool, pgd, 0, SPAN_512G);
    expect(pool.inUse).toBe(1); // only the PGD, which freePgtables never frees
    expect(pool.isEmpty(pgd)).toBe(true);
  });

  it('keeps an empty table that extends beyond the range', () => {
    const pool = new PageTablePool();
    const pgd = pool.alloc();
    const off = setPte(pool, pgd, SPAN_1G + 600, 1);
    pool.words[off] = 0;
    freePgtables(pool, pgd, SPAN_1G + 512, SPAN_1G + 1000);
    expect(pool.inUse).toBe(4);
    freePgtables(pool, pgd, SPAN_1G + 512, SPAN_1G + 1024);
    expect(pool.inUse).toBe(3); // the PTE table; the PMD table spans 1 GiB and stays
  });

  it('skips huge leaves', () => {
    const pool = new PageTablePool();
    const pgd = pool.alloc();
    const pmd = ensureEntry(pool, pgd, 0, 2);
    pool.words[pmd] = PTE_PRESENT | PTE_LEAF;
    pool.words[pmd + 1] = 512;
    freePgtables(pool, pgd, 0, SPAN_512G);
    expect(pool.words[pmd]).toBe(PTE_PRESENT | PTE_LEAF);
    expect(pool.inUse).toBe(3);
  });
});

import { describe, expect, it } from 'vitest';
import type { Machine } from '../../../src/machine.ts';
import {
  HPAGE_PMD_NR,
  HPAGE_PMD_ORDER,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_POPULATE,
  MAP_PRIVATE,
  MM_ANONPAGES,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../../../src/mm/constants.ts';
import { deferredSplitScan } from '../../../src/mm/deferred-split.ts';
import { splitHugePmd, thpEligible } from '../../../src/mm/huge-memory.ts';
import type { ThpMode } from '../../../src/mm/kernel.ts';
import { MMU_NOTIFY_CLEAR, MMU_NOTIFY_PROTECTION_PAGE } from '../../../src/mm/mmu-notifier.ts';
import { PG_anon, PG_anon_exclusive, PG_partially_mapped } from '../../../src/mm/page-flags.ts';
import { trylockPage, unlockPage } from '../../../src/mm/page-lock.ts';
import { HUGE_ZERO_PFN, ZERO_PFN } from '../../../src/mm/physmem.ts';
import { PTE_LEAF, PTE_MIGRATION_WRITE, PTE_PRESENT, PTE_TABLE } from '../../../src/mm/pte.ts';
import { leafAt, MiB, pattern, pteAt, recordInvalidations, smallMachine } from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
/** 2 MiB aligned. */
const A = 0x4000_0000;

async function thpProcess(thp: ThpMode, length = 2 * PMD_SIZE, addr = A) {
  const m = smallMachine({ thp });
  const p = await m.createProcess();
  expect(await p.mmap(addr, length, RW, ANON, -1, 0)).toBe(addr);
  return { m, p };
}

/** Asserts that `addr` is mapped by a small page (a PTE under a PMD table). */
function expectSmall(m: Machine, mm: Parameters<typeof leafAt>[1], addr: number): void {
  expect(pteAt(m, mm, addr, 2).kind).toBe(PTE_TABLE);
  const e = leafAt(m, mm, addr);
  expect(e.level).toBe(1);
  expect(e.kind).toBe(PTE_PRESENT);
  expect(m.pm.order[e.pfn]).toBe(0);
}

describe('THP anonymous faults', () => {
  it('a read fault maps the huge zero page with a read-only PMD leaf', async () => {
    const { m, p } = await thpProcess('always');
    const free = m.pm.freeFrames;
    expect(await p.read(A + PMD_SIZE + 0x1234, 16)).toEqual(new Uint8Array(16));
    const e = leafAt(m, p.mm, A + PMD_SIZE);
    expect([e.level, e.kind, e.leaf, e.pfn, e.write]).toEqual([2, PTE_PRESENT, true, HUGE_ZERO_PFN, false]);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(0);
    expect(m.pm.freeFrames).toBe(free);
  });

  it('fork copies a huge zero PMD (the THP fault prepared the anon_vma); the child reads it read-only', async () => {
    const { m, p } = await thpProcess('always');
    await p.read(A, 1);
    expect(p.mm.vmaLookup(A)!.anonVma).not.toBe(null); // vmf_anon_prepare() runs before the zero-page path
    const c = await p.fork();
    const e = leafAt(m, c.mm, A);
    expect([e.level, e.pfn, e.write]).toEqual([2, HUGE_ZERO_PFN, false]);
    expect(c.mm.rss[MM_ANONPAGES]).toBe(0);
    await c.write(A, new Uint8Array([3]));
    expect(leafAt(m, p.mm, A).pfn).toBe(HUGE_ZERO_PFN);
    expect(await p.read(A, 1)).toEqual(new Uint8Array(1));
  });

  it('a write fault maps a new order-9 folio with a writable PMD leaf, entire mapcount 1, rss +512', async () => {
    const { m, p } = await thpProcess('always');
    const free = m.pm.freeFrames;
    const rec = recordInvalidations(m);
    await p.write(A + 5 * PAGE_SIZE + 3, pattern(10));
    const e = leafAt(m, p.mm, A);
    expect([e.level, e.kind, e.leaf, e.write, e.dirty]).toEqual([2, PTE_PRESENT, true, true, true]);
    const head = e.pfn;
    expect(head % HPAGE_PMD_NR).toBe(0);
    expect(m.pm.order[head]).toBe(HPAGE_PMD_ORDER);
    expect(m.pm.order[head + 511]).toBe(HPAGE_PMD_ORDER);
    expect(m.pm.entireMapcount[head]).toBe(1);
    expect(m.pm.refcount[head]).toBe(1);
    expect(m.pm.mapcount[head]).toBe(0);
    expect(m.pm.flags[head]! & (PG_anon | PG_anon_exclusive)).toBe(PG_anon | PG_anon_exclusive);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(HPAGE_PMD_NR);
    expect(m.pm.freeFrames).toBe(free - HPAGE_PMD_NR);
    expect(m.pm.readableBytes(head + 5).subarray(3, 13)).toEqual(pattern(10));
    expect(await p.read(A + 5 * PAGE_SIZE + 3, 10)).toEqual(pattern(10));
    expect(rec.events).toEqual([]);
    // The other 2 MiB of the VMA is untouched.
    expect(leafAt(m, p.mm, A + PMD_SIZE).kind).toBe(0);
  });

  it("thp 'madvise' uses THP only after MADV_HUGEPAGE", async () => {
    const { m, p } = await thpProcess('madvise');
    await p.write(A, new Uint8Array([1]));
    expectSmall(m, p.mm, A);
    expect(await p.madvise(A + PMD_SIZE, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
    await p.write(A + PMD_SIZE, new Uint8Array([1]));
    const e = leafAt(m, p.mm, A + PMD_SIZE);
    expect([e.level, e.leaf, e.write]).toEqual([2, true, true]);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1 + HPAGE_PMD_NR);
  });

  it("MADV_NOHUGEPAGE under thp 'always', and MADV_HUGEPAGE under 'never', give small pages", async () => {
    const a = await thpProcess('always');
    expect(await a.p.madvise(A, 2 * PMD_SIZE, MADV_NOHUGEPAGE)).toBe(0);
    await a.p.write(A, new Uint8Array([1]));
    await a.p.read(A + PMD_SIZE, 1);
    expectSmall(a.m, a.p.mm, A);
    expect(leafAt(a.m, a.p.mm, A + PMD_SIZE).pfn).toBe(ZERO_PFN);
    const n = await thpProcess('never');
    expect(await n.p.madvise(A, 2 * PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
    await n.p.write(A, new Uint8Array([1]));
    expectSmall(n.m, n.p.mm, A);
  });

  it('no aligned 2 MiB range inside the VMA gives small pages (unaligned VMA, or VMA too small)', async () => {
    const u = await thpProcess('always', PMD_SIZE, A + PAGE_SIZE);
    await u.p.write(A + PMD_SIZE, new Uint8Array([1]));
    expectSmall(u.m, u.p.mm, A + PMD_SIZE);
    expect(u.p.mm.rss[MM_ANONPAGES]).toBe(1);
    const s = await thpProcess('always', MiB);
    await s.p.write(A, new Uint8Array([1]));
    await s.p.read(A + PAGE_SIZE, 1);
    expectSmall(s.m, s.p.mm, A);
    expect(leafAt(s.m, s.p.mm, A + PAGE_SIZE).pfn).toBe(ZERO_PFN);
    // A THP may still serve the aligned part of a larger unaligned VMA.
    const l = await thpProcess('always', 3 * PMD_SIZE, A + PAGE_SIZE);
    await l.p.write(A + PMD_SIZE, new Uint8Array([1]));
    expect(leafAt(l.m, l.p.mm, A + PMD_SIZE).level).toBe(2);
  });

  it('falls back to a small page when no order-9 block is free', async () => {
    const { m, p } = await thpProcess('always');
    const taken: number[] = [m.pm.allocPages(0)]; // leaves a partly used block
    for (let pfn = m.pm.allocPages(HPAGE_PMD_ORDER); pfn !== 0; pfn = m.pm.allocPages(HPAGE_PMD_ORDER))
      taken.push(pfn);
    expect(m.pm.freeFrames).toBe(HPAGE_PMD_NR - 1);
    await p.write(A + 7 * PAGE_SIZE, pattern(4));
    expectSmall(m, p.mm, A + 7 * PAGE_SIZE);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
    expect(m.pm.freeFrames).toBe(HPAGE_PMD_NR - 2);
    expect(await p.read(A + 7 * PAGE_SIZE, 4)).toEqual(pattern(4));
    // A read still gets the huge zero page: it needs no allocation.
    await p.read(A + PMD_SIZE, 1);
    expect(leafAt(m, p.mm, A + PMD_SIZE).pfn).toBe(HUGE_ZERO_PFN);
  });

  it('a write to the huge zero PMD maps a zeroed THP under one CLEAR over the 2 MiB (6.13+)', async () => {
    const { m, p } = await thpProcess('always');
    const addr = A + 9 * PAGE_SIZE;
    await p.read(addr, 1);
    const free = m.pm.freeFrames;
    const rec = recordInvalidations(m);
    await p.write(addr + 2, new Uint8Array([0x42]));
    expect(rec.events).toEqual([
      { mm: p.mm.id, event: MMU_NOTIFY_CLEAR, start: A, end: A + PMD_SIZE, owner: null },
    ]);
    const e = leafAt(m, p.mm, addr);
    expect([e.level, e.kind, e.leaf, e.write, e.dirty]).toEqual([2, PTE_PRESENT, true, true, true]);
    expect(e.pfn).not.toBe(HUGE_ZERO_PFN);
    expect(m.pm.order[e.pfn]).toBe(HPAGE_PMD_ORDER);
    expect(m.pm.entireMapcount[e.pfn]).toBe(1);
    expect(m.pm.flags[e.pfn]! & (PG_anon | PG_anon_exclusive)).toBe(PG_anon | PG_anon_exclusive);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(HPAGE_PMD_NR);
    expect(m.pm.freeFrames).toBe(free - HPAGE_PMD_NR);
    expect(Array.from(await p.read(addr, 4))).toEqual([0, 0, 0x42, 0]);
    expect(Array.from(await p.read(A + 300 * PAGE_SIZE, 2))).toEqual([0, 0]);
  });

  it('a write to the huge zero PMD splits it when no THP can be had (the fallback)', async () => {
    const { m, p } = await thpProcess('always');
    const addr = A + 9 * PAGE_SIZE;
    await p.read(addr, 1);
    m.pm.allocPages(0); // leaves a partly used block: small pages only
    for (let pfn = m.pm.allocPages(HPAGE_PMD_ORDER); pfn !== 0; pfn = m.pm.allocPages(HPAGE_PMD_ORDER));
    const rec = recordInvalidations(m);
    await p.write(addr + 2, new Uint8Array([0x42]));
    expect(rec.events).toEqual([
      { mm: p.mm.id, event: MMU_NOTIFY_CLEAR, start: A, end: A + PMD_SIZE, owner: null },
      { mm: p.mm.id, event: MMU_NOTIFY_CLEAR, start: addr, end: addr + PAGE_SIZE, owner: null },
    ]);
    expectSmall(m, p.mm, addr);
    expect(leafAt(m, p.mm, A).pfn).toBe(ZERO_PFN);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
  });

  it('kernelVersion 6.12: a write to the huge zero PMD splits it (CLEAR 2 MiB) and copies one page (CLEAR 4 KiB)', async () => {
    const m = smallMachine({ thp: 'always', kernelVersion: '6.12' });
    const p = await m.createProcess();
    expect(await p.mmap(A, 2 * PMD_SIZE, RW, ANON, -1, 0)).toBe(A);
    const addr = A + 9 * PAGE_SIZE;
    await p.read(addr, 1);
    expect(leafAt(m, p.mm, addr).pfn).toBe(HUGE_ZERO_PFN);
    const rec = recordInvalidations(m);
    await p.write(addr + 2, new Uint8Array([0x42]));
    expect(rec.events).toEqual([
      { mm: p.mm.id, event: MMU_NOTIFY_CLEAR, start: A, end: A + PMD_SIZE, owner: null },
      { mm: p.mm.id, event: MMU_NOTIFY_CLEAR, start: addr, end: addr + PAGE_SIZE, owner: null },
    ]);
    expect(pteAt(m, p.mm, A, 2).kind).toBe(PTE_TABLE);
    const w = pteAt(m, p.mm, addr);
    expect([w.kind, w.write, w.dirty, w.special]).toEqual([PTE_PRESENT, true, true, false]);
    expect(m.pm.order[w.pfn]).toBe(0);
    for (const i of [0, 8, 10, 511]) {
      const z = pteAt(m, p.mm, A + i * PAGE_SIZE);
      expect([z.kind, z.pfn, z.write, z.special]).toEqual([PTE_PRESENT, ZERO_PFN, false, true]);
    }
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
    expect(Array.from(await p.read(addr, 4))).toEqual([0, 0, 0x42, 0]);
  });

  it('COW of a PMD-mapped THP after fork: the writer splits (CLEAR 2 MiB) and copies one page', async () => {
    const { m, p } = await thpProcess('always');
    for (let i = 0; i < HPAGE_PMD_NR; i += 64) await p.write(A + i * PAGE_SIZE, pattern(8, i));
    const head = leafAt(m, p.mm, A).pfn;
    const rec = recordInvalidations(m);
    const c = await p.fork();
    expect(rec.events).toEqual([
      { mm: p.mm.id, event: MMU_NOTIFY_PROTECTION_PAGE, start: A, end: A + 2 * PMD_SIZE, owner: null },
    ]);
    for (const mm of [p.mm, c.mm]) {
      const e = leafAt(m, mm, A);
      expect([e.level, e.pfn, e.write]).toEqual([2, head, false]);
      expect(mm.rss[MM_ANONPAGES]).toBe(HPAGE_PMD_NR);
    }
    expect(m.pm.entireMapcount[head]).toBe(2);
    expect(m.pm.refcount[head]).toBe(2);
    expect(m.pm.flags[head]! & PG_anon_exclusive).toBe(0);

    rec.events.length = 0;
    const addr = A + 64 * PAGE_SIZE;
    await c.write(addr, new Uint8Array([0xcc]));
    expect(rec.events).toEqual([
      { mm: c.mm.id, event: MMU_NOTIFY_CLEAR, start: A, end: A + PMD_SIZE, owner: null },
      { mm: c.mm.id, event: MMU_NOTIFY_CLEAR, start: addr, end: addr + PAGE_SIZE, owner: null },
    ]);
    // The child now maps the folio with PTEs, except the copied page.
    const copied = pteAt(m, c.mm, addr);
    expect(copied.pfn).not.toBe(head + 64);
    expect([copied.write, m.pm.order[copied.pfn]]).toEqual([true, 0]);
    for (const i of [0, 63, 65, 511]) {
      const e = pteAt(m, c.mm, A + i * PAGE_SIZE);
      expect([e.pfn, e.write]).toEqual([head + i, false]);
    }
    // The parent keeps its read-only PMD leaf.
    const pe = leafAt(m, p.mm, A);
    expect([pe.level, pe.pfn, pe.write]).toEqual([2, head, false]);
    // Accounting: one PMD mapping, 511 PTE mappings, each holding a reference.
    expect(m.pm.entireMapcount[head]).toBe(1);
    expect(m.pm.mapcount[head + 64]).toBe(0);
    expect(m.pm.mapcount[head + 65]).toBe(1);
    expect(m.pm.refcount[head]).toBe(1 + 511);
    expect(c.mm.rss[MM_ANONPAGES]).toBe(HPAGE_PMD_NR);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(HPAGE_PMD_NR);
    const want = pattern(8, 64);
    expect(await p.read(addr, 8)).toEqual(want);
    want[0] = 0xcc;
    expect(await c.read(addr, 8)).toEqual(want);
    expect(await c.read(A + 128 * PAGE_SIZE, 8)).toEqual(pattern(8, 128));
  });

  it('a write to a THP the forked child gave up reuses it whole (refcount 1), without invalidation', async () => {
    const { m, p } = await thpProcess('always');
    await p.write(A, new Uint8Array([1]));
    const head = leafAt(m, p.mm, A).pfn;
    const c = await p.fork();
    await c.exit();
    expect(m.pm.refcount[head]).toBe(1);
    const rec = recordInvalidations(m);
    await p.write(A + PAGE_SIZE, new Uint8Array([2]));
    const e = leafAt(m, p.mm, A);
    expect([e.level, e.pfn, e.write]).toEqual([2, head, true]);
    expect(rec.events).toEqual([]);
  });
});

describe('PMD migration entries', () => {
  it('a fault on a PMD migration entry sleeps until the folio is unlocked', async () => {
    const { m, p } = await thpProcess('always');
    await p.write(A + 10 * PAGE_SIZE, pattern(16));
    const head = leafAt(m, p.mm, A).pfn;
    const pmd = pteAt(m, p.mm, A, 2);
    // set_pmd_migration_entry(): folio locked, PMD replaced by a non-present migration leaf.
    expect(trylockPage(m, head)).toBe(true);
    m.pt.words[pmd.off] = PTE_MIGRATION_WRITE | PTE_LEAF;
    const log: string[] = [];
    const reader = m.sched.spawn('reader', async () => {
      const data = await p.read(A + 10 * PAGE_SIZE, 16);
      log.push('read');
      return data;
    });
    const migrator = m.sched.spawn('migrator', () => {
      log.push(`reader ${reader.state}`);
      m.pt.words[pmd.off] = pmd.lo; // remove_migration_pmd()
      unlockPage(m, head);
    });
    expect(await m.sched.join(reader)).toEqual(pattern(16));
    await m.sched.join(migrator);
    expect(log).toEqual(['reader blocked', 'read']);
    expect(leafAt(m, p.mm, A).pfn).toBe(head);
  });
});

describe('THP split', () => {
  it('splitHugePmd turns a THP PMD into 512 PTEs with the same bits and per-page mappings', async () => {
    const { m, p } = await thpProcess('always');
    await p.write(A + 3 * PAGE_SIZE, pattern(16));
    const head = leafAt(m, p.mm, A).pfn;
    const rec = recordInvalidations(m);
    await splitHugePmd(p.mm, A);
    expect(rec.events).toEqual([
      { mm: p.mm.id, event: MMU_NOTIFY_CLEAR, start: A, end: A + PMD_SIZE, owner: null },
    ]);
    for (let i = 0; i < HPAGE_PMD_NR; i++) {
      const e = pteAt(m, p.mm, A + i * PAGE_SIZE);
      if (e.pfn !== head + i || !e.write || !e.dirty) throw new Error(`PTE ${i} wrong after split`);
      if (m.pm.mapcount[head + i] !== 1) throw new Error(`mapcount of page ${i} wrong after split`);
    }
    expect(m.pm.entireMapcount[head]).toBe(0);
    expect(m.pm.refcount[head]).toBe(HPAGE_PMD_NR);
    expect(m.pm.order[head]).toBe(HPAGE_PMD_ORDER); // the folio itself stays large
    expect(p.mm.rss[MM_ANONPAGES]).toBe(HPAGE_PMD_NR);
    expect(await p.read(A + 3 * PAGE_SIZE, 16)).toEqual(pattern(16));
    // Nothing left to split: no second invalidation.
    await splitHugePmd(p.mm, A);
    expect(rec.events.length).toBe(1);
  });

  it('munmap of part of a THP splits the PMD; the folio waits on the deferred-split queue until the shrinker runs', async () => {
    const { m, p } = await thpProcess('always');
    await p.write(A, new Uint8Array([1]));
    await p.write(A + 5 * PAGE_SIZE, new Uint8Array([2]));
    const head = leafAt(m, p.mm, A).pfn;
    const free = m.pm.freeFrames;
    expect(await p.munmap(A, 2 * PAGE_SIZE)).toBe(0);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(HPAGE_PMD_NR - 2);
    // deferred_split_folio: still one large folio mapped by PTEs, its unmapped pages allocated.
    expect(m.pm.freeFrames).toBe(free);
    expect(m.pm.order[head]).toBe(HPAGE_PMD_ORDER);
    expect(m.pm.flags[head]! & PG_partially_mapped).not.toBe(0);
    expect([...m.deferredSplitQueue]).toEqual([head]);
    expect(pteAt(m, p.mm, A + 2 * PAGE_SIZE).pfn).toBe(head + 2);
    // The shrinker (memory pressure): split_folio frees the unmapped pages and maps the
    // zero-filled ones to the shared zero page (RMP_USE_SHARED_ZEROPAGE), freeing them too.
    expect(await deferredSplitScan(m)).toBe(1);
    expect(m.deferredSplitQueue.size).toBe(0);
    expect(m.pm.order[head + 5]).toBe(0);
    expect(m.pm.flags[head + 5]! & PG_partially_mapped).toBe(0);
    expect(pteAt(m, p.mm, A + 2 * PAGE_SIZE).pfn).toBe(ZERO_PFN);
    expect(pteAt(m, p.mm, A + 5 * PAGE_SIZE).pfn).toBe(head + 5);
    expect(m.pm.freeFrames).toBe(free + HPAGE_PMD_NR - 1);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
    expect((await p.read(A + 5 * PAGE_SIZE, 1))[0]).toBe(2);
  });

  it('the queued folio is dropped from the queue when its last mapping goes', async () => {
    const { m, p } = await thpProcess('always');
    await p.write(A, new Uint8Array([1]));
    const free = m.pm.freeFrames;
    expect(await p.munmap(A + PAGE_SIZE, PAGE_SIZE)).toBe(0);
    expect(m.deferredSplitQueue.size).toBe(1);
    expect(await p.munmap(A, PMD_SIZE)).toBe(0);
    expect(m.deferredSplitQueue.size).toBe(0);
    expect(m.pm.freeFrames).toBe(free + HPAGE_PMD_NR);
  });

  it('a fault that finds no free page runs the shrinker and retries (direct reclaim)', async () => {
    const { m, p } = await thpProcess('always');
    await p.write(A, new Uint8Array([1]));
    expect(await p.munmap(A + PAGE_SIZE, PMD_SIZE - PAGE_SIZE)).toBe(0);
    expect(m.deferredSplitQueue.size).toBe(1);
    // Take every free page, then fault one more in.
    const other = await m.createProcess();
    const len = m.pm.freeFrames * PAGE_SIZE;
    const b = await other.mmap(0, len, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    expect(m.pm.freeFrames).toBe(0);
    expect(m.deferredSplitQueue.size).toBe(1);
    const c = await other.mmap(0, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    await other.write(c, new Uint8Array([9]));
    expect(m.deferredSplitQueue.size).toBe(0);
    expect(m.pm.freeFrames).toBe(HPAGE_PMD_NR - 2);
    expect((await p.read(A, 1))[0]).toBe(1);
    expect(b).toBeGreaterThan(0);
  });
});

describe('thpEligible', () => {
  it('follows the THP mode, the VMA advice and the 2 MiB fit', async () => {
    const { m, p } = await thpProcess('madvise', 2 * PMD_SIZE);
    const vma = p.mm.vmaLookup(A)!;
    expect(thpEligible(m, vma, A)).toBe(false);
    m.thp = 'always';
    expect(thpEligible(m, vma, A + PMD_SIZE + 5 * PAGE_SIZE)).toBe(true);
    m.thp = 'never';
    expect(thpEligible(m, vma, A)).toBe(false);
    m.thp = 'always';
    const small = await p.mmap(A + 4 * PMD_SIZE, PMD_SIZE - PAGE_SIZE, RW, ANON, -1, 0);
    expect(thpEligible(m, p.mm.vmaLookup(small)!, small)).toBe(false);
  });
});

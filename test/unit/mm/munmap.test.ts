/** munmap(2): splitting, holes, argument checks, THP and hugetlb partial unmaps, page-table freeing. */
import { describe, expect, it } from 'vitest';
import {
  EINVAL,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  MM_ANONPAGES,
  MM_FILEPAGES,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_UNMAP,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
  SegmentationFault,
  TASK_SIZE,
} from '../../../src/index.ts';
import { diffAt } from './bytes.ts';
import { leafAt, MiB, pattern, recordInvalidations, rejectionOf } from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const FIXED = ANON | MAP_FIXED;
const P = PAGE_SIZE;
const BASE = 0x4000_0000; // 1 GiB: PMD and PUD aligned

async function boot(options: ConstructorParameters<typeof Machine>[0] = {}) {
  const m = new Machine({ memory: 32 * MiB, hugetlbPages: 0, ...options });
  const free0 = m.pm.freeFrames;
  const p = await m.createProcess();
  const tables0 = m.pt.inUse;
  return { m, p, free0, tables0 };
}

/** Maps `pages` pages at BASE and writes a distinct pattern into each. */
async function filled(p: Awaited<ReturnType<typeof boot>>['p'], pages: number): Promise<void> {
  expect(await p.mmap(BASE, pages * P, RW, FIXED, -1, 0)).toBe(BASE);
  for (let i = 0; i < pages; i++) await p.write(BASE + i * P, pattern(P, i + 1));
}

function spans(p: { mm: { vmas: { start: number; end: number }[] } }): [number, number][] {
  return p.mm.vmas.map((v) => [v.start, v.end]);
}

describe('munmap', () => {
  it('unmapping the middle splits the VMA in two and frees exactly those pages', async () => {
    const { m, p, free0 } = await boot();
    await filled(p, 8);
    expect(m.pm.freeFrames).toBe(free0 - 8);
    const rec = recordInvalidations(m);
    expect(await p.munmap(BASE + 2 * P, 2 * P)).toBe(0);
    rec.stop();
    expect(spans(p)).toEqual([
      [BASE, BASE + 2 * P],
      [BASE + 4 * P, BASE + 8 * P],
    ]);
    expect(p.mm.vmas[1]!.pgoff).toBe(p.mm.vmas[0]!.pgoff + 4);
    expect(rec.events.map((e) => [e.event, e.start, e.end])).toEqual([
      [MMU_NOTIFY_UNMAP, BASE + 2 * P, BASE + 4 * P],
    ]);
    expect(m.pm.freeFrames).toBe(free0 - 6);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(6);
    for (const i of [0, 1, 4, 5, 6, 7])
      expect(diffAt(await p.read(BASE + i * P, P), pattern(P, i + 1))).toBe(-1);
    const err = await rejectionOf(p.read(BASE + 3 * P + 8, 4));
    expect(err).toBeInstanceOf(SegmentationFault);
    expect((err as SegmentationFault).addr).toBe(BASE + 3 * P + 8);
  });

  it('unmapping the head or the tail trims the VMA', async () => {
    const { p } = await boot();
    await filled(p, 4);
    expect(await p.munmap(BASE, P)).toBe(0);
    expect(spans(p)).toEqual([[BASE + P, BASE + 4 * P]]);
    expect(await p.munmap(BASE + 3 * P, P)).toBe(0);
    expect(spans(p)).toEqual([[BASE + P, BASE + 3 * P]]);
    expect(diffAt(await p.read(BASE + P, 2 * P), new Uint8Array([...pattern(P, 2), ...pattern(P, 3)]))).toBe(
      -1,
    );
    expect(p.mm.rss[MM_ANONPAGES]).toBe(2);
  });

  it('a range over several VMAs and holes splits at both ends and returns 0', async () => {
    const { p } = await boot();
    expect(await p.mmap(BASE, 4 * P, RW, FIXED, -1, 0)).toBe(BASE);
    expect(await p.mmap(BASE + 6 * P, 4 * P, RW, FIXED, -1, 0)).toBe(BASE + 6 * P);
    expect(await p.munmap(BASE + 2 * P, 6 * P)).toBe(0);
    expect(spans(p)).toEqual([
      [BASE, BASE + 2 * P],
      [BASE + 8 * P, BASE + 10 * P],
    ]);
  });

  it('unmapping where nothing is mapped returns 0 and announces nothing', async () => {
    const { m, p } = await boot();
    const rec = recordInvalidations(m);
    expect(await p.munmap(BASE, 16 * P)).toBe(0);
    expect(await p.munmap(BASE, P)).toBe(0);
    rec.stop();
    expect(rec.events).toEqual([]);
  });

  it('an unaligned address, a zero length or a range beyond TASK_SIZE is -EINVAL', async () => {
    const { p } = await boot();
    await filled(p, 2);
    expect(await p.munmap(BASE + 1, P)).toBe(-EINVAL);
    expect(await p.munmap(BASE + P / 2, P)).toBe(-EINVAL);
    expect(await p.munmap(BASE, 0)).toBe(-EINVAL);
    expect(await p.munmap(TASK_SIZE - P, 2 * P)).toBe(-EINVAL);
    expect(await p.munmap(TASK_SIZE, P)).toBe(-EINVAL);
    expect(spans(p)).toEqual([[BASE, BASE + 2 * P]]);
    // An unaligned length is rounded up to whole pages.
    expect(await p.munmap(BASE, 1)).toBe(0);
    expect(spans(p)).toEqual([[BASE + P, BASE + 2 * P]]);
  });

  it('shared mappings lose their mapping, not the data: a new mapping of the file finds it', async () => {
    const { p } = await boot();
    const fd = await p.createTmpFile(2 * P);
    const a = await p.mmap(0, 2 * P, RW, MAP_SHARED, fd, 0);
    await p.write(a, pattern(2 * P, 5));
    expect(p.mm.rss[MM_FILEPAGES]).toBe(2);
    expect(await p.munmap(a, 2 * P)).toBe(0);
    expect(p.mm.rss[MM_FILEPAGES]).toBe(0);
    const b = await p.mmap(0, 2 * P, PROT_READ, MAP_SHARED, fd, 0);
    expect(diffAt(await p.read(b, 2 * P), pattern(2 * P, 5))).toBe(-1);
  });

  it('frees the page tables no VMA needs any more', async () => {
    const { m, p, tables0 } = await boot();
    expect(tables0).toBe(1); // the PGD
    await filled(p, 4);
    expect(await p.mmap(BASE + 2 * PMD_SIZE, P, RW, FIXED, -1, 0)).toBe(BASE + 2 * PMD_SIZE);
    await p.store32(BASE + 2 * PMD_SIZE, 1);
    // PUD table, PMD table and two PTE tables.
    expect(m.pt.inUse).toBe(tables0 + 4);
    expect(await p.munmap(BASE, 4 * P)).toBe(0);
    expect(m.pt.inUse).toBe(tables0 + 3); // the first PTE table went; the others are still needed
    expect(await p.munmap(BASE + 2 * PMD_SIZE, P)).toBe(0);
    expect(m.pt.inUse).toBe(tables0);
  });

  it('a PTE table shared with a neighbouring VMA stays until that VMA goes', async () => {
    const { m, p, tables0 } = await boot();
    await filled(p, 4);
    expect(await p.mmap(BASE + 8 * P, P, RW, FIXED, -1, 0)).toBe(BASE + 8 * P);
    await p.store32(BASE + 8 * P, 7);
    expect(await p.munmap(BASE, 4 * P)).toBe(0);
    expect(m.pt.inUse).toBe(tables0 + 3);
    expect(await p.load32(BASE + 8 * P)).toBe(7);
    expect(await p.munmap(BASE + 8 * P, P)).toBe(0);
    expect(m.pt.inUse).toBe(tables0);
  });
});

describe('munmap of huge pages', () => {
  it('a partial unmap of a THP splits its PMD (CLEAR over 2 MiB, then UNMAP); the folio waits on the deferred-split queue', async () => {
    const { m, p, free0, tables0 } = await boot({ thp: 'always' });
    expect(await p.mmap(BASE, PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
    const data = pattern(PMD_SIZE, 3);
    await p.write(BASE, data);
    const leaf = leafAt(m, p.mm, BASE + 5 * P);
    expect([leaf.level, leaf.leaf]).toEqual([2, true]);
    expect(m.pm.freeFrames).toBe(free0 - 512);
    const rec = recordInvalidations(m);
    expect(await p.munmap(BASE + PMD_SIZE / 2, PMD_SIZE / 2)).toBe(0);
    rec.stop();
    expect(rec.events.map((e) => [e.event, e.start, e.end])).toEqual([
      [MMU_NOTIFY_CLEAR, BASE, BASE + PMD_SIZE],
      [MMU_NOTIFY_UNMAP, BASE + PMD_SIZE / 2, BASE + PMD_SIZE],
    ]);
    expect(spans(p)).toEqual([[BASE, BASE + PMD_SIZE / 2]]);
    expect(leafAt(m, p.mm, BASE).level).toBe(1);
    // The unmapped half stays allocated until the shrinker splits the folio (deferred_split_folio).
    expect(m.pm.freeFrames).toBe(free0 - 512);
    expect(m.deferredSplitQueue.size).toBe(1);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(256);
    expect(diffAt(await p.read(BASE, PMD_SIZE / 2), data.subarray(0, PMD_SIZE / 2))).toBe(-1);
    expect(await p.munmap(BASE, PMD_SIZE / 2)).toBe(0);
    expect(m.pm.freeFrames).toBe(free0);
    expect(m.deferredSplitQueue.size).toBe(0);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(0);
    expect(m.pt.inUse).toBe(tables0);
  });

  it('MADV_HUGEPAGE under thp=madvise: unmapping a hole in the middle of the THP', async () => {
    const { m, p, free0 } = await boot();
    expect(await p.mmap(BASE, 2 * PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
    expect(await p.madvise(BASE, 2 * PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
    await p.store32(BASE, 0xaaaa);
    await p.store32(BASE + PMD_SIZE - 4, 0xbbbb);
    expect(leafAt(m, p.mm, BASE).leaf).toBe(true);
    expect(leafAt(m, p.mm, BASE + PMD_SIZE).kind).toBe(0); // second chunk untouched
    expect(await p.munmap(BASE + 100 * P, 10 * P)).toBe(0);
    // The ten pages stay allocated with their folio, queued for the deferred split.
    expect(m.pm.freeFrames).toBe(free0 - 512);
    expect(m.deferredSplitQueue.size).toBe(1);
    expect(await p.load32(BASE)).toBe(0xaaaa);
    expect(await p.load32(BASE + PMD_SIZE - 4)).toBe(0xbbbb);
    expect(spans(p)).toEqual([
      [BASE, BASE + 100 * P],
      [BASE + 110 * P, BASE + 2 * PMD_SIZE],
    ]);
  });

  it('unmapping a whole THP frees the folio without splitting it', async () => {
    const { m, p, free0 } = await boot({ thp: 'always' });
    expect(await p.mmap(BASE, 2 * PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
    await p.store32(BASE + PMD_SIZE, 1);
    const rec = recordInvalidations(m);
    expect(await p.munmap(BASE + PMD_SIZE, PMD_SIZE)).toBe(0);
    rec.stop();
    expect(rec.events.map((e) => e.event)).toEqual([MMU_NOTIFY_UNMAP]);
    expect(m.pm.freeFrames).toBe(free0);
  });

  it('hugetlb: a split that is not 2 MiB aligned is -EINVAL; an aligned one returns the page to the pool', async () => {
    const { m, p } = await boot({ hugetlbPages: 2 });
    const a = await p.mmap(0, 2 * PMD_SIZE, RW, ANON | MAP_HUGETLB, -1, 0);
    await p.store32(a, 1);
    await p.store32(a + PMD_SIZE, 2);
    expect(m.hugetlb.freeHugePages).toBe(0);
    expect(await p.munmap(a, P)).toBe(-EINVAL);
    expect(await p.munmap(a + P, PMD_SIZE)).toBe(-EINVAL);
    expect(await p.munmap(a + PMD_SIZE - P, 2 * P)).toBe(-EINVAL);
    expect(spans(p)).toEqual([[a, a + 2 * PMD_SIZE]]);
    expect(await p.load32(a)).toBe(1);
    expect(await p.munmap(a + PMD_SIZE, PMD_SIZE)).toBe(0);
    expect(m.hugetlb.freeHugePages).toBe(1);
    expect(p.mm.hugetlbPages).toBe(512);
    expect(await p.load32(a)).toBe(1);
    // A length short of the huge page is fine when nothing has to be split (the VMA ends there).
    expect(await p.munmap(a, PMD_SIZE - P)).toBe(-EINVAL);
    expect(await p.munmap(a, PMD_SIZE + P)).toBe(0);
    expect(m.hugetlb.freeHugePages).toBe(2);
    expect(p.mm.hugetlbPages).toBe(0);
  });
});

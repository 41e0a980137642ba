/** madvise(2): DONTNEED, FREE, HUGEPAGE / NOHUGEPAGE, PAGEOUT, COLLAPSE, and the errors. */
import { describe, expect, it } from 'vitest';
import {
  EINVAL,
  ENOMEM,
  MADV_COLLAPSE,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  MM_ANONPAGES,
  MM_FILEPAGES,
  MM_SHMEMPAGES,
  MM_SWAPENTS,
  MMU_NOTIFY_CLEAR,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  VM_HUGEPAGE,
  VM_NOHUGEPAGE,
} from '../../../src/index.ts';
import { diffAt, zeros } from './bytes.ts';
import { leafAt, MiB, pattern, recordInvalidations } from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const FIXED = ANON | MAP_FIXED;
const P = PAGE_SIZE;
const BASE = 0x4000_0000;
/** The PTE kind of a swap entry (src/mm/pte.ts). */
const KIND_SWAP = 3;

async function boot(options: ConstructorParameters<typeof Machine>[0] = {}) {
  const m = new Machine({ memory: 32 * MiB, hugetlbPages: 0, ...options });
  const free0 = m.pm.freeFrames;
  const p = await m.createProcess();
  return { m, p, free0 };
}

type Proc = Awaited<ReturnType<typeof boot>>['p'];

/** Maps `pages` pages at `at` and writes a distinct pattern into each. */
async function filled(p: Proc, pages: number, at = BASE): Promise<void> {
  expect(await p.mmap(at, pages * P, RW, FIXED, -1, 0)).toBe(at);
  for (let i = 0; i < pages; i++) await p.write(at + i * P, pattern(P, i + 1));
}

describe('madvise argument checks', () => {
  it('unknown advice is -EINVAL', async () => {
    const { p } = await boot();
    await filled(p, 1);
    for (const advice of [5, 6, 7, 26, 99, 1000, -1]) expect(await p.madvise(BASE, P, advice)).toBe(-EINVAL);
  });

  it('an unaligned start is -EINVAL; a zero length is 0; an unaligned length is rounded up', async () => {
    const { p } = await boot();
    await filled(p, 2);
    expect(await p.madvise(BASE + 1, P, MADV_DONTNEED)).toBe(-EINVAL);
    expect(await p.madvise(BASE, 0, MADV_DONTNEED)).toBe(0);
    expect(await p.madvise(BASE + 64 * P, 0, MADV_DONTNEED)).toBe(0); // even where nothing is mapped
    expect(await p.madvise(BASE, 1, MADV_DONTNEED)).toBe(0);
    expect(diffAt(await p.read(BASE, P), zeros(P))).toBe(-1);
    expect(diffAt(await p.read(BASE + P, P), pattern(P, 2))).toBe(-1);
  });

  it('-ENOMEM when part of the range is unmapped, after advising the mapped parts', async () => {
    const { p } = await boot();
    await filled(p, 1);
    await filled(p, 1, BASE + 2 * P);
    expect(await p.madvise(BASE, 3 * P, MADV_DONTNEED)).toBe(-ENOMEM);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(0);
    expect(diffAt(await p.read(BASE + 2 * P, P), zeros(P))).toBe(-1);
    expect(await p.madvise(BASE + 8 * P, 2 * P, MADV_DONTNEED)).toBe(-ENOMEM);
    expect(await p.madvise(BASE + 8 * P, 2 * P, MADV_HUGEPAGE)).toBe(-ENOMEM);
    expect(await p.madvise(BASE + 2 * P, 2 * P, MADV_HUGEPAGE)).toBe(-ENOMEM);
    expect(p.mm.vmaLookup(BASE + 2 * P)!.flags & VM_HUGEPAGE).toBe(VM_HUGEPAGE);
  });
});

describe('MADV_DONTNEED', () => {
  it('anonymous: pages are dropped, read back as zeros, rss and frames drop, CLEAR over the range', async () => {
    const { m, p, free0 } = await boot();
    await filled(p, 4);
    const rec = recordInvalidations(m);
    expect(await p.madvise(BASE + P, 2 * P, MADV_DONTNEED)).toBe(0);
    rec.stop();
    expect(rec.events.map((e) => [e.event, e.start, e.end])).toEqual([
      [MMU_NOTIFY_CLEAR, BASE + P, BASE + 3 * P],
    ]);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(2);
    expect(m.pm.freeFrames).toBe(free0 - 2);
    expect(p.mm.vmas).toHaveLength(1); // the mapping stays
    expect(diffAt(await p.read(BASE + P, 2 * P), zeros(2 * P))).toBe(-1);
    expect(diffAt(await p.read(BASE, P), pattern(P, 1))).toBe(-1);
    expect(diffAt(await p.read(BASE + 3 * P, P), pattern(P, 4))).toBe(-1);
  });

  it('private file: dropping the private copy shows the file contents again', async () => {
    const { p } = await boot();
    const fd = await p.createTmpFile(P);
    const shared = await p.mmap(0, P, RW, MAP_SHARED, fd, 0);
    await p.store32(shared, 0x1111);
    const priv = await p.mmap(0, P, RW, MAP_PRIVATE, fd, 0);
    await p.store32(priv, 0x2222);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
    expect(await p.madvise(priv, P, MADV_DONTNEED)).toBe(0);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(0);
    expect(await p.load32(priv)).toBe(0x1111);
  });

  it('shared memory: only the mapping goes, the data stays in the shmem object', async () => {
    const { p } = await boot();
    const a = await p.mmap(0, 2 * P, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    await p.write(a, pattern(2 * P, 3));
    expect(p.mm.rss[MM_SHMEMPAGES]).toBe(2);
    expect(await p.madvise(a, 2 * P, MADV_DONTNEED)).toBe(0);
    expect(p.mm.rss[MM_SHMEMPAGES]).toBe(0);
    expect(diffAt(await p.read(a, 2 * P), pattern(2 * P, 3))).toBe(-1);
  });

  it('a partial range of a THP splits its PMD; the folio, partly mapped, waits on the deferred-split queue', async () => {
    const { m, p, free0 } = await boot({ thp: 'always' });
    expect(await p.mmap(BASE, PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
    await p.store32(BASE, 5);
    await p.store32(BASE + 3 * P, 6);
    expect(leafAt(m, p.mm, BASE).leaf).toBe(true);
    expect(await p.madvise(BASE + 2 * P, 2 * P, MADV_DONTNEED)).toBe(0);
    expect(leafAt(m, p.mm, BASE).level).toBe(1);
    expect(m.pm.freeFrames).toBe(free0 - 512);
    expect(m.deferredSplitQueue.size).toBe(1);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(510);
    expect(await p.load32(BASE)).toBe(5);
    expect(await p.load32(BASE + 3 * P)).toBe(0);
  });

  it('hugetlb: the end is rounded down to whole huge pages; an unaligned start is -EINVAL', async () => {
    const { m, p } = await boot({ hugetlbPages: 2 });
    const a = await p.mmap(0, 2 * PMD_SIZE, RW, ANON | MAP_HUGETLB, -1, 0);
    await p.store32(a, 1);
    await p.store32(a + PMD_SIZE, 2);
    expect(await p.madvise(a + P, P, MADV_DONTNEED)).toBe(-EINVAL);
    expect(await p.madvise(a, PMD_SIZE + P, MADV_DONTNEED)).toBe(0);
    expect(m.hugetlb.freeHugePages).toBe(1);
    expect(await p.load32(a)).toBe(0);
    expect(await p.load32(a + PMD_SIZE)).toBe(2);
  });
});

describe('MADV_FREE', () => {
  it('anonymous: returns 0 and keeps the data while there is no reclaim', async () => {
    const { m, p, free0 } = await boot();
    await filled(p, 2);
    const rec = recordInvalidations(m);
    expect(await p.madvise(BASE, 2 * P, MADV_FREE)).toBe(0);
    rec.stop();
    expect(rec.events.map((e) => [e.event, e.start, e.end])).toEqual([
      [MMU_NOTIFY_CLEAR, BASE, BASE + 2 * P],
    ]);
    expect(diffAt(await p.read(BASE, P), pattern(P, 1))).toBe(-1);
    expect(m.pm.freeFrames).toBe(free0 - 2);
    expect(leafAt(m, p.mm, BASE).dirty).toBe(false);
  });

  it('clean lazily-freed pages are discarded by reclaim; redirtied ones are written to swap', async () => {
    const { m, p, free0 } = await boot({ swap: MiB });
    await filled(p, 2);
    expect(await p.madvise(BASE, 2 * P, MADV_FREE)).toBe(0);
    await p.store32(BASE + P, 0xfeed); // the second page is written again: no longer lazily freeable
    expect(await p.madvise(BASE, 2 * P, MADV_PAGEOUT)).toBe(0);
    expect(m.swap.inUse).toBe(1);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(0);
    expect(p.mm.rss[MM_SWAPENTS]).toBe(1);
    expect(m.pm.freeFrames).toBe(free0);
    expect(diffAt(await p.read(BASE, P), zeros(P))).toBe(-1); // discarded: zero-fill on next touch
    const second = pattern(P, 2);
    second.set([0xed, 0xfe, 0, 0]);
    expect(diffAt(await p.read(BASE + P, P), second)).toBe(-1);
  });

  it('frees swap entries in the range', async () => {
    const { m, p } = await boot({ swap: MiB });
    await filled(p, 2);
    expect(await p.madvise(BASE, 2 * P, MADV_PAGEOUT)).toBe(0);
    expect(m.swap.inUse).toBe(2);
    expect(await p.madvise(BASE, P, MADV_FREE)).toBe(0);
    expect(m.swap.inUse).toBe(1);
    expect(p.mm.rss[MM_SWAPENTS]).toBe(1);
    expect(diffAt(await p.read(BASE, P), zeros(P))).toBe(-1);
    expect(diffAt(await p.read(BASE + P, P), pattern(P, 2))).toBe(-1);
  });

  it('is -EINVAL on shared, file and hugetlb mappings', async () => {
    const { p } = await boot({ hugetlbPages: 1 });
    const sh = await p.mmap(0, P, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    await p.store32(sh, 3);
    expect(await p.madvise(sh, P, MADV_FREE)).toBe(-EINVAL);
    expect(await p.load32(sh)).toBe(3);
    const fd = await p.createTmpFile(P);
    const priv = await p.mmap(0, P, RW, MAP_PRIVATE, fd, 0);
    expect(await p.madvise(priv, P, MADV_FREE)).toBe(-EINVAL);
    const huge = await p.mmap(0, PMD_SIZE, RW, ANON | MAP_HUGETLB, -1, 0);
    expect(await p.madvise(huge, PMD_SIZE, MADV_FREE)).toBe(-EINVAL);
  });
});

describe('MADV_HUGEPAGE / MADV_NOHUGEPAGE', () => {
  it('set VM_HUGEPAGE / VM_NOHUGEPAGE on exactly the range, splitting the VMA', async () => {
    const { p } = await boot();
    expect(await p.mmap(BASE, 4 * P, RW, FIXED, -1, 0)).toBe(BASE);
    expect(await p.madvise(BASE + P, 2 * P, MADV_HUGEPAGE)).toBe(0);
    const flags = () => p.mm.vmas.map((v) => [v.start, v.end, v.flags & (VM_HUGEPAGE | VM_NOHUGEPAGE)]);
    expect(flags()).toEqual([
      [BASE, BASE + P, 0],
      [BASE + P, BASE + 3 * P, VM_HUGEPAGE],
      [BASE + 3 * P, BASE + 4 * P, 0],
    ]);
    expect(await p.madvise(BASE + 2 * P, P, MADV_NOHUGEPAGE)).toBe(0);
    expect(flags()).toEqual([
      [BASE, BASE + P, 0],
      [BASE + P, BASE + 2 * P, VM_HUGEPAGE],
      [BASE + 2 * P, BASE + 3 * P, VM_NOHUGEPAGE],
      [BASE + 3 * P, BASE + 4 * P, 0],
    ]);
  });

  it('merge the changed VMAs with neighbours of the same flags (madvise_update_vma → vma_modify_flags)', async () => {
    const { m, p } = await boot({ thp: 'madvise' });
    expect(await p.mmap(BASE, 2 * PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
    const spans = () => p.mm.vmas.map((v) => [v.start, v.end, v.flags & (VM_HUGEPAGE | VM_NOHUGEPAGE)]);
    expect(await p.madvise(BASE, 600 * P, MADV_HUGEPAGE)).toBe(0);
    expect(await p.madvise(BASE + 600 * P, 2 * PMD_SIZE - 600 * P, MADV_HUGEPAGE)).toBe(0);
    expect(spans()).toEqual([[BASE, BASE + 2 * PMD_SIZE, VM_HUGEPAGE]]);
    // One VMA again: the 2 MiB block across the first call's end may be a THP (the kernel agrees:
    // kernel/regressions/madvise-hugepage-merge.json).
    await p.store32(BASE + 520 * P, 3);
    expect(leafAt(m, p.mm, BASE + PMD_SIZE).leaf).toBe(true);
    expect(await p.madvise(BASE, 100 * P, MADV_NOHUGEPAGE)).toBe(0);
    expect(spans()).toEqual([
      [BASE, BASE + 100 * P, VM_NOHUGEPAGE],
      [BASE + 100 * P, BASE + 2 * PMD_SIZE, VM_HUGEPAGE],
    ]);
    expect(await p.madvise(BASE, 100 * P, MADV_HUGEPAGE)).toBe(0);
    expect(spans()).toEqual([[BASE, BASE + 2 * PMD_SIZE, VM_HUGEPAGE]]);
  });

  it('decide whether a fault maps a THP: HUGEPAGE under thp=madvise, NOHUGEPAGE under thp=always', async () => {
    const a = await boot({ thp: 'madvise' });
    expect(await a.p.mmap(BASE, 2 * PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
    expect(await a.p.madvise(BASE, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
    await a.p.store32(BASE, 1);
    await a.p.store32(BASE + PMD_SIZE, 1);
    expect(leafAt(a.m, a.p.mm, BASE).leaf).toBe(true);
    expect(leafAt(a.m, a.p.mm, BASE + PMD_SIZE).level).toBe(1);
    expect(a.p.mm.rss[MM_ANONPAGES]).toBe(513);

    const b = await boot({ thp: 'always' });
    expect(await b.p.mmap(BASE, 2 * PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
    expect(await b.p.madvise(BASE + PMD_SIZE, PMD_SIZE, MADV_NOHUGEPAGE)).toBe(0);
    await b.p.store32(BASE, 1);
    await b.p.store32(BASE + PMD_SIZE, 1);
    expect(leafAt(b.m, b.p.mm, BASE).leaf).toBe(true);
    expect(leafAt(b.m, b.p.mm, BASE + PMD_SIZE).level).toBe(1);
  });
});

describe('MADV_PAGEOUT', () => {
  it('writes anonymous pages to swap: rss moves from anon to swap, data comes back, slots are freed', async () => {
    const { m, p, free0 } = await boot({ swap: MiB });
    await filled(p, 4);
    const before = await p.read(BASE, 4 * P);
    expect(await p.madvise(BASE, 4 * P, MADV_PAGEOUT)).toBe(0);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(0);
    expect(p.mm.rss[MM_SWAPENTS]).toBe(4);
    expect(m.swap.inUse).toBe(4);
    expect(m.pm.freeFrames).toBe(free0);
    expect(leafAt(m, p.mm, BASE + 2 * P).kind).toBe(KIND_SWAP);
    expect(diffAt(await p.read(BASE, 4 * P), before)).toBe(-1);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(4);
    expect(p.mm.rss[MM_SWAPENTS]).toBe(0);
    expect(m.swap.inUse).toBe(0);
    expect(m.pm.freeFrames).toBe(free0 - 4);
  });

  it('without swap the pages stay where they are', async () => {
    const { m, p, free0 } = await boot();
    await filled(p, 2);
    expect(await p.madvise(BASE, 2 * P, MADV_PAGEOUT)).toBe(0);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(2);
    expect(p.mm.rss[MM_SWAPENTS]).toBe(0);
    expect(m.pm.freeFrames).toBe(free0 - 2);
    expect(diffAt(await p.read(BASE + P, P), pattern(P, 2))).toBe(-1);
  });

  it('leaves pages shared with a child, and zero pages, alone', async () => {
    const { m, p } = await boot({ swap: MiB });
    await filled(p, 2);
    await p.load32(BASE + 2 * P - 4); // already present
    expect(await p.mmap(BASE + 2 * P, P, PROT_READ, FIXED, -1, 0)).toBe(BASE + 2 * P);
    await p.load32(BASE + 2 * P); // the zero page
    const child = await p.fork();
    expect(await p.madvise(BASE, 3 * P, MADV_PAGEOUT)).toBe(0);
    expect(m.swap.inUse).toBe(0);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(2);
    await child.store32(BASE, 9); // the child copies page 0, the parent's page 0 is its own again
    expect(await p.madvise(BASE, 3 * P, MADV_PAGEOUT)).toBe(0);
    expect(m.swap.inUse).toBe(1);
    expect(diffAt(await p.read(BASE, P), pattern(P, 1))).toBe(-1);
  });

  it('splits a THP and writes its pages to swap', async () => {
    const { m, p, free0 } = await boot({ swap: 4 * MiB, thp: 'always' });
    expect(await p.mmap(BASE, PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
    const data = pattern(PMD_SIZE, 11);
    await p.write(BASE, data);
    expect(leafAt(m, p.mm, BASE).leaf).toBe(true);
    expect(await p.madvise(BASE, PMD_SIZE, MADV_PAGEOUT)).toBe(0);
    expect(p.mm.rss[MM_SWAPENTS]).toBe(512);
    expect(m.pm.freeFrames).toBe(free0);
    expect(diffAt(await p.read(BASE, PMD_SIZE), data)).toBe(-1);
    expect(m.swap.inUse).toBe(0);
  });

  it('splits a THP it cannot swap whole with split_folio: zero-filled pages become the zero page', async () => {
    // No swap: shrink_folio_list's add_to_swap() fails and split_folio_to_list() splits the
    // folio (RMP_USE_SHARED_ZEROPAGE); the written pages stay, as nothing can take them.
    const { m, p } = await boot({ thp: 'always' });
    expect(await p.mmap(BASE, PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
    await p.store32(BASE + 3 * P, 7);
    expect(await p.madvise(BASE, PMD_SIZE, MADV_PAGEOUT)).toBe(0);
    const zero = leafAt(m, p.mm, BASE).pfn;
    expect(m.pm.isZeroPfn(zero)).toBe(true);
    expect(
      [0, 1, 2, 4, 511].map((i) => leafAt(m, p.mm, BASE + i * P)).every((e) => e.special && !e.write),
    ).toBe(true);
    const kept = leafAt(m, p.mm, BASE + 3 * P);
    expect([kept.level, kept.special, kept.write]).toEqual([1, false, true]);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
    expect(await p.load32(BASE + 3 * P)).toBe(7);
    expect(await p.load32(BASE + 4 * P)).toBe(0);
  });

  it('splits a THP only part of which is in the range, whatever the swap: the zero pages outside it too', async () => {
    // madvise_cold_or_pageout_pte_range: split_folio() when the range holds part of the folio,
    // then the pages in the range are reclaimed (to swap).
    const { m, p } = await boot({ swap: 4 * MiB, thp: 'always' });
    expect(await p.mmap(BASE, PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
    await p.store32(BASE + 3 * P, 7);
    await p.store32(BASE + 300 * P, 9);
    expect(await p.madvise(BASE, 4 * P, MADV_PAGEOUT)).toBe(0);
    expect(leafAt(m, p.mm, BASE + 3 * P).kind).toBe(KIND_SWAP);
    expect(m.swap.inUse).toBe(1);
    for (const i of [0, 4, 299, 511]) expect(m.pm.isZeroPfn(leafAt(m, p.mm, BASE + i * P).pfn)).toBe(true);
    expect(leafAt(m, p.mm, BASE + 300 * P).write).toBe(true);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
    expect([await p.load32(BASE + 3 * P), await p.load32(BASE + 300 * P)]).toEqual([7, 9]);
  });

  it('is -EINVAL on hugetlb', async () => {
    const { p } = await boot({ swap: MiB, hugetlbPages: 1 });
    const huge = await p.mmap(0, PMD_SIZE, RW, ANON | MAP_HUGETLB, -1, 0);
    await p.store32(huge, 1);
    expect(await p.madvise(huge, PMD_SIZE, MADV_PAGEOUT)).toBe(-EINVAL);
    expect(await p.load32(huge)).toBe(1);
  });

  it('unmaps file and shmem pages mapped once, which stay in the page cache (fuzz-6-106)', async () => {
    // try_to_unmap clears the PTE before writeback is looked at; shmem without swap and file
    // pages stay cached, and the next access maps the same page again.
    for (const shared of [false, true]) {
      const { m, p } = await boot();
      const fd = await p.createTmpFile(3 * P);
      const f = shared
        ? await p.mmap(0, 3 * P, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        : await p.mmap(0, 3 * P, RW, MAP_SHARED, fd, 0);
      const counter = shared ? MM_SHMEMPAGES : MM_FILEPAGES;
      await p.store32(f, 2);
      await p.load32(f + P);
      const page0 = leafAt(m, p.mm, f).pfn;
      // Page 2 is also mapped a second time: folio_mapcount() is 2, it is left alone.
      const g = shared ? -1 : await p.mmap(0, P, RW, MAP_SHARED, fd, 2 * P);
      if (!shared) await p.load32(g);
      await p.load32(f + 2 * P);
      const rec = recordInvalidations(m);
      expect(await p.madvise(f, 3 * P, MADV_PAGEOUT)).toBe(0);
      rec.stop();
      const left = shared ? 0 : 2;
      expect([shared, p.mm.rss[counter]]).toEqual([shared, left]);
      expect(rec.events.map((e) => [e.event, e.start - f, e.end - f])).toEqual(
        [0, 1, 2].slice(0, shared ? 3 : 2).map((i) => [MMU_NOTIFY_CLEAR, i * P, (i + 1) * P]),
      );
      expect(leafAt(m, p.mm, f).kind).toBe(0);
      expect(await p.load32(f)).toBe(2);
      expect(leafAt(m, p.mm, f).pfn).toBe(page0);
      expect(p.mm.rss[counter]).toBe(left + 1);
    }
  });

  it('leaves the anonymous copy of a private file page in place without swap', async () => {
    const { m, p } = await boot();
    const fd = await p.createTmpFile(2 * P);
    const f = await p.mmap(0, 2 * P, RW, MAP_PRIVATE, fd, 0);
    await p.store32(f, 3); // an anonymous copy
    await p.load32(f + P); // the page-cache page
    expect(await p.madvise(f, 2 * P, MADV_PAGEOUT)).toBe(0);
    expect([p.mm.rss[MM_ANONPAGES], p.mm.rss[MM_FILEPAGES]]).toEqual([1, 0]);
    expect(leafAt(m, p.mm, f).kind).not.toBe(0);
    expect(await p.load32(f)).toBe(3);
  });
});

describe('MADV_HUGEPAGE that changes nothing', () => {
  it('leaves the VMA whole and a PMD-mapped THP mapped by its PMD (Linux 6.12, fuzz-2-31)', async () => {
    const { m, p } = await boot({ thp: 'always' });
    expect(await p.mmap(BASE, PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
    expect(await p.madvise(BASE, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
    await p.store32(BASE, 1);
    expect(leafAt(m, p.mm, BASE).level).toBe(2);
    const n = [...p.mm.vmasIn(0, 2 ** 47)].length;
    expect(await p.madvise(BASE + 292 * P, 156 * P, MADV_HUGEPAGE)).toBe(0);
    expect([...p.mm.vmasIn(0, 2 ** 47)].length).toBe(n);
    expect(leafAt(m, p.mm, BASE + 300 * P).level).toBe(2);
  });
});

describe('MADV_COLLAPSE', () => {
  it('collapses PTE-mapped pages into one PMD-mapped THP, data preserved, small pages freed', async () => {
    const { m, p, free0 } = await boot({ swap: MiB });
    expect(await p.mmap(BASE, PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
    for (const i of [0, 1, 100, 511]) await p.write(BASE + i * P, pattern(P, i));
    await p.load32(BASE + 200 * P); // a zero page
    expect(await p.madvise(BASE + 100 * P, P, MADV_PAGEOUT)).toBe(0); // a swap entry
    expect(leafAt(m, p.mm, BASE).level).toBe(1);
    const rec = recordInvalidations(m);
    expect(await p.madvise(BASE, PMD_SIZE, MADV_COLLAPSE)).toBe(0);
    rec.stop();
    expect(rec.events.map((e) => [e.event, e.start, e.end])).toEqual([
      [MMU_NOTIFY_CLEAR, BASE, BASE + PMD_SIZE],
    ]);
    const leaf = leafAt(m, p.mm, BASE + 7 * P);
    expect([leaf.level, leaf.leaf, leaf.write]).toEqual([2, true, true]);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(512);
    expect(p.mm.rss[MM_SWAPENTS]).toBe(0);
    expect(m.swap.inUse).toBe(0);
    expect(m.pm.freeFrames).toBe(free0 - 512);
    for (const i of [0, 1, 100, 511]) expect(diffAt(await p.read(BASE + i * P, P), pattern(P, i))).toBe(-1);
    expect(diffAt(await p.read(BASE + 200 * P, P), zeros(P))).toBe(-1);
    expect(leafAt(m, p.mm, BASE).pfn).toBe(leaf.pfn); // still the same huge leaf after the reads
  });

  it('is -EINVAL for a block whose pages are all mapped read-only (COW-shared after fork: SCAN_PAGE_RO)', async () => {
    const { m, p } = await boot();
    expect(await p.mmap(BASE, 2 * PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
    for (const i of [0, 5, 511]) await p.store32(BASE + i * P, i + 1);
    await p.store32(BASE + PMD_SIZE, 7);
    const child = await p.fork();
    // The second block gets one writable page again (its COW copy): it collapses, the first
    // does not, and the call reports the first one's failure at the end.
    await p.store32(BASE + PMD_SIZE + P, 8);
    expect(await p.madvise(BASE, 2 * PMD_SIZE, MADV_COLLAPSE)).toBe(-EINVAL);
    expect(leafAt(m, p.mm, BASE).level).toBe(1);
    expect(leafAt(m, p.mm, BASE + PMD_SIZE).leaf).toBe(true);
    expect(await p.load32(BASE + 511 * P)).toBe(512);
    expect(await child.load32(BASE + PMD_SIZE)).toBe(7);
  });

  it('only whole 2 MiB chunks inside the range are collapsed; a smaller range does nothing', async () => {
    const { m, p } = await boot();
    expect(await p.mmap(BASE, 2 * PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
    await p.store32(BASE, 1);
    await p.store32(BASE + PMD_SIZE, 2);
    expect(await p.madvise(BASE, PMD_SIZE - P, MADV_COLLAPSE)).toBe(0);
    expect(leafAt(m, p.mm, BASE).level).toBe(1);
    expect(await p.madvise(BASE + P, 2 * PMD_SIZE - P, MADV_COLLAPSE)).toBe(0);
    expect(leafAt(m, p.mm, BASE).level).toBe(1);
    expect(leafAt(m, p.mm, BASE + PMD_SIZE).leaf).toBe(true);
    expect(await p.load32(BASE + PMD_SIZE)).toBe(2);
  });

  it('is -EINVAL for a range strictly inside one 2 MiB block (hstart > hend: the unsigned count wraps)', async () => {
    const { m, p } = await boot();
    expect(await p.mmap(BASE, 2 * PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
    await p.store32(BASE, 1);
    // Linux 6.12 in the kernel oracle (fuzz-1-134): pages 293..372 of an aligned block.
    expect(await p.madvise(BASE + 293 * P, 80 * P, MADV_COLLAPSE)).toBe(-EINVAL);
    expect(await p.madvise(BASE + P, PMD_SIZE - P, MADV_COLLAPSE)).toBe(0); // ends on the boundary
    expect(await p.madvise(BASE + P, PMD_SIZE, MADV_COLLAPSE)).toBe(0); // crosses it: hstart == hend
    expect(leafAt(m, p.mm, BASE).level).toBe(1);
  });

  it('is -EINVAL in a VMA that holds no aligned 2 MiB block (thp_vma_suitable_order)', async () => {
    // Linux 6.12 in the kernel oracle (fuzz-1-162): one page of a six-page mapping that ends on
    // a 2 MiB boundary (hstart == hend would otherwise make it 0).
    const { p } = await boot();
    const end = BASE + PMD_SIZE;
    expect(await p.mmap(end - 6 * P, 6 * P, RW, FIXED, -1, 0)).toBe(end - 6 * P);
    expect(await p.madvise(end - P, P, MADV_COLLAPSE)).toBe(-EINVAL);
  });

  it('is -EINVAL in an anonymous VMA that never had a page (no anon_vma), 0 once it had one', async () => {
    // Linux 6.12 in the kernel oracle (fuzz-2-109): a PROT_NONE mapping, MAP_POPULATE skipping it,
    // has no anon_vma, and thp_vma_allowable_order outside a fault allows no order without one.
    const { m, p } = await boot();
    expect(await p.mmap(BASE, PMD_SIZE, PROT_NONE, FIXED | MAP_POPULATE, -1, 0)).toBe(BASE);
    expect(await p.madvise(BASE, 311 * P, MADV_COLLAPSE)).toBe(-EINVAL);
    expect(await p.mmap(BASE + PMD_SIZE, PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE + PMD_SIZE);
    expect(await p.madvise(BASE + PMD_SIZE, PMD_SIZE, MADV_COLLAPSE)).toBe(-EINVAL);
    await p.store32(BASE + PMD_SIZE + 5 * P, 7);
    expect(await p.madvise(BASE + PMD_SIZE, PMD_SIZE, MADV_COLLAPSE)).toBe(0);
    expect(leafAt(m, p.mm, BASE + PMD_SIZE).level).toBe(2);
  });

  it('is -EINVAL for a block of empty, zero-page or swap entries only (no writable page: SCAN_PAGE_RO)', async () => {
    for (const kernelVersion of ['6.12', 'mainline'] as const) {
      const { m, p } = await boot({ kernelVersion, swap: MiB });
      expect(await p.mmap(BASE, 2 * PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
      // Block 0: zero pages and one swap entry; block 1: one written page, so it collapses.
      for (const i of [0, 9, 511]) await p.load32(BASE + i * P);
      await p.store32(BASE + 3 * P, 5);
      expect(await p.madvise(BASE + 3 * P, P, MADV_PAGEOUT)).toBe(0);
      await p.store32(BASE + PMD_SIZE + 8 * P, 6);
      expect(await p.madvise(BASE, 2 * PMD_SIZE, MADV_COLLAPSE)).toBe(-EINVAL);
      expect(leafAt(m, p.mm, BASE).level).toBe(1);
      expect(leafAt(m, p.mm, BASE + P).kind).toBe(0); // still empty
      expect(leafAt(m, p.mm, BASE + PMD_SIZE).level).toBe(2);
      expect(await p.load32(BASE + 3 * P)).toBe(5);
      expect(await p.load32(BASE + PMD_SIZE + 8 * P)).toBe(6);
    }
  });

  it('an empty PMD (SCAN_PMD_NONE) ends the call with -EINVAL in 6.12; mainline goes on to the next block', async () => {
    for (const [kernelVersion, level] of [
      ['6.12', 1],
      ['mainline', 2],
    ] as const) {
      const { m, p } = await boot({ kernelVersion });
      expect(await p.mmap(BASE, 2 * PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
      // Block 1 has a page (and the PMD table exists); block 0's PMD entry stays none.
      await p.store32(BASE + PMD_SIZE + 8 * P, 6);
      expect([leafAt(m, p.mm, BASE).level, leafAt(m, p.mm, BASE).kind]).toEqual([2, 0]);
      expect(await p.madvise(BASE, 2 * PMD_SIZE, MADV_COLLAPSE)).toBe(-EINVAL);
      expect(leafAt(m, p.mm, BASE + PMD_SIZE).level).toBe(level);
      expect(await p.load32(BASE + PMD_SIZE + 8 * P)).toBe(6);
    }
  });

  it('a huge zero PMD counts as collapsed (SCAN_PMD_MAPPED) and stays the huge zero page', async () => {
    const { m, p } = await boot({ thp: 'always' });
    expect(await p.mmap(BASE, PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
    await p.load32(BASE + 7 * P);
    const before = leafAt(m, p.mm, BASE);
    expect([before.level, before.write]).toEqual([2, false]);
    expect(m.pm.isZeroPfn(before.pfn)).toBe(true);
    expect(await p.madvise(BASE, PMD_SIZE, MADV_COLLAPSE)).toBe(0);
    expect(leafAt(m, p.mm, BASE).pfn).toBe(before.pfn);
  });

  it('is -EINVAL on a VM_NOHUGEPAGE range', async () => {
    const { m, p } = await boot();
    expect(await p.mmap(BASE, PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
    await p.store32(BASE, 1);
    expect(await p.madvise(BASE, PMD_SIZE, MADV_NOHUGEPAGE)).toBe(0);
    expect(await p.madvise(BASE, PMD_SIZE, MADV_COLLAPSE)).toBe(-EINVAL);
    expect(leafAt(m, p.mm, BASE).level).toBe(1);
  });
});

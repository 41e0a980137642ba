/** mremap(2): shrink, grow in place, move (MAYMOVE, FIXED, DONTUNMAP), every error, THP and hugetlb. */
import { describe, expect, it } from 'vitest';
import {
  BusError,
  EFAULT,
  EINVAL,
  ENOMEM,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  MM_ANONPAGES,
  MM_SWAPENTS,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_UNMAP,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
  SegmentationFault,
  TASK_SIZE,
} from '../../../src/index.ts';
import { diffAt, zeros } from './bytes.ts';
import { leafAt, MiB, pattern, recordInvalidations, rejectionOf } from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const FIXED = ANON | MAP_FIXED;
const P = PAGE_SIZE;
const A = 0x4000_0000;
const B = 0x8000_0000;
const MOVE = MREMAP_MAYMOVE;
const TO = MREMAP_MAYMOVE | MREMAP_FIXED;

async function boot(options: ConstructorParameters<typeof Machine>[0] = {}) {
  const m = new Machine({ memory: 32 * MiB, hugetlbPages: 0, ...options });
  const free0 = m.pm.freeFrames;
  const p = await m.createProcess();
  return { m, p, free0 };
}

type Proc = Awaited<ReturnType<typeof boot>>['p'];

/** Maps `pages` pages at `at` and writes a distinct pattern into each. */
async function filled(p: Proc, pages: number, at = A): Promise<Uint8Array> {
  expect(await p.mmap(at, pages * P, RW, FIXED, -1, 0)).toBe(at);
  const data = pattern(pages * P, 7);
  await p.write(at, data);
  return data;
}

function spans(p: Proc): [number, number][] {
  return p.mm.vmas.map((v) => [v.start, v.end]);
}

async function segfaults(p: Proc, addr: number): Promise<boolean> {
  return (await rejectionOf(p.read(addr, 1))) instanceof SegmentationFault;
}

describe('mremap in place', () => {
  it('shrinks: the tail is unmapped (UNMAP over it) and its pages freed', async () => {
    const { m, p, free0 } = await boot();
    const data = await filled(p, 4);
    const rec = recordInvalidations(m);
    expect(await p.mremap(A, 4 * P, 2 * P, 0)).toBe(A);
    rec.stop();
    expect(rec.events.map((e) => [e.event, e.start, e.end])).toEqual([
      [MMU_NOTIFY_UNMAP, A + 2 * P, A + 4 * P],
    ]);
    expect(spans(p)).toEqual([[A, A + 2 * P]]);
    expect(m.pm.freeFrames).toBe(free0 - 2);
    expect(diffAt(await p.read(A, 2 * P), data.subarray(0, 2 * P))).toBe(-1);
    expect(await segfaults(p, A + 2 * P)).toBe(true);
  });

  it('shrinking or keeping the size never needs the old range to lie in one VMA', async () => {
    const { p } = await boot();
    await filled(p, 2);
    expect(await p.mremap(A, 8 * P, 8 * P, 0)).toBe(A); // same size: nothing to do
    expect(await p.mremap(A, 8 * P, P, 0)).toBe(A); // the tail, holes included, is unmapped
    expect(spans(p)).toEqual([[A, A + P]]);
  });

  it('grows in place when the space after the VMA is free; the new part is zero-filled', async () => {
    const { p } = await boot();
    const data = await filled(p, 2);
    expect(await p.mremap(A, 2 * P, 5 * P, 0)).toBe(A);
    expect(spans(p)).toEqual([[A, A + 5 * P]]);
    expect(diffAt(await p.read(A, 2 * P), data)).toBe(-1);
    expect(diffAt(await p.read(A + 2 * P, 3 * P), zeros(3 * P))).toBe(-1);
    await p.store32(A + 4 * P, 3);
    expect(await p.load32(A + 4 * P)).toBe(3);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(3);
  });

  it('a grown shared anonymous mapping raises SIGBUS past the size of its shmem object', async () => {
    const { p } = await boot();
    expect(await p.mmap(A, P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0)).toBe(A);
    await p.store32(A, 1);
    expect(await p.mremap(A, P, 2 * P, 0)).toBe(A);
    const err = await rejectionOf(p.load32(A + P));
    expect(err).toBeInstanceOf(BusError);
    expect((err as BusError).addr).toBe(A + P);
    expect(await p.load32(A)).toBe(1);
  });
});

describe('mremap moving', () => {
  it('grow blocked by a neighbour: -ENOMEM without MAYMOVE, a move with it', async () => {
    const { m, p, free0 } = await boot();
    const data = await filled(p, 3);
    // Another protection, so that Linux would not merge the two VMAs.
    expect(await p.mmap(A + 3 * P, P, PROT_READ, FIXED, -1, 0)).toBe(A + 3 * P);
    expect(await p.mremap(A, 3 * P, 4 * P, 0)).toBe(-ENOMEM);
    expect(spans(p)[0]).toEqual([A, A + 3 * P]);
    const pfn = leafAt(m, p.mm, A + P).pfn;
    const rec = recordInvalidations(m);
    const to = await p.mremap(A, 3 * P, 4 * P, MOVE);
    rec.stop();
    expect(to).toBeGreaterThan(0);
    expect(to).not.toBe(A);
    expect(p.mm.vmaLookup(to)!.end).toBe(to + 4 * P);
    expect(
      rec.events.every((e) => e.event === MMU_NOTIFY_UNMAP && e.start === A && e.end === A + 3 * P),
    ).toBe(true);
    // The pages moved, they were not copied.
    expect(leafAt(m, p.mm, to + P).pfn).toBe(pfn);
    expect(m.pm.freeFrames).toBe(free0 - 3);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(3);
    expect(diffAt(await p.read(to, 3 * P), data)).toBe(-1);
    expect(diffAt(await p.read(to + 3 * P, P), zeros(P))).toBe(-1);
    expect(await segfaults(p, A)).toBe(true);
    expect(await p.load32(A + 3 * P)).toBe(0); // the neighbour is untouched
  });

  it('moves part of a VMA, splitting it', async () => {
    const { p } = await boot();
    const data = await filled(p, 4);
    expect(await p.mremap(A + P, 2 * P, 2 * P, TO, B)).toBe(B);
    expect(spans(p)).toEqual([
      [A, A + P],
      [A + 3 * P, A + 4 * P],
      [B, B + 2 * P],
    ]);
    expect(diffAt(await p.read(B, 2 * P), data.subarray(P, 3 * P))).toBe(-1);
    expect(diffAt(await p.read(A + 3 * P, P), data.subarray(3 * P))).toBe(-1);
  });

  it('MREMAP_FIXED replaces whatever is mapped at the target', async () => {
    const { m, p, free0 } = await boot();
    const data = await filled(p, 2);
    await filled(p, 4, B);
    expect(m.pm.freeFrames).toBe(free0 - 6);
    expect(await p.mremap(A, 2 * P, 2 * P, TO, B + P)).toBe(B + P);
    expect(spans(p)).toEqual([
      [B, B + P],
      [B + P, B + 3 * P],
      [B + 3 * P, B + 4 * P],
    ]);
    expect(m.pm.freeFrames).toBe(free0 - 4);
    expect(diffAt(await p.read(B + P, 2 * P), data)).toBe(-1);
    expect(await segfaults(p, A)).toBe(true);
  });

  it('MREMAP_FIXED with a smaller size unmaps the old tail and moves the rest', async () => {
    const { m, p, free0 } = await boot();
    const data = await filled(p, 4);
    expect(await p.mremap(A, 4 * P, 2 * P, TO, B)).toBe(B);
    expect(spans(p)).toEqual([[B, B + 2 * P]]);
    expect(diffAt(await p.read(B, 2 * P), data.subarray(0, 2 * P))).toBe(-1);
    expect(m.pm.freeFrames).toBe(free0 - 2);
  });

  it('MREMAP_DONTUNMAP: the old range stays mapped but empty, the data is at the new address', async () => {
    const { m, p, free0 } = await boot();
    const data = await filled(p, 2);
    const to = await p.mremap(A, 2 * P, 2 * P, MOVE | MREMAP_DONTUNMAP);
    expect(to).toBeGreaterThan(0);
    expect(spans(p)).toContainEqual([A, A + 2 * P]);
    expect(spans(p)).toContainEqual([to, to + 2 * P]);
    expect(diffAt(await p.read(to, 2 * P), data)).toBe(-1);
    expect(diffAt(await p.read(A, 2 * P), zeros(2 * P))).toBe(-1);
    expect(m.pm.freeFrames).toBe(free0 - 2);
    await p.store32(A, 42); // new pages in the old range
    expect(await p.load32(to)).toBe(0x0a090807);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(3);
    expect(await p.mremap(A, 2 * P, 2 * P, TO | MREMAP_DONTUNMAP, B)).toBe(B);
    expect(await p.load32(B)).toBe(42);
  });

  it('carries swap entries along', async () => {
    const { m, p } = await boot({ swap: MiB });
    const data = await filled(p, 3);
    expect(await p.madvise(A + P, P, MADV_PAGEOUT)).toBe(0);
    expect(await p.mremap(A, 3 * P, 3 * P, TO, B)).toBe(B);
    expect(p.mm.rss[MM_SWAPENTS]).toBe(1);
    expect(m.swap.inUse).toBe(1);
    expect(diffAt(await p.read(B, 3 * P), data)).toBe(-1);
    expect(m.swap.inUse).toBe(0);
  });
});

describe('mremap errors', () => {
  it('-EINVAL for bad flags and arguments', async () => {
    const { p } = await boot();
    await filled(p, 4);
    expect(await p.mremap(A, P, P, 8)).toBe(-EINVAL); // unknown flag
    expect(await p.mremap(A, P, P, MREMAP_FIXED, B)).toBe(-EINVAL); // FIXED without MAYMOVE
    expect(await p.mremap(A, P, P, MREMAP_DONTUNMAP)).toBe(-EINVAL); // DONTUNMAP without MAYMOVE
    expect(await p.mremap(A, P, 2 * P, MOVE | MREMAP_DONTUNMAP)).toBe(-EINVAL); // DONTUNMAP resizing
    expect(await p.mremap(A + 1, P, P, MOVE)).toBe(-EINVAL); // unaligned old address
    expect(await p.mremap(A, P, 0, MOVE)).toBe(-EINVAL); // zero new size
    expect(await p.mremap(A, P, P, TO, B + 1)).toBe(-EINVAL); // unaligned new address
    expect(await p.mremap(A, 2 * P, 2 * P, TO, A + P)).toBe(-EINVAL); // overlapping ranges
    expect(await p.mremap(A, P, 2 * P, TO, A - P)).toBe(-EINVAL);
    expect(await p.mremap(A, P, P, TO, TASK_SIZE)).toBe(-EINVAL); // beyond TASK_SIZE
    expect(await p.mremap(A, 0, P, MOVE)).toBe(-EINVAL); // duplicating a private mapping
    expect(spans(p)).toEqual([[A, A + 4 * P]]);
  });

  it('-EFAULT when the old address is unmapped or the old range leaves its VMA', async () => {
    const { p } = await boot();
    await filled(p, 2);
    expect(await p.mmap(A + 2 * P, 2 * P, PROT_READ, FIXED, -1, 0)).toBe(A + 2 * P); // not mergeable
    expect(await p.mremap(B, P, 2 * P, MOVE)).toBe(-EFAULT);
    expect(await p.mremap(B, P, P, 0)).toBe(-EFAULT);
    expect(await p.mremap(A, 3 * P, 4 * P, MOVE)).toBe(-EFAULT); // growing across two VMAs
    expect(await p.mremap(A, 3 * P, 3 * P, TO, B)).toBe(-EFAULT); // moving across two VMAs
    expect(await p.mremap(A, 3 * P, 3 * P, MOVE | MREMAP_DONTUNMAP)).toBe(-EFAULT);
    expect(spans(p)).toEqual([
      [A, A + 2 * P],
      [A + 2 * P, A + 4 * P],
    ]);
  });

  it('-ENOMEM when growing is blocked and moving is not allowed', async () => {
    const { p } = await boot();
    await filled(p, 2);
    expect(await p.mmap(A + 2 * P, P, PROT_READ, FIXED, -1, 0)).toBe(A + 2 * P);
    expect(await p.mremap(A, 2 * P, 3 * P, 0)).toBe(-ENOMEM);
    // The old range not ending at the VMA's end cannot grow in place either.
    expect(await p.mremap(A, P, 2 * P, 0)).toBe(-ENOMEM);
    expect(spans(p)[0]).toEqual([A, A + 2 * P]);
  });
});

describe('mremap of huge pages', () => {
  it('a THP moved between 2 MiB-aligned addresses moves whole: no split, same folio', async () => {
    const { m, p, free0 } = await boot({ thp: 'always' });
    expect(await p.mmap(A, PMD_SIZE, RW, FIXED, -1, 0)).toBe(A);
    const data = pattern(PMD_SIZE, 1);
    await p.write(A, data);
    const head = leafAt(m, p.mm, A).pfn;
    const rec = recordInvalidations(m);
    expect(await p.mremap(A, PMD_SIZE, PMD_SIZE, TO, B)).toBe(B);
    rec.stop();
    expect(rec.events.filter((e) => e.event === MMU_NOTIFY_CLEAR)).toEqual([]);
    const leaf = leafAt(m, p.mm, B);
    expect([leaf.level, leaf.leaf, leaf.pfn]).toEqual([2, true, head]);
    expect(m.pm.freeFrames).toBe(free0 - 512);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(512);
    expect(diffAt(await p.read(B, PMD_SIZE), data)).toBe(-1);
  });

  it('a THP moved to an address that is not 2 MiB aligned is split first, data preserved', async () => {
    const { m, p, free0 } = await boot({ thp: 'always' });
    expect(await p.mmap(A, PMD_SIZE, RW, FIXED, -1, 0)).toBe(A);
    const data = pattern(PMD_SIZE, 2);
    await p.write(A, data);
    const head = leafAt(m, p.mm, A).pfn;
    const rec = recordInvalidations(m);
    expect(await p.mremap(A, PMD_SIZE, PMD_SIZE, TO, B + P)).toBe(B + P);
    rec.stop();
    expect(rec.events.map((e) => [e.event, e.start, e.end])).toContainEqual([
      MMU_NOTIFY_CLEAR,
      A,
      A + PMD_SIZE,
    ]);
    const e = leafAt(m, p.mm, B + P);
    expect([e.level, e.pfn]).toEqual([1, head]);
    expect(leafAt(m, p.mm, B + PMD_SIZE).pfn).toBe(head + 511);
    expect(m.pm.freeFrames).toBe(free0 - 512);
    expect(diffAt(await p.read(B + P, PMD_SIZE), data)).toBe(-1);
  });

  it('hugetlb: lengths round up to huge pages, addresses must be aligned, growing is -EINVAL', async () => {
    const { m, p } = await boot({ hugetlbPages: 2 });
    const h = await p.mmap(0, PMD_SIZE, RW, ANON | MAP_HUGETLB, -1, 0);
    await p.store32(h + 8, 77);
    expect(await p.mremap(h + P, P, P, MOVE)).toBe(-EINVAL);
    expect(await p.mremap(h, PMD_SIZE, 2 * PMD_SIZE, MOVE)).toBe(-EINVAL);
    expect(await p.mremap(h, PMD_SIZE, PMD_SIZE, TO, B + P)).toBe(-EINVAL);
    // hugetlbfs mappings are VM_DONTEXPAND, which MREMAP_DONTUNMAP refuses.
    expect(await p.mremap(h, PMD_SIZE, PMD_SIZE, MOVE | MREMAP_DONTUNMAP)).toBe(-EINVAL);
    expect(await p.mremap(h, P, P, TO, B)).toBe(B); // P rounds up to 2 MiB
    expect(spans(p)).toEqual([[B, B + PMD_SIZE]]);
    expect(await p.load32(B + 8)).toBe(77);
    expect(m.hugetlb.freeHugePages).toBe(1);
    expect(p.mm.hugetlbPages).toBe(512);
  });
});

describe('mremap merges (vma_merge_extend, copy_vma)', () => {
  it('growing in place up to a compatible VMA gives one VMA', async () => {
    const { p } = await boot();
    const data = await filled(p, 8);
    expect(await p.munmap(A + 2 * P, 2 * P)).toBe(0);
    expect(await p.mremap(A, 2 * P, 4 * P, 0)).toBe(A);
    expect(spans(p)).toEqual([[A, A + 8 * P]]);
    expect(diffAt(await p.read(A + 4 * P, 4 * P), data.subarray(4 * P))).toBe(-1);
    expect(diffAt(await p.read(A + 2 * P, 2 * P), zeros(2 * P))).toBe(-1);
  });

  it('growing in place stops short of a neighbour with other flags or a discontinuous offset', async () => {
    const { p } = await boot();
    await filled(p, 8);
    expect(await p.munmap(A + 2 * P, 2 * P)).toBe(0);
    expect(await p.mprotect(A + 4 * P, 4 * P, PROT_READ)).toBe(0);
    expect(await p.mremap(A, 2 * P, 4 * P, 0)).toBe(A);
    expect(spans(p)).toEqual([
      [A, A + 4 * P],
      [A + 4 * P, A + 8 * P],
    ]);
    // A separately mapped neighbour has its own anon_vma: no merge either.
    const { p: q } = await boot();
    await filled(q, 2);
    await filled(q, 2, A + 4 * P);
    expect(await q.mremap(A, 2 * P, 4 * P, 0)).toBe(A);
    expect(spans(q)).toEqual([
      [A, A + 4 * P],
      [A + 4 * P, A + 6 * P],
    ]);
  });

  it('a faulted VMA grown up to an unfaulted one: two VMAs in 6.12, one in mainline', async () => {
    for (const [kernelVersion, want] of [
      [
        '6.12',
        [
          [A, A + 6 * P],
          [A + 6 * P, A + 8 * P],
        ],
      ],
      ['mainline', [[A, A + 8 * P]]],
    ] as const) {
      const { p } = await boot({ kernelVersion });
      expect(await p.mmap(A, 8 * P, RW, FIXED, -1, 0)).toBe(A);
      expect(await p.munmap(A + 4 * P, 2 * P)).toBe(0);
      await p.store32(A, 1);
      expect(await p.mremap(A, 4 * P, 6 * P, 0)).toBe(A);
      expect(spans(p)).toEqual(want);
    }
  });

  it('moving a faulted range back where it came from merges it with both sides', async () => {
    const { p } = await boot();
    const data = await filled(p, 12);
    expect(await p.mremap(A + 4 * P, 4 * P, 4 * P, TO, B)).toBe(B);
    expect(spans(p)).toEqual([
      [A, A + 4 * P],
      [A + 8 * P, A + 12 * P],
      [B, B + 4 * P],
    ]);
    expect(await p.mremap(B, 4 * P, 4 * P, TO, A + 4 * P)).toBe(A + 4 * P);
    expect(spans(p)).toEqual([[A, A + 12 * P]]);
    const vma = p.mm.vmaLookup(A)!;
    expect(vma.pgoff).toBe(A / P);
    expect(diffAt(await p.read(A, 12 * P), data)).toBe(-1);
    // rmap still finds every page through the one VMA: page-out and read back.
    expect(await p.madvise(A, 12 * P, MADV_PAGEOUT)).toBe(0);
    expect(diffAt(await p.read(A, 12 * P), data)).toBe(-1);
  });

  it('a faulted range moved next to a VMA of another anon_vma stays apart', async () => {
    const { p } = await boot();
    await filled(p, 4);
    await filled(p, 4, B);
    expect(await p.mremap(B, 4 * P, 4 * P, TO, A + 4 * P)).toBe(A + 4 * P);
    expect(spans(p)).toEqual([
      [A, A + 4 * P],
      [A + 4 * P, A + 8 * P],
    ]);
  });

  it('an unfaulted range takes the offset of its new address and merges there', async () => {
    const { p } = await boot();
    await filled(p, 4);
    expect(await p.mmap(B, 4 * P, RW, FIXED, -1, 0)).toBe(B);
    expect(await p.mremap(B, 4 * P, 4 * P, TO, A + 4 * P)).toBe(A + 4 * P);
    expect(spans(p)).toEqual([[A, A + 8 * P]]);
    expect(p.mm.vmaLookup(A)!.pgoff).toBe(A / P);
    await p.store32(A + 5 * P, 3);
    expect(await p.load32(A + 5 * P)).toBe(3);
  });
});

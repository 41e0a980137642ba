/**
 * For each mm operation, the invalidations an interval subscription over the whole address
 * space sees (docs/notifiers.md#which-operations-send-which-events): event, range and blockability, in order.
 */
import { describe, expect, it } from 'vitest';
import { Machine } from '../../../src/machine.ts';
import {
  MADV_COLLAPSE,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_MAYMOVE,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
  ULONG_MAX,
} from '../../../src/mm/constants.ts';
import {
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_EVENT_NAMES,
  MMU_NOTIFY_PROTECTION_PAGE,
  MMU_NOTIFY_PROTECTION_VMA,
  MMU_NOTIFY_RELEASE,
  MMU_NOTIFY_UNMAP,
} from '../../../src/mm/mmu-notifier.ts';
import type { Process } from '../../../src/mm/process.ts';
import {
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalSetSeq,
} from '../../../src/notifier/interval-notifier.ts';

type Seen = [event: string, start: number, end: number, blockable: boolean];

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

/** A subscription over all of `p`'s address space that records what it sees. */
async function watch(p: Process): Promise<{ seen: Seen[]; sub: MmuIntervalNotifier }> {
  const seen: Seen[] = [];
  const sub = new MmuIntervalNotifier();
  const r = await mmuIntervalNotifierInsert(sub, p.mm, 0, ULONG_MAX - PAGE_SIZE + 1, {
    invalidate(s, range, cur) {
      seen.push([MMU_NOTIFY_EVENT_NAMES[range.event]!, range.start, range.end, range.blockable]);
      mmuIntervalSetSeq(s, cur);
      return true;
    },
  });
  expect(r).toBe(0);
  return { seen, sub };
}

async function setup(
  options: ConstructorParameters<typeof Machine>[0] = {},
): Promise<{ m: Machine; p: Process; seen: Seen[] }> {
  const m = new Machine({ memory: 64 * 1024 * 1024, ...options });
  const p = await m.createProcess();
  const { seen } = await watch(p);
  return { m, p, seen };
}

/** A 2 MiB-aligned anonymous region of `size` bytes (mapped with room, trimmed). */
async function alignedRegion(p: Process, size: number): Promise<number> {
  const raw = await p.mmap(0, size + PMD_SIZE, RW, ANON, -1, 0);
  const a = Math.ceil(raw / PMD_SIZE) * PMD_SIZE;
  if (a > raw) await p.munmap(raw, a - raw);
  if (a + size < raw + size + PMD_SIZE) await p.munmap(a + size, raw + size + PMD_SIZE - (a + size));
  return a;
}

const U = MMU_NOTIFY_EVENT_NAMES[MMU_NOTIFY_UNMAP]!;
const C = MMU_NOTIFY_EVENT_NAMES[MMU_NOTIFY_CLEAR]!;
const PV = MMU_NOTIFY_EVENT_NAMES[MMU_NOTIFY_PROTECTION_VMA]!;
const PP = MMU_NOTIFY_EVENT_NAMES[MMU_NOTIFY_PROTECTION_PAGE]!;
const REL = MMU_NOTIFY_EVENT_NAMES[MMU_NOTIFY_RELEASE]!;

describe('events an interval subscription sees, per mm operation (docs/notifiers.md#which-operations-send-which-events)', () => {
  it('mmap and first-touch faults (none → present) raise nothing', async () => {
    const { p, seen } = await setup();
    const a = await p.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    await p.store32(a, 1);
    await p.load32(a + PAGE_SIZE);
    expect(seen).toEqual([]);
  });

  it('munmap: one UNMAP over the requested range', async () => {
    const { p, seen } = await setup();
    const a = await p.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    await p.store32(a, 1);
    await p.munmap(a + PAGE_SIZE, 2 * PAGE_SIZE);
    expect(seen).toEqual([[U, a + PAGE_SIZE, a + 3 * PAGE_SIZE, true]]);
  });

  it('munmap of a range with no mapping raises nothing', async () => {
    const { p, seen } = await setup();
    const a = await p.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    await p.munmap(a, 4 * PAGE_SIZE);
    seen.length = 0;
    expect(await p.munmap(a, 4 * PAGE_SIZE)).toBe(0);
    expect(seen).toEqual([]);
  });

  it('MAP_FIXED over a mapping: UNMAP of the replaced range', async () => {
    const { p, seen } = await setup();
    const a = await p.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    await p.store32(a, 1);
    expect(await p.mmap(a, 2 * PAGE_SIZE, RW, ANON | MAP_FIXED, -1, 0)).toBe(a);
    expect(seen).toEqual([[U, a, a + 2 * PAGE_SIZE, true]]);
  });

  it('mprotect of a populated range: PROTECTION_VMA over the span', async () => {
    const { p, seen } = await setup();
    const a = await p.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    await p.store32(a, 1);
    await p.mprotect(a, 4 * PAGE_SIZE, PROT_READ);
    expect(seen).toEqual([[PV, a, a + 4 * PAGE_SIZE, true]]);
  });

  it('mprotect of a range without page tables raises nothing; an unchanged protection neither', async () => {
    const { p, seen } = await setup();
    const a = await p.mmap(0x1000_0000_0000, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    await p.mprotect(a, 4 * PAGE_SIZE, PROT_READ);
    await p.mprotect(a, 4 * PAGE_SIZE, PROT_READ);
    expect(seen).toEqual([]);
  });

  it('madvise(DONTNEED) and madvise(FREE): CLEAR over the range', async () => {
    const { p, seen } = await setup();
    const a = await p.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    await p.store32(a, 1);
    await p.madvise(a, 2 * PAGE_SIZE, MADV_DONTNEED);
    await p.madvise(a + 2 * PAGE_SIZE, 2 * PAGE_SIZE, MADV_FREE);
    expect(seen).toEqual([
      [C, a, a + 2 * PAGE_SIZE, true],
      [C, a + 2 * PAGE_SIZE, a + 4 * PAGE_SIZE, true],
    ]);
  });

  it('madvise(PAGEOUT): CLEAR over each page reclaimed; swap-in raises nothing', async () => {
    const { p, seen } = await setup({ swap: 4 * 1024 * 1024 });
    const a = await p.mmap(0, 3 * PAGE_SIZE, RW, ANON, -1, 0);
    await p.store32(a, 1);
    await p.store32(a + 2 * PAGE_SIZE, 3);
    await p.madvise(a, 3 * PAGE_SIZE, MADV_PAGEOUT);
    expect(seen).toEqual([
      [C, a, a + PAGE_SIZE, true],
      [C, a + 2 * PAGE_SIZE, a + 3 * PAGE_SIZE, true],
    ]);
    seen.length = 0;
    expect(await p.load32(a + 2 * PAGE_SIZE)).toBe(3);
    expect(seen).toEqual([]);
  });

  it('madvise(HUGEPAGE) raises nothing', async () => {
    const { p, seen } = await setup();
    const a = await p.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    await p.madvise(a, 4 * PAGE_SIZE, MADV_HUGEPAGE);
    expect(seen).toEqual([]);
  });

  it('fork: PROTECTION_PAGE on the parent over each copied private VMA; shared VMAs are not copied', async () => {
    const { p, seen } = await setup();
    const a = await p.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    const s = await p.mmap(0, 2 * PAGE_SIZE, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    const untouched = await p.mmap(0, 2 * PAGE_SIZE, RW, ANON, -1, 0);
    await p.store32(a, 1);
    await p.store32(s, 2);
    await p.fork();
    expect(untouched).toBeGreaterThan(0);
    expect(seen).toEqual([[PP, a, a + 4 * PAGE_SIZE, true]]);
  });

  it('a write breaking COW: CLEAR over the page, on the writer only', async () => {
    const { p, seen } = await setup();
    const a = await p.mmap(0, 2 * PAGE_SIZE, RW, ANON, -1, 0);
    await p.store32(a, 1);
    const child = await p.fork();
    const childSeen = (await watch(child)).seen;
    seen.length = 0;
    await p.store32(a, 2);
    expect(seen).toEqual([[C, a, a + PAGE_SIZE, true]]);
    await child.store32(a, 3);
    expect(childSeen).toEqual([]); // the last mapper reuses the page: no copy, no invalidation
    expect(await child.load32(a)).toBe(3);
    expect(await p.load32(a)).toBe(2);
  });

  it('a write to the zero page: CLEAR over the page', async () => {
    const { p, seen } = await setup();
    const a = await p.mmap(0, 2 * PAGE_SIZE, RW, ANON, -1, 0);
    await p.load32(a);
    await p.store32(a, 5);
    expect(seen).toEqual([[C, a, a + PAGE_SIZE, true]]);
  });

  it('mremap moving pages: UNMAP over the old range, once for the move and once for its unmap', async () => {
    const { p, seen } = await setup();
    const a = await p.mmap(0, 2 * PAGE_SIZE, RW, ANON, -1, 0);
    await p.mmap(a + 2 * PAGE_SIZE, PAGE_SIZE, RW, ANON | MAP_FIXED, -1, 0); // blocks growth in place
    await p.store32(a, 9);
    seen.length = 0;
    const b = await p.mremap(a, 2 * PAGE_SIZE, 4 * PAGE_SIZE, MREMAP_MAYMOVE);
    expect(b).not.toBe(a);
    expect(seen).toEqual([
      [U, a, a + 2 * PAGE_SIZE, true],
      [U, a, a + 2 * PAGE_SIZE, true],
    ]);
    expect(await p.load32(b)).toBe(9);
  });

  it('partial munmap of a THP: CLEAR over the 2 MiB (split), then UNMAP', async () => {
    const { p, seen } = await setup({ thp: 'always' });
    const a = await alignedRegion(p, PMD_SIZE);
    await p.store32(a, 1);
    seen.length = 0;
    await p.munmap(a, PAGE_SIZE);
    expect(seen).toEqual([
      [C, a, a + PMD_SIZE, true],
      [U, a, a + PAGE_SIZE, true],
    ]);
  });

  it('madvise(COLLAPSE): CLEAR over the 2 MiB collapsed', async () => {
    const { p, seen } = await setup();
    const a = await alignedRegion(p, PMD_SIZE);
    await p.store32(a, 1);
    seen.length = 0;
    expect(await p.madvise(a, PMD_SIZE, MADV_COLLAPSE)).toBe(0);
    expect(seen).toEqual([[C, a, a + PMD_SIZE, true]]);
    expect(await p.load32(a)).toBe(1);
  });

  it('exit: RELEASE over everything, then one UNMAP over everything', async () => {
    const { p, seen } = await setup();
    const a = await p.mmap(0, 2 * PAGE_SIZE, RW, ANON, -1, 0);
    await p.store32(a, 1);
    await p.exit();
    expect(seen).toEqual([
      [REL, 0, ULONG_MAX, true],
      [U, 0, ULONG_MAX, true],
    ]);
  });

  it('after mmuIntervalNotifierRemove the subscription sees nothing', async () => {
    const m = new Machine({ memory: 64 * 1024 * 1024 });
    const p = await m.createProcess();
    const { seen, sub } = await watch(p);
    await mmuIntervalNotifierRemove(sub);
    const a = await p.mmap(0, PAGE_SIZE, RW, ANON, -1, 0);
    await p.store32(a, 1);
    await p.munmap(a, PAGE_SIZE);
    expect(seen).toEqual([]);
  });
});

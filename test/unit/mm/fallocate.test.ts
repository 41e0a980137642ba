/** fallocate(2) modes on shmem and hugetlbfs files, as Linux 6.12 answers them. */
import { describe, expect, it } from 'vitest';
import {
  BusError,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MFD_HUGE_SHIFT,
  MFD_HUGETLB,
  MMU_NOTIFY_CLEAR,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../../../src/index.ts';
import {
  FALLOC_FL_COLLAPSE_RANGE,
  FALLOC_FL_INSERT_RANGE,
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_NO_HIDE_STALE,
  FALLOC_FL_PUNCH_HOLE,
  FALLOC_FL_UNSHARE_RANGE,
  FALLOC_FL_ZERO_RANGE,
} from '../../../src/mm/fallocate.ts';
import { EOPNOTSUPP } from '../../../src/sim/errno.ts';
import { MiB, recordInvalidations, rejectionOf, smallMachine } from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const P = PAGE_SIZE;
const A = 0x4000_0000;
const B = 0x8000_0000;
const PUNCH = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;

async function memfd(pages: number) {
  const m = smallMachine();
  const p = await m.createProcess();
  const fd = await p.memfdCreate(0);
  expect(await p.fallocate(fd, 0, 0, pages * P)).toBe(0);
  const file = p.fds.get(fd)!.file!;
  return { m, p, fd, file };
}

/** The first 32-bit word of each of `pages` pages at `addr`. */
async function words(p: Awaited<ReturnType<typeof memfd>>['p'], addr: number, pages: number) {
  const out: number[] = [];
  for (let i = 0; i < pages; i++) out.push(await p.load32(addr + i * P));
  return out;
}

describe('fallocate modes', () => {
  it('refuses what 6.12 refuses: PUNCH_HOLE without KEEP_SIZE, two modes at once, modes tmpfs lacks', async () => {
    const { p, fd } = await memfd(1);
    expect(await p.fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, P)).toBe(-EOPNOTSUPP);
    expect(await p.fallocate(fd, FALLOC_FL_ZERO_RANGE, 0, P)).toBe(-EOPNOTSUPP);
    expect(await p.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE, 0, P)).toBe(-EOPNOTSUPP);
    expect(await p.fallocate(fd, FALLOC_FL_NO_HIDE_STALE, 0, P)).toBe(-EOPNOTSUPP);
    expect(await p.fallocate(fd, 0x80, 0, P)).toBe(-EOPNOTSUPP);
    expect(await p.fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, P)).toBe(-EOPNOTSUPP);
    expect(await p.fallocate(fd, FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_KEEP_SIZE, 0, P)).toBe(-EOPNOTSUPP);
    expect(await p.fallocate(fd, FALLOC_FL_INSERT_RANGE | FALLOC_FL_KEEP_SIZE, 0, P)).toBe(-EOPNOTSUPP);
    expect(await p.fallocate(fd, FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_PUNCH_HOLE, 0, P)).toBe(-EOPNOTSUPP);
    expect(await p.fallocate(fd, FALLOC_FL_UNSHARE_RANGE | PUNCH, 0, P)).toBe(-EOPNOTSUPP);
    expect(await p.fallocate(fd, FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_KEEP_SIZE, 0, P)).toBe(-EOPNOTSUPP);
  });

  it('KEEP_SIZE allocates past the end without growing the file: a mapping still faults SIGBUS there', async () => {
    const { m, p, fd, file } = await memfd(1);
    const free = m.pm.freeFrames;
    expect(await p.fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4 * P)).toBe(0);
    expect(m.pm.freeFrames).toBe(free - 3);
    expect(file.size).toBe(P);
    expect(await p.mmap(A, 4 * P, RW, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(A);
    expect(await p.load32(A)).toBe(0);
    expect(await rejectionOf(p.load32(A + 2 * P))).toBeInstanceOf(BusError);
    expect(await p.fallocate(fd, 0, 0, 4 * P)).toBe(0);
    expect(file.size).toBe(4 * P);
    expect(m.pm.freeFrames).toBe(free - 3);
  });
});

describe('FALLOC_FL_PUNCH_HOLE on shmem', () => {
  it('drops whole pages from the cache and every shared mapping (CLEAR), zeroes the partial edges', async () => {
    const { m, p, fd, file } = await memfd(4);
    expect(await p.mmap(A, 4 * P, RW, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(A);
    for (let i = 0; i < 4; i++) await p.store32(A + i * P + 200, 10 + i);
    for (let i = 0; i < 4; i++) await p.store32(A + i * P, 20 + i);
    const free = m.pm.freeFrames;
    const rec = recordInvalidations(m);
    // [page 0 + 100, page 3 + 100): page 0 from byte 100 and page 3 up to byte 100 are zeroed,
    // pages 1 and 2 go.
    expect(await p.fallocate(fd, PUNCH, 100, 3 * P)).toBe(0);
    rec.stop();
    expect(rec.events.map((e) => [e.event, e.start - A, e.end - A])).toEqual([[MMU_NOTIFY_CLEAR, P, 3 * P]]);
    expect([...file.pages.keys()].sort()).toEqual([0, 3]);
    expect(m.pm.freeFrames).toBe(free + 2);
    expect(file.size).toBe(4 * P);
    expect(await words(p, A, 4)).toEqual([20, 0, 0, 0]);
    expect(await p.load32(A + 200)).toBe(0);
    expect(await p.load32(A + 3 * P + 200)).toBe(13);
    // The hole reads as zeros from a new page.
    expect(await p.load32(A + P + 200)).toBe(0);
  });

  it('a private mapping keeps its copy-on-write copies and loses the file pages it mapped', async () => {
    const { p, fd } = await memfd(4);
    expect(await p.mmap(A, 4 * P, RW, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(A);
    for (let i = 0; i < 4; i++) await p.store32(A + i * P, 30 + i);
    expect(await p.mmap(B, 4 * P, RW, MAP_PRIVATE | MAP_FIXED, fd, 0)).toBe(B);
    await p.store32(B + P, 99); // a private copy of page 1
    expect(await p.load32(B + 2 * P)).toBe(32); // page 2 of the file, mapped read-only
    expect(await p.fallocate(fd, PUNCH, P, 2 * P)).toBe(0);
    expect(await words(p, B, 4)).toEqual([30, 99, 0, 33]);
    expect(await words(p, A, 4)).toEqual([30, 0, 0, 33]);
  });

  it('a hole within one page only zeroes it; a hole past the end of the cache does nothing', async () => {
    const { p, fd, file } = await memfd(2);
    expect(await p.mmap(A, 2 * P, RW, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(A);
    await p.store32(A, 5);
    await p.store32(A + 8, 6);
    expect(await p.fallocate(fd, PUNCH, 4, 4)).toBe(0);
    expect([await p.load32(A), await p.load32(A + 4), await p.load32(A + 8)]).toEqual([5, 0, 6]);
    expect(await p.fallocate(fd, PUNCH, 8 * P, 4 * P)).toBe(0);
    expect(file.pages.size).toBe(2);
  });
});

describe('FALLOC_FL_PUNCH_HOLE on hugetlbfs', () => {
  it('frees whole huge pages to the pool and unmaps them; a partial hole zeroes its huge page', async () => {
    const m = smallMachine({ memory: 32 * MiB, hugetlbPages: 3 });
    const p = await m.createProcess();
    const fd = await p.memfdCreate(MFD_HUGETLB | (21 << MFD_HUGE_SHIFT));
    expect(await p.fallocate(fd, 0, 0, 2 * PMD_SIZE)).toBe(0);
    expect(m.hugetlb.freeHugePages).toBe(1);
    expect(await p.mmap(A, 2 * PMD_SIZE, RW, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(A);
    await p.store32(A, 1);
    await p.store32(A + PMD_SIZE, 2);
    await p.store32(A + PMD_SIZE + P, 3);
    // Within the first huge page only: zeroed, kept.
    expect(await p.fallocate(fd, PUNCH, 0, P)).toBe(0);
    expect(await p.load32(A)).toBe(0);
    expect(m.hugetlb.freeHugePages).toBe(1);
    // The whole second one: back to the pool; the mapping faults a new, zeroed page.
    expect(await p.fallocate(fd, PUNCH, PMD_SIZE, PMD_SIZE)).toBe(0);
    expect(m.hugetlb.freeHugePages).toBe(2);
    expect(await p.load32(A + PMD_SIZE + P)).toBe(0);
    expect(m.hugetlb.freeHugePages).toBe(1);
  });
});

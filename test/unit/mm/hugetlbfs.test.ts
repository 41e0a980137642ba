/** hugetlbfs files: memfd_create(MFD_HUGETLB), fallocate, shared and private mappings, their COW and R/O pins. */
import { describe, expect, it } from 'vitest';
import {
  FOLL_LONGTERM,
  FOLL_PIN,
  getUserPages,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MFD_HUGE_SHIFT,
  MFD_HUGETLB,
  mmapReadLock,
  mmapReadUnlock,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
  unpinUserPage,
} from '../../../src/mm/index.ts';
import { PG_anon, PG_anon_exclusive } from '../../../src/mm/page-flags.ts';
import { EBADF, EINVAL, ENODEV, ENOMEM, ENOSPC, EOPNOTSUPP } from '../../../src/sim/errno.ts';
import { leafAt, MiB, smallMachine } from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const A = 0x4000_0000;
const B = 0x8000_0000;

async function hugetlbMemfd(hugetlbPages: number) {
  const m = smallMachine({ memory: 32 * MiB, hugetlbPages });
  const p = await m.createProcess();
  const fd = await p.memfdCreate(MFD_HUGETLB | (21 << MFD_HUGE_SHIFT));
  expect(fd).toBeGreaterThanOrEqual(3);
  return { m, p, fd };
}

describe('hugetlbfs memfd', () => {
  it('fallocate takes a huge page for the page cache; -ENOSPC when the pool is empty', async () => {
    const { m, p, fd } = await hugetlbMemfd(1);
    expect(await p.fallocate(fd, 0, 0, PMD_SIZE)).toBe(0);
    expect(m.hugetlb.freeHugePages).toBe(0);
    expect(await p.fallocate(fd, 0, 0, PMD_SIZE)).toBe(0); // already there
    expect(await p.fallocate(fd, 0, PMD_SIZE, 1)).toBe(-ENOSPC);
    await p.close(fd);
    expect(m.hugetlb.freeHugePages).toBe(1);
  });

  it('memfd_create: a size with no hstate is -ENODEV (x86-64 has 2 MiB and 1 GiB), size bits without MFD_HUGETLB -EINVAL', async () => {
    const { p } = await hugetlbMemfd(1);
    expect(await p.memfdCreate(MFD_HUGETLB | (25 << MFD_HUGE_SHIFT))).toBe(-ENODEV);
    expect(await p.memfdCreate(MFD_HUGETLB | (30 << MFD_HUGE_SHIFT))).toBeGreaterThanOrEqual(3);
    expect(await p.memfdCreate(21 << MFD_HUGE_SHIFT)).toBe(-EINVAL);
    expect(await p.memfdCreate(0x100)).toBe(-EINVAL);
  });

  it('a private mapping reserves its huge page, a shared one none for a page the file holds', async () => {
    const { m, p, fd } = await hugetlbMemfd(2);
    expect(await p.fallocate(fd, 0, 0, PMD_SIZE)).toBe(0);
    expect(await p.mmap(B, PMD_SIZE, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(B);
    expect(m.hugetlb.reserved).toBe(0);
    expect(await p.mmap(A, PMD_SIZE, RW, MAP_PRIVATE | MAP_FIXED, fd, 0)).toBe(A);
    expect(m.hugetlb.reserved).toBe(1);
    // A second private mapping finds no page to reserve; a shared one of a hole neither.
    expect(await p.mmap(0, PMD_SIZE, RW, MAP_PRIVATE, fd, 0)).toBe(-ENOMEM);
    expect(await p.mmap(0, PMD_SIZE, PROT_READ, MAP_SHARED, fd, PMD_SIZE)).toBe(-ENOMEM);
    // Unaligned offsets, and MAP_HUGETLB on a file that is not hugetlbfs.
    expect(await p.mmap(0, PMD_SIZE, PROT_READ, MAP_SHARED, fd, 4096)).toBe(-EINVAL);
    const tmp = await p.createTmpFile(PMD_SIZE, true);
    expect(await p.mmap(0, PMD_SIZE, PROT_READ, MAP_SHARED | MAP_HUGETLB, tmp, 0)).toBe(-EINVAL);
    await p.munmap(A, PMD_SIZE);
    expect(m.hugetlb.reserved).toBe(0);
  });

  it('the private mapping reads the page cache folio; a write copies it, the file is unchanged', async () => {
    const { m, p, fd } = await hugetlbMemfd(2);
    expect(await p.fallocate(fd, 0, 0, PMD_SIZE)).toBe(0);
    expect(await p.mmap(A, PMD_SIZE, RW, MAP_PRIVATE | MAP_FIXED, fd, 0)).toBe(A);
    expect(await p.mmap(B, PMD_SIZE, RW, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(B);
    await p.store32(B + 8, 0x1234); // through the shared mapping: the file's page
    expect(await p.load32(A + 8)).toBe(0x1234); // the private mapping maps the same folio
    const cached = leafAt(m, p.mm, A);
    expect([cached.level, cached.write, cached.pfn]).toEqual([2, false, leafAt(m, p.mm, B).pfn]);
    expect(leafAt(m, p.mm, B).write).toBe(true);
    expect(m.pm.flags[cached.pfn]! & PG_anon).toBe(0);
    await p.store32(A + 8, 0x5678);
    const copy = leafAt(m, p.mm, A);
    expect(copy.pfn).not.toBe(cached.pfn);
    expect(copy.write).toBe(true);
    expect(m.pm.flags[copy.pfn]! & (PG_anon | PG_anon_exclusive)).toBe(PG_anon | PG_anon_exclusive);
    expect(await p.load32(B + 8)).toBe(0x1234);
    expect(await p.load32(A + 12)).toBe(0);
    // The copy used the private mapping's reservation.
    expect([m.hugetlb.freeHugePages, m.hugetlb.reserved]).toEqual([0, 0]);
    await p.munmap(A, PMD_SIZE);
    await p.munmap(B, PMD_SIZE);
    await p.close(fd);
    expect([m.hugetlb.freeHugePages, m.hugetlb.reserved]).toEqual([2, 0]);
  });

  it('a R/O long-term pin of the private mapping unshares: an exclusive anonymous copy, mapped read-only', async () => {
    const { m, p, fd } = await hugetlbMemfd(2);
    expect(await p.fallocate(fd, 0, 0, PMD_SIZE)).toBe(0);
    expect(await p.mmap(A, PMD_SIZE, RW, MAP_PRIVATE | MAP_FIXED, fd, 0)).toBe(A);
    await p.read(A, 1);
    const cached = leafAt(m, p.mm, A).pfn;
    await mmapReadLock(p.mm);
    const pages = await getUserPages(p.mm, A, 1, FOLL_PIN | FOLL_LONGTERM);
    mmapReadUnlock(p.mm);
    if (typeof pages === 'number') throw new Error(`pin failed: ${pages}`);
    const leaf = leafAt(m, p.mm, A);
    expect(leaf.pfn).not.toBe(cached);
    expect(leaf.write).toBe(false);
    expect(pages[0]).toBe(leaf.pfn);
    // A later write reuses the pinned copy: the pin sees it.
    await p.store32(A, 7);
    expect(leafAt(m, p.mm, A).pfn).toBe(leaf.pfn);
    expect(new DataView(m.pm.readableBytes(pages[0]!).buffer).getUint32(0, true)).toBe(7);
    unpinUserPage(p.mm, pages[0]!);
  });

  it('a shared mapping of a hole brings a page into the file; MAP_SHARED reserved it', async () => {
    const { m, p, fd } = await hugetlbMemfd(1);
    expect(await p.mmap(B, PMD_SIZE, RW, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(B);
    expect([m.hugetlb.freeHugePages, m.hugetlb.reserved]).toEqual([1, 1]);
    await p.store32(B, 3);
    expect([m.hugetlb.freeHugePages, m.hugetlb.reserved]).toEqual([0, 0]);
    await p.munmap(B, PMD_SIZE);
    const again = await p.mmap(0, PMD_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    expect(await p.load32(again)).toBe(3);
    await p.munmap(again, PMD_SIZE);
    await p.close(fd);
    expect([m.hugetlb.freeHugePages, m.hugetlb.reserved]).toEqual([1, 0]);
  });

  it('fallocate on other files: tmpfs pages are allocated, a disk file only grows; bad arguments', async () => {
    const { m, p, fd } = await hugetlbMemfd(0);
    const tmp = await p.createTmpFile(0, true);
    const disk = await p.createTmpFile(0);
    const free = m.pm.freeFrames;
    expect(await p.fallocate(tmp, 0, 4096, 2 * 4096)).toBe(0);
    expect(m.pm.freeFrames).toBe(free - 2);
    expect(await p.fallocate(disk, 0, 0, 5 * 4096)).toBe(0);
    expect(m.pm.freeFrames).toBe(free - 2);
    const buf = new Uint8Array(8);
    expect(await p.pread(disk, buf, 5 * 4096 - 8)).toBe(8); // the file grew
    expect(await p.pread(tmp, buf, 3 * 4096 - 8)).toBe(8);
    expect(await p.fallocate(fd, 0, 0, PMD_SIZE)).toBe(-ENOSPC); // an empty pool
    expect(await p.fallocate(tmp, 0x10, 0, 4096)).toBe(-EOPNOTSUPP); // ZERO_RANGE: not on tmpfs
    expect(await p.fallocate(disk, 1, 0, 4096)).toBe(-EOPNOTSUPP); // a disk file's modes: not modelled
    expect(await p.fallocate(tmp, 0, 0, 0)).toBe(-EINVAL);
    expect(await p.fallocate(99, 0, 0, 4096)).toBe(-EBADF);
  });
});

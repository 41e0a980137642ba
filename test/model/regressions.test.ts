/**
 * Deterministic regressions for bugs the mm model tests (mm.model.test.ts, devmem.model.test.ts)
 * found, each the shrunk counterexample replayed by hand.
 */
import { describe, expect, it } from 'vitest';
import { Machine } from '../../src/machine.ts';
import {
  MADV_COLLAPSE,
  MADV_HUGEPAGE,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '../../src/mm/constants.ts';
import type { MmStruct } from '../../src/mm/mm-struct.ts';
import { PTE_DEVICE_EXCLUSIVE, PTE_KIND_MASK, PTE_PRESENT } from '../../src/mm/pte.ts';
import { rmapWalk } from '../../src/mm/rmap.ts';
import { SegmentationFault } from '../../src/mm/signals.ts';
import { EINVAL } from '../../src/sim/errno.ts';
import { auditKernel, walkMm } from './audit.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

function machine(): Machine {
  return new Machine({ memory: 16 * 1024 * 1024, swap: 1024 * 1024, hugetlbPages: 1, thp: 'madvise' });
}

/** The pfn a present PTE maps at `addr` in `mm`, or -1. */
function pfnAt(k: Machine, mm: MmStruct, addr: number): number {
  let pfn = -1;
  walkMm(k, mm, (vpn, level, lo, hi) => {
    if (level === 1 && vpn === addr / PAGE_SIZE && (lo & PTE_KIND_MASK) === PTE_PRESENT) pfn = hi;
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
    expect(k.pm.index[pfn]).toBe((a / PAGE_SIZE + 1) % 2 ** 32);
    const hits = rmapWalk(k, pfn);
    expect(hits.map((h) => h.addr)).toEqual([a + PAGE_SIZE]);
    auditKernel(k);
    await p.exit();
  });

  it('MADV_COLLAPSE in a PROT_NONE VMA fails (no writable PTE: SCAN_PAGE_RO); reads still fault with SIGSEGV', async () => {
    // Shrunk: mmap 512 anon pages (2 MiB aligned, populated), mprotect(PROT_NONE), MADV_COLLAPSE.
    // Linux (6.12 and mainline) collapses only a block with a writable PTE: -EINVAL.
    const k = machine();
    const p = await k.createProcess();
    const a = await p.mmap(0x2000_0000, PMD_SIZE, RW, ANON | MAP_FIXED, -1, 0);
    expect(a).toBe(0x2000_0000);
    await p.write(a + 5 * PAGE_SIZE, new Uint8Array([42]));
    expect(await p.mprotect(a, PMD_SIZE, PROT_NONE)).toBe(0);
    expect(await p.madvise(a, PMD_SIZE, MADV_COLLAPSE)).toBe(-EINVAL);
    auditKernel(k);
    await expect(p.read(a + 5 * PAGE_SIZE, 1)).rejects.toBeInstanceOf(SegmentationFault);
    expect(await p.mprotect(a, PMD_SIZE, PROT_READ)).toBe(0);
    expect(await p.read(a + 5 * PAGE_SIZE, 1)).toEqual(new Uint8Array([42]));
    auditKernel(k);
    await p.exit();
  });

  it('splitting a protnone PMD (THP or huge zero page) keeps every PTE protnone', async () => {
    // Shrunk: the collapse above followed by MADV_PAGEOUT, whose split made the PTEs readable.
    for (const write of [true, false]) {
      const k = machine();
      const p = await k.createProcess();
      const a = await p.mmap(0x2000_0000, PMD_SIZE, RW, ANON | MAP_FIXED, -1, 0);
      expect(await p.madvise(a, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
      if (write)
        await p.write(a, new Uint8Array([1])); // a THP
      else await p.read(a, 1); // the huge zero page
      expect(await p.mprotect(a, PMD_SIZE, PROT_NONE)).toBe(0);
      expect(await p.madvise(a, PMD_SIZE, MADV_PAGEOUT)).toBe(0); // splits the PMD
      expect(await p.munmap(a + PAGE_SIZE, PAGE_SIZE)).toBe(0); // so does a partial munmap
      auditKernel(k);
      await expect(p.read(a + 2 * PAGE_SIZE, 1)).rejects.toBeInstanceOf(SegmentationFault);
      await p.exit();
    }
  });

  it('a device write to a page migrated to the device (device-private) survives the eviction at close', async () => {
    // Shrunk (devmem model): mmap 1 page, MIGRATE_TO_DEV of the untouched page, device WRITE,
    // close: the write went to the device page's own frame, not its backing page, and was lost.
    const k = machine();
    const dev = k.addDmirrorDevice();
    const p = await k.createProcess();
    const f = await dev.open(p);
    const a = await p.mmap(0, PAGE_SIZE, RW, ANON, -1, 0);
    expect((await f.migrateToDev(a, 1)).ret).toBe(0);
    const data = new Uint8Array(PAGE_SIZE).fill(33);
    expect((await f.write(a, 1, data)).ret).toBe(0);
    expect((await f.read(a, 1)).data).toEqual(data);
    await f.close();
    expect(dev.cfree).toBe(dev.calloc);
    auditKernel(k);
    expect(await p.read(a, PAGE_SIZE)).toEqual(data);
    await p.exit();
  });

  it('fork restores a device-exclusive entry in a PROT_NONE VMA as a protnone PTE', async () => {
    // Shrunk (devmem model, coherent device): mmap 1 page, EXCLUSIVE, mprotect(PROT_NONE), fork:
    // the restored entry (and the child's copy) was accessible in a PROT_NONE VMA.
    for (const coherent of [false, true]) {
      const k = machine();
      const dev = k.addDmirrorDevice({ coherent });
      const p = await k.createProcess();
      const f = await dev.open(p);
      const a = await p.mmap(0, PAGE_SIZE, RW, ANON, -1, 0);
      await p.write(a, new Uint8Array([5]));
      expect((await f.exclusive(a, 1)).ret).toBe(0);
      let kind = -1;
      walkMm(k, p.mm, (vpn, level, lo) => {
        if (level === 1 && vpn === a / PAGE_SIZE) kind = lo & PTE_KIND_MASK;
      });
      expect(kind).toBe(PTE_DEVICE_EXCLUSIVE);
      expect(await p.mprotect(a, PAGE_SIZE, PROT_NONE)).toBe(0);
      const child = await p.fork();
      auditKernel(k);
      await expect(p.read(a, 1)).rejects.toBeInstanceOf(SegmentationFault);
      await expect(child.read(a, 1)).rejects.toBeInstanceOf(SegmentationFault);
      expect(await child.mprotect(a, PAGE_SIZE, PROT_READ)).toBe(0);
      expect(await child.read(a, 1)).toEqual(new Uint8Array([5]));
      await child.exit();
      await f.close();
      await p.exit();
      expect(dev.cfree).toBe(dev.calloc);
    }
  });

  it('a device page migrated back into a PROT_NONE VMA (eviction at close) is mapped protnone', async () => {
    // Shrunk (devmem model): mmap 1 page, MIGRATE_TO_DEV, mprotect(PROT_NONE), close (eviction):
    // remove_migration_ptes installed an accessible PTE in the PROT_NONE VMA.
    for (const touch of [false, true]) {
      const k = machine();
      const dev = k.addDmirrorDevice();
      const p = await k.createProcess();
      const f = await dev.open(p);
      const a = await p.mmap(0, PAGE_SIZE, RW, ANON, -1, 0);
      if (touch) await p.write(a, new Uint8Array([9]));
      expect((await f.migrateToDev(a, 1)).ret).toBe(0);
      expect(await p.mprotect(a, PAGE_SIZE, PROT_NONE)).toBe(0);
      await f.close();
      expect(dev.cfree).toBe(dev.calloc);
      auditKernel(k);
      await expect(p.read(a, 1)).rejects.toBeInstanceOf(SegmentationFault);
      expect(await p.mprotect(a, PAGE_SIZE, PROT_READ)).toBe(0);
      expect(await p.read(a, 1)).toEqual(new Uint8Array([touch ? 9 : 0]));
      await p.exit();
    }
  });
});

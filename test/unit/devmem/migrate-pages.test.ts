/**
 * migrate_vma_pages (mm/migrate_device.c migrate_vma_pages): slots without a destination, insertion into empty slots (with
 * its MIGRATE invalidation and its aborts), compound sources and destinations, file pages, and
 * folio_migrate_mapping's reference check.
 */
import { describe, expect, it } from 'vitest';
import {
  MIGRATE_VMA_SELECT_COMPOUND,
  MIGRATE_VMA_SELECT_SYSTEM,
} from '../../../src/devmem/migrate-device.ts';
import type { Machine } from '../../../src/machine.ts';
import {
  FAULT_FLAG_WRITE,
  MADV_HUGEPAGE,
  MAP_FIXED,
  MAP_PRIVATE,
  MM_ANONPAGES,
  PMD_SIZE,
  PROT_READ,
} from '../../../src/mm/constants.ts';
import { handleMmFault } from '../../../src/mm/fault.ts';
import type { MmStruct } from '../../../src/mm/mm-struct.ts';
import { MMU_NOTIFY_CLEAR, MMU_NOTIFY_MIGRATE } from '../../../src/mm/mmu-notifier.ts';
import { PG_anon, PG_locked } from '../../../src/mm/page-flags.ts';
import { pageLocked } from '../../../src/mm/page-lock.ts';
import { ZERO_PFN } from '../../../src/mm/physmem.ts';
import type { Process } from '../../../src/mm/process.ts';
import {
  PTE_DEVICE_PRIVATE_READ,
  PTE_DEVICE_PRIVATE_WRITE,
  PTE_PRESENT,
  PTE_TABLE,
} from '../../../src/mm/pte.ts';
import {
  A,
  counts,
  FakeDevice,
  fillPages,
  isPattern,
  kindPfn,
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  mapAnon,
  migratePfn,
  mpfn,
  newMachine,
  P,
  pattern,
  pteOf,
  recordEvents,
  tuples,
} from './fake-device.ts';

const M = MIGRATE_PFN_MIGRATE;
const W = MIGRATE_PFN_WRITE;
const C = MIGRATE_PFN_COMPOUND;

async function boot(coherent = false): Promise<{ m: Machine; p: Process; mm: MmStruct; dev: FakeDevice }> {
  const m = newMachine();
  const p = await m.createProcess();
  return { m, p, mm: p.mm, dev: new FakeDevice(m, { coherent }) };
}

describe('slots without a destination', () => {
  it('lose MIGRATE (the rest of the word stays) and are restored by finalize', async () => {
    const { m, p, mm, dev } = await boot();
    await mapAnon(p, A, 3 * P);
    await fillPages(p, A, 3, 10);
    const pfns = [0, 1, 2].map((i) => kindPfn(m, mm, A + i * P)[1]);
    const r = await dev.migrateToDevice(mm, A, A + 3 * P, { decline: (i) => i === 1 });
    expect(r.srcAfterSetup).toEqual(pfns.map((pfn) => mpfn(pfn, M | W)));
    expect(r.dst).toEqual([mpfn(dev.first, W), 0, mpfn(dev.first + 1, W)]);
    expect(r.srcAfterPages).toEqual([mpfn(pfns[0]!, M | W), mpfn(pfns[1]!, W), mpfn(pfns[2]!, M | W)]);
    expect(kindPfn(m, mm, A)).toEqual([PTE_DEVICE_PRIVATE_WRITE, dev.first]);
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_PRESENT, pfns[1]]);
    expect(pteOf(m, mm, A + P)!.write).toBe(true);
    expect(kindPfn(m, mm, A + 2 * P)).toEqual([PTE_DEVICE_PRIVATE_WRITE, dev.first + 1]);
    expect([counts(m, pfns[1]!), pageLocked(m, pfns[1]!)]).toEqual([[1, 1], false]);
    expect(isPattern(await p.read(A + P, P), 11)).toBe(true);
  });
});

describe('insertion into empty slots', () => {
  it('maps writable device-private entries from the first inserted address, under one MIGRATE invalidation', async () => {
    const { m, p, mm, dev } = await boot();
    await mapAnon(p, A, 4 * P);
    const rec = recordEvents(m);
    const r = await dev.migrateToDevice(mm, A, A + 4 * P, { decline: (i) => i === 0 });
    rec.stop();
    expect(r.srcAfterSetup).toEqual([M, M, M, M]);
    expect(r.srcAfterPages).toEqual([0, M, M, M]);
    // Collect over the range, then the insertion from A + P (the first page inserted) to end.
    expect(tuples(rec.events)).toEqual([
      [mm.id, MMU_NOTIFY_MIGRATE, A, A + 4 * P, dev.owner],
      [mm.id, MMU_NOTIFY_MIGRATE, A + P, A + 4 * P, dev.owner],
    ]);
    expect(pteOf(m, mm, A)!.kind).toBe(0);
    for (let i = 1; i < 4; i++) {
      const d = dev.first + i - 1;
      expect(kindPfn(m, mm, A + i * P)).toEqual([PTE_DEVICE_PRIVATE_WRITE, d]);
      // The mapping's reference (the allocation's went at finalize), anonymous, unlocked.
      expect([counts(m, d), pageLocked(m, d), m.pm.flags[d]! & PG_anon]).toEqual([[1, 1], false, PG_anon]);
      expect(m.pm.index[d]).toBe((A / P + i) % 2 ** 32);
    }
    expect(mm.rss[MM_ANONPAGES]).toBe(3);
    // The device zero-filled them; the CPU reads zeros back.
    expect(await p.read(A + 2 * P, 8)).toEqual(new Uint8Array(8));
    expect(pteOf(m, mm, A + 2 * P)!.kind).toBe(PTE_PRESENT);
  });

  it('maps read-only device-private entries in a VMA without VM_WRITE', async () => {
    const { m, p, mm, dev } = await boot();
    await mapAnon(p, A, 2 * P, PROT_READ);
    const r = await dev.migrateToDevice(mm, A, A + 2 * P);
    expect(r.srcAfterPages).toEqual([M, M]);
    expect(kindPfn(m, mm, A)).toEqual([PTE_DEVICE_PRIVATE_READ, dev.first]);
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_DEVICE_PRIVATE_READ, dev.first + 1]);
  });

  it('maps device-coherent pages as present PTEs, writable (and dirty) iff VM_WRITE', async () => {
    const { m, p, mm, dev } = await boot(true);
    await mapAnon(p, A, P);
    await mapAnon(p, A + P, P, PROT_READ);
    await dev.migrateToDevice(mm, A, A + P);
    await dev.migrateToDevice(mm, A + P, A + 2 * P);
    const w = pteOf(m, mm, A)!;
    const r = pteOf(m, mm, A + P)!;
    expect([w.kind, w.pfn, w.write, (w.lo & 0x20) !== 0]).toEqual([PTE_PRESENT, dev.first, true, true]);
    expect([r.kind, r.pfn, r.write, (r.lo & 0x20) !== 0]).toEqual([PTE_PRESENT, dev.first + 1, false, false]);
    // The CPU reads device-coherent memory directly.
    await p.write(A + 100, new Uint8Array([0xab]));
    expect(pteOf(m, mm, A)!.pfn).toBe(dev.first);
    expect(m.pm.readableBytes(dev.first)[100]).toBe(0xab);
  });

  it('is aborted for a slot a CPU fault populated meanwhile; a zero page put there is replaced', async () => {
    const { m, p, mm, dev } = await boot();
    await mapAnon(p, A, 3 * P);
    let cpuPage = 0;
    const r = await dev.migrateToDevice(mm, A, A + 3 * P, {
      beforePages: async (args) => {
        // Other threads fault under the same mmap read lock.
        expect(await handleMmFault(args.vma, A + P, FAULT_FLAG_WRITE)).toBe(0);
        expect(await handleMmFault(args.vma, A + 2 * P, 0)).toBe(0);
        cpuPage = kindPfn(m, mm, A + P)[1];
        expect(kindPfn(m, mm, A + 2 * P)).toEqual([PTE_PRESENT, ZERO_PFN]);
      },
    });
    expect(r.dst).toEqual([migratePfn(dev.first), migratePfn(dev.first + 1), migratePfn(dev.first + 2)]);
    expect(r.srcAfterPages).toEqual([M, 0, M]);
    expect(kindPfn(m, mm, A)).toEqual([PTE_DEVICE_PRIVATE_WRITE, dev.first]);
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_PRESENT, cpuPage]);
    expect(kindPfn(m, mm, A + 2 * P)).toEqual([PTE_DEVICE_PRIVATE_WRITE, dev.first + 2]);
    // The refused destination was released to the driver.
    expect(dev.freed).toEqual([dev.first + 1]);
    expect(m.pm.refcount[dev.first + 1]).toBe(0);
    expect(mm.rss[MM_ANONPAGES]).toBe(3);
  });
});

describe('compound slots', () => {
  it('a compound source given small destinations is split (CLEAR over its PMD) and moves page by page', async () => {
    const { m, p, mm, dev } = await boot();
    await mapAnon(p, A, PMD_SIZE);
    expect(await p.madvise(A, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
    await p.write(A, pattern(16, 3));
    await p.write(A + 511 * P, pattern(16, 4));
    const head = pteOf(m, mm, A, 2)!.pfn;
    const rec = recordEvents(m);
    const r = await dev.migrateToDevice(mm, A, A + PMD_SIZE, {
      flags: MIGRATE_VMA_SELECT_SYSTEM | MIGRATE_VMA_SELECT_COMPOUND,
      compoundDst: false,
    });
    rec.stop();
    expect([r.srcAfterSetup[0], r.cpages, r.npages]).toEqual([mpfn(head, M | W | C), 1, 512]);
    expect(r.dst[0]).toBe(migratePfn(dev.first));
    expect(r.dst[511]).toBe(migratePfn(dev.first + 511));
    // After the split every slot describes one small page, still migrating.
    expect(r.srcAfterPages).toEqual([...Array(512).keys()].map((i) => mpfn(head + i, M | W)));
    expect(tuples(rec.events)).toEqual([
      [mm.id, MMU_NOTIFY_MIGRATE, A, A + PMD_SIZE, dev.owner],
      [mm.id, MMU_NOTIFY_CLEAR, A, A + PMD_SIZE, null],
    ]);
    expect(pteOf(m, mm, A, 2)!.kind).toBe(PTE_TABLE);
    expect(kindPfn(m, mm, A)).toEqual([PTE_DEVICE_PRIVATE_WRITE, dev.first]);
    expect(kindPfn(m, mm, A + 511 * P)).toEqual([PTE_DEVICE_PRIVATE_WRITE, dev.first + 511]);
    expect([m.pm.order[head], m.pm.refcount[head], m.pm.refcount[head + 511]]).toEqual([0, 0, 0]);
    expect(counts(m, dev.first + 300)).toEqual([1, 1]);
    expect(mm.rss[MM_ANONPAGES]).toBe(512);
    expect(dev.read(dev.first).subarray(0, 16)).toEqual(pattern(16, 3));
    expect(dev.read(dev.first + 511).subarray(0, 16)).toEqual(pattern(16, 4));
  });

  it('a compound source with a compound destination moves whole: one device-private PMD', async () => {
    const { m, p, mm, dev } = await boot();
    await mapAnon(p, A, PMD_SIZE);
    expect(await p.madvise(A, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
    await p.write(A + 5 * P, pattern(16, 5));
    const head = pteOf(m, mm, A, 2)!.pfn;
    const r = await dev.migrateToDevice(mm, A, A + PMD_SIZE, {
      flags: MIGRATE_VMA_SELECT_SYSTEM | MIGRATE_VMA_SELECT_COMPOUND,
    });
    expect(r.dst[0]).toBe(mpfn(dev.first, C));
    expect(r.srcAfterPages[0]).toBe(mpfn(head, M | W | C));
    const pmd = pteOf(m, mm, A, 2)!;
    expect([pmd.kind, pmd.leaf, pmd.pfn]).toEqual([PTE_DEVICE_PRIVATE_WRITE, true, dev.first]);
    expect([m.pm.order[dev.first], m.pm.refcount[dev.first], m.pm.entireMapcount[dev.first]]).toEqual([
      9, 1, 1,
    ]);
    expect(m.pm.refcount[head]).toBe(0);
    expect(mm.rss[MM_ANONPAGES]).toBe(512);
    expect(dev.read(dev.first + 5).subarray(0, 16)).toEqual(pattern(16, 5));
  });

  it('an empty 2 MiB hole gets a compound destination as one PMD', async () => {
    const { m, p, mm, dev } = await boot();
    await mapAnon(p, A, PMD_SIZE);
    const rec = recordEvents(m);
    const r = await dev.migrateToDevice(mm, A, A + PMD_SIZE, {
      flags: MIGRATE_VMA_SELECT_SYSTEM | MIGRATE_VMA_SELECT_COMPOUND,
    });
    rec.stop();
    expect([r.srcAfterSetup[0], r.cpages]).toEqual([M + C, 1]);
    expect(r.srcAfterPages[0]).toBe(M + C);
    expect(tuples(rec.events)).toEqual([
      [mm.id, MMU_NOTIFY_MIGRATE, A, A + PMD_SIZE, dev.owner],
      [mm.id, MMU_NOTIFY_MIGRATE, A, A + PMD_SIZE, dev.owner],
    ]);
    const pmd = pteOf(m, mm, A, 2)!;
    expect([pmd.kind, pmd.leaf, pmd.pfn]).toEqual([PTE_DEVICE_PRIVATE_WRITE, true, dev.first]);
    expect([m.pm.refcount[dev.first], m.pm.entireMapcount[dev.first], pageLocked(m, dev.first)]).toEqual([
      1,
      1,
      false,
    ]);
    expect(mm.rss[MM_ANONPAGES]).toBe(512);
  });

  it('a small source given a compound destination loses MIGRATE; the folio goes back to the driver', async () => {
    const { m, p, mm, dev } = await boot();
    await mapAnon(p, A, P);
    await fillPages(p, A, 1);
    const pfn = kindPfn(m, mm, A)[1];
    let head = 0;
    const r = await dev.migrateToDevice(mm, A, A + P, {
      decline: () => true,
      beforePages: (args) => {
        head = dev.allocFolio();
        args.dst[0] = migratePfn(head) + C;
      },
    });
    expect(r.srcAfterPages).toEqual([mpfn(pfn, W)]);
    expect(kindPfn(m, mm, A)).toEqual([PTE_PRESENT, pfn]);
    expect(counts(m, pfn)).toEqual([1, 1]);
    expect(dev.freed).toEqual([head]);
    expect(m.pm.refcount[head]).toBe(0);
    expect(m.pm.flags[head]! & PG_locked).toBe(0);
  });
});

describe('folio_migrate_mapping', () => {
  it('file pages never move to device memory', async () => {
    const { m, p, mm, dev } = await boot();
    const fd = await p.createTmpFile(P);
    expect(await p.pwrite(fd, pattern(P, 7), 0)).toBe(P);
    expect(await p.mmap(A, P, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0)).toBe(A);
    await p.read(A, 1);
    const f = kindPfn(m, mm, A)[1];
    const r = await dev.migrateToDevice(mm, A, A + P);
    expect(r.srcAfterSetup).toEqual([mpfn(f, M)]);
    expect(r.srcAfterPages).toEqual([mpfn(f, 0)]);
    expect(kindPfn(m, mm, A)).toEqual([PTE_PRESENT, f]);
    expect([counts(m, f), pageLocked(m, f)]).toEqual([[2, 1], false]);
    expect(dev.freed).toEqual([dev.first]);
  });

  it('a source holding an extra reference does not move', async () => {
    const { m, p, mm, dev } = await boot();
    await mapAnon(p, A, 2 * P);
    await fillPages(p, A, 2, 20);
    const [p0, p1] = [kindPfn(m, mm, A)[1], kindPfn(m, mm, A + P)[1]];
    const r = await dev.migrateToDevice(mm, A, A + 2 * P, {
      // Someone (a GUP user, a speculative lookup) takes a reference after setup.
      beforePages: () => m.getPage(p1),
    });
    expect(r.srcAfterPages).toEqual([mpfn(p0, M | W), mpfn(p1, W)]);
    expect(kindPfn(m, mm, A)).toEqual([PTE_DEVICE_PRIVATE_WRITE, dev.first]);
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_PRESENT, p1]);
    expect(counts(m, p1)).toEqual([2, 1]);
    expect(dev.freed).toEqual([dev.first + 1]);
    m.putPage(p1);
    expect(counts(m, p1)).toEqual([1, 1]);
    expect(isPattern(await p.read(A + P, P), 21)).toBe(true);
  });
});

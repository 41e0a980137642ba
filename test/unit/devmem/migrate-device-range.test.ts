/**
 * Eviction without VMAs (mm/migrate_device.c migrate_device_range, 6.1+): migrate_device_range collects the device pfns in use and
 * unmaps them everywhere through rmap; migrate_device_pages / _finalize complete the move. And
 * migrate_device_coherent_folio, the single-folio variant long-term GUP uses.
 */
import { describe, expect, it } from 'vitest';
import { migrateDeviceCoherentFolio } from '../../../src/devmem/coherent.ts';
import {
  MIGRATE_VMA_SELECT_COMPOUND,
  MIGRATE_VMA_SELECT_SYSTEM,
} from '../../../src/devmem/migrate-device.ts';
import type { Machine } from '../../../src/machine.ts';
import { MADV_HUGEPAGE, MM_ANONPAGES, PMD_SIZE } from '../../../src/mm/constants.ts';
import { FOLL_PIN, GUP_PIN_COUNTING_BIAS, getUserPages, unpinUserPage } from '../../../src/mm/gup.ts';
import type { MmStruct } from '../../../src/mm/mm-struct.ts';
import { mmapReadLock, mmapReadUnlock } from '../../../src/mm/mmap-lock.ts';
import { MMU_NOTIFY_CLEAR } from '../../../src/mm/mmu-notifier.ts';
import { pageLocked, trylockPage, unlockPage } from '../../../src/mm/page-lock.ts';
import type { Process } from '../../../src/mm/process.ts';
import { PTE_DEVICE_PRIVATE_READ, PTE_DEVICE_PRIVATE_WRITE, PTE_PRESENT } from '../../../src/mm/pte.ts';
import { EBUSY } from '../../../src/sim/errno.ts';
import {
  A,
  counts,
  FakeDevice,
  fillPages,
  isPattern,
  kindPfn,
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_MIGRATE,
  mapAnon,
  migratePfnToPage,
  mpfn,
  newMachine,
  P,
  pattern,
  pteOf,
  recordEvents,
  tuples,
} from './fake-device.ts';

const M = MIGRATE_PFN_MIGRATE;
const C = MIGRATE_PFN_COMPOUND;

async function boot(): Promise<{ m: Machine; p: Process; mm: MmStruct }> {
  const m = newMachine();
  const p = await m.createProcess();
  return { m, p, mm: p.mm };
}

describe('migrateDeviceRange eviction', () => {
  it('moves device pages mapped by two processes to one system page each, unmapping both (CLEAR)', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, 2 * P);
    await fillPages(p, A, 2, 100);
    await dev.migrateToDevice(mm, A, A + 2 * P);
    const child = await p.fork();
    const [d0, d1] = [dev.first, dev.first + 1];
    expect(kindPfn(m, child.mm, A + P)).toEqual([PTE_DEVICE_PRIVATE_READ, d1]);
    expect(counts(m, d0)).toEqual([2, 2]);
    const rec = recordEvents(m);
    const r = await dev.evictAll();
    rec.stop();
    // Pages in use are collected (referenced, locked); free ones are 0.
    expect(r.src.slice(0, 3)).toEqual([mpfn(d0, M), mpfn(d1, M), 0]);
    expect(r.src.slice(2).every((w) => w === 0)).toBe(true);
    expect(r.srcAfterPages.slice(0, 2)).toEqual([mpfn(d0, M), mpfn(d1, M)]);
    expect(tuples(rec.events)).toEqual([
      [mm.id, MMU_NOTIFY_CLEAR, A, A + P, null],
      [child.mm.id, MMU_NOTIFY_CLEAR, A, A + P, null],
      [mm.id, MMU_NOTIFY_CLEAR, A + P, A + 2 * P, null],
      [child.mm.id, MMU_NOTIFY_CLEAR, A + P, A + 2 * P, null],
    ]);
    for (let i = 0; i < 2; i++) {
      const sys = migratePfnToPage(r.dst[i]!);
      for (const who of [mm, child.mm]) {
        const e = pteOf(m, who, A + i * P)!;
        expect([e.kind, e.pfn, e.write]).toEqual([PTE_PRESENT, sys, false]);
      }
      expect([counts(m, sys), pageLocked(m, sys)]).toEqual([[2, 2], false]);
    }
    expect(dev.freed).toEqual([d0, d1]);
    expect(dev.pgmap.refs).toBe(0);
    expect(dev.free).toHaveLength(1024);
    expect([mm.rss[MM_ANONPAGES], child.mm.rss[MM_ANONPAGES]]).toEqual([2, 2]);
    // The data came back; the child's write copies and leaves the parent's page alone.
    expect(isPattern(await child.read(A + P, P), 101)).toBe(true);
    await child.store32(A, 0x1234);
    expect(isPattern(await p.read(A, P), 100)).toBe(true);
  });

  it('skips a device page whose lock is held and leaves its mapping', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, 2 * P);
    await fillPages(p, A, 2, 110);
    await dev.migrateToDevice(mm, A, A + 2 * P);
    const [d0, d1] = [dev.first, dev.first + 1];
    expect(trylockPage(m, d1)).toBe(true);
    const r = await dev.evictAll();
    expect(r.src.slice(0, 2)).toEqual([mpfn(d0, M), 0]);
    expect(kindPfn(m, mm, A)[0]).toBe(PTE_PRESENT);
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_DEVICE_PRIVATE_WRITE, d1]);
    expect(counts(m, d1)).toEqual([1, 1]);
    expect(dev.freed).toEqual([d0]);
    unlockPage(m, d1);
    const again = await dev.evictAll();
    expect(again.src.slice(0, 2)).toEqual([0, mpfn(d1, M)]);
    expect(dev.freed).toEqual([d0, d1]);
    expect(isPattern(await p.read(A + P, P), 111)).toBe(true);
  });

  it('moves a device THP as one compound slot to a system THP', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, PMD_SIZE);
    expect(await p.madvise(A, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
    await p.write(A + 7 * P, pattern(32, 120));
    await dev.migrateToDevice(mm, A, A + PMD_SIZE, {
      flags: MIGRATE_VMA_SELECT_SYSTEM | MIGRATE_VMA_SELECT_COMPOUND,
    });
    expect(pteOf(m, mm, A, 2)!.kind).toBe(PTE_DEVICE_PRIVATE_WRITE);
    const rec = recordEvents(m);
    const r = await dev.evictAll();
    rec.stop();
    expect(r.src[0]).toBe(mpfn(dev.first, M | C));
    expect(r.src.slice(1).every((w) => w === 0)).toBe(true);
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_CLEAR, A, A + PMD_SIZE, null]]);
    const head = migratePfnToPage(r.dst[0]!);
    const pmd = pteOf(m, mm, A, 2)!;
    expect([pmd.kind, pmd.leaf, pmd.pfn, pmd.write]).toEqual([PTE_PRESENT, true, head, true]);
    expect([m.pm.order[head], m.pm.refcount[head], m.pm.entireMapcount[head], pageLocked(m, head)]).toEqual([
      9,
      1,
      1,
      false,
    ]);
    expect(dev.freed).toEqual([dev.first]);
    expect(mm.rss[MM_ANONPAGES]).toBe(512);
    expect(await p.read(A + 7 * P, 32)).toEqual(pattern(32, 120));
  });

  it('without a VMA a compound slot cannot be split for small destinations: it stays on the device', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, PMD_SIZE);
    expect(await p.madvise(A, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
    await p.write(A, pattern(8, 1));
    await dev.migrateToDevice(mm, A, A + PMD_SIZE, {
      flags: MIGRATE_VMA_SELECT_SYSTEM | MIGRATE_VMA_SELECT_COMPOUND,
    });
    const r = await dev.evictAll(false);
    expect(r.srcAfterPages[0]).toBe(mpfn(dev.first));
    const pmd = pteOf(m, mm, A, 2)!;
    expect([pmd.kind, pmd.leaf, pmd.pfn]).toEqual([PTE_DEVICE_PRIVATE_WRITE, true, dev.first]);
    expect([m.pm.refcount[dev.first], m.pm.entireMapcount[dev.first], pageLocked(m, dev.first)]).toEqual([
      1,
      1,
      false,
    ]);
    // The system page offered was released.
    expect(m.pm.refcount[migratePfnToPage(r.dst[0]!)]).toBe(0);
    expect(dev.freed).toEqual([]);
  });
});

describe('migrateDeviceCoherentFolio', () => {
  it('moves a coherent page to system memory, or returns -EBUSY and restores it when pinned', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m, { coherent: true });
    await mapAnon(p, A, P);
    await fillPages(p, A, 1, 130);
    await dev.migrateToDevice(mm, A, A + P);
    const d = dev.first;
    await mmapReadLock(mm);
    const pinned = await getUserPages(mm, A, 1, FOLL_PIN);
    expect(pinned).toEqual([d]);
    const rec = recordEvents(m);
    expect(await migrateDeviceCoherentFolio(m, d)).toBe(-EBUSY);
    rec.stop();
    // Unmapped (CLEAR), found pinned, mapped back; the caller's reference was consumed.
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_CLEAR, A, A + P, null]]);
    expect(kindPfn(m, mm, A)).toEqual([PTE_PRESENT, d]);
    expect([counts(m, d), pageLocked(m, d)]).toEqual([[1 + GUP_PIN_COUNTING_BIAS, 1], false]);
    unpinUserPage(mm, d);
    expect(await migrateDeviceCoherentFolio(m, d)).toBe(0);
    mmapReadUnlock(mm);
    const [kind, sys] = kindPfn(m, mm, A);
    expect([kind, sys < m.pm.ramFrames, counts(m, sys), pteOf(m, mm, A)!.write]).toEqual([
      PTE_PRESENT,
      true,
      [1, 1],
      true,
    ]);
    expect(dev.freed).toEqual([d]);
    expect(isPattern(await p.read(A, P), 130)).toBe(true);
  });
});

/**
 * migrate_vma_finalize (mm/migrate_device.c migrate_vma_finalize): migration entries become mappings of the new pages
 * (device-private entries for device-private memory, present PTEs otherwise) or of the old page
 * for failed slots; old pages are freed (device ones through pageFree), destinations unlocked,
 * every reference balanced, and no migration entry is left behind.
 */
import { describe, expect, it } from 'vitest';
import {
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
} from '../../../src/devmem/migrate-device.ts';
import type { Machine } from '../../../src/machine.ts';
import {
  FAULT_FLAG_WRITE,
  MM_ANONPAGES,
  MM_FILEPAGES,
  MM_SHMEMPAGES,
  MM_SWAPENTS,
} from '../../../src/mm/constants.ts';
import { handleMmFault } from '../../../src/mm/fault.ts';
import type { Kernel } from '../../../src/mm/kernel.ts';
import type { MmStruct } from '../../../src/mm/mm-struct.ts';
import { PG_anon, PG_anon_exclusive, PG_dirty, PG_lru } from '../../../src/mm/page-flags.ts';
import { pageLocked } from '../../../src/mm/page-lock.ts';
import type { Process } from '../../../src/mm/process.ts';
import {
  isMigrationKind,
  PTE_DEVICE_PRIVATE_READ,
  PTE_DEVICE_PRIVATE_WRITE,
  PTE_PRESENT,
} from '../../../src/mm/pte.ts';
import {
  A,
  counts,
  FakeDevice,
  fillPages,
  isPattern,
  kindPfn,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  mapAnon,
  mpfn,
  newMachine,
  P,
  pteOf,
} from './fake-device.ts';

const M = MIGRATE_PFN_MIGRATE;
const W = MIGRATE_PFN_WRITE;

async function boot(): Promise<{ m: Machine; p: Process; mm: MmStruct }> {
  const m = newMachine();
  const p = await m.createProcess();
  return { m, p, mm: p.mm };
}

/** No migration entry and no locked page in `n` pages from `start`. */
function expectSettled(k: Kernel, mm: MmStruct, start: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const e = pteOf(k, mm, start + i * P);
    if (e === null) continue;
    expect([i, isMigrationKind(e.kind)]).toEqual([i, false]);
    if (e.kind !== 0 && e.pfn !== 0) expect([i, pageLocked(k, e.pfn)]).toEqual([i, false]);
  }
}

function rss(mm: MmStruct): number[] {
  return [mm.rss[MM_FILEPAGES]!, mm.rss[MM_ANONPAGES]!, mm.rss[MM_SWAPENTS]!, mm.rss[MM_SHMEMPAGES]!];
}

describe('system memory to device-private memory and back', () => {
  it('maps device-private entries (writable as the migration entry was), frees the old pages, unlocks the new', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, 3 * P);
    await fillPages(p, A, 3, 60);
    const old = [0, 1, 2].map((i) => kindPfn(m, mm, A + i * P)[1]);
    const free0 = m.pm.freeFrames;
    const r = await dev.migrateToDevice(mm, A, A + 3 * P);
    expect(r.srcAfterPages).toEqual(old.map((pfn) => mpfn(pfn, M | W)));
    for (let i = 0; i < 3; i++) {
      const d = dev.first + i;
      expect(kindPfn(m, mm, A + i * P)).toEqual([PTE_DEVICE_PRIVATE_WRITE, d]);
      // One reference and one mapcount: the mapping's. Anonymous, exclusive, dirty like the source.
      expect(counts(m, d)).toEqual([1, 1]);
      expect(m.pm.flags[d]! & (PG_anon | PG_anon_exclusive | PG_dirty | PG_lru)).toBe(
        PG_anon | PG_anon_exclusive | PG_dirty,
      );
      expect(m.pm.index[d]).toBe((A / P + i) % 2 ** 32);
      expect(m.pm.refcount[old[i]!]).toBe(0);
      expect(isPattern(dev.read(d), 60 + i)).toBe(true);
    }
    expectSettled(m, mm, A, 3);
    // Accounted like the anonymous pages they replace.
    expect(rss(mm)).toEqual([0, 3, 0, 0]);
    // Three old pages freed, three backing pages used.
    expect(m.pm.freeFrames).toBe(free0);
    expect(dev.pgmap.refs).toBe(3);

    const back = await dev.migrateToSystem(mm, A, A + 3 * P);
    expect(back.srcAfterSetup).toEqual([0, 1, 2].map((i) => mpfn(dev.first + i, M | W)));
    expect(back.srcAfterPages).toEqual(back.srcAfterSetup);
    for (let i = 0; i < 3; i++) {
      const [kind, pfn] = kindPfn(m, mm, A + i * P);
      expect([kind, pteOf(m, mm, A + i * P)!.write]).toEqual([PTE_PRESENT, true]);
      expect(back.dst[i]).toBe(mpfn(pfn));
      expect(counts(m, pfn)).toEqual([1, 1]);
      expect(m.pm.flags[pfn]! & (PG_anon | PG_anon_exclusive | PG_lru)).toBe(
        PG_anon | PG_anon_exclusive | PG_lru,
      );
      expect(isPattern(await p.read(A + i * P, P), 60 + i)).toBe(true);
    }
    // Every device page went back to the driver through pageFree, with its backing page.
    expect(dev.freed).toEqual([dev.first, dev.first + 1, dev.first + 2]);
    expect(dev.pgmap.refs).toBe(0);
    expect(m.pm.freeFrames).toBe(free0);
    expect(rss(mm)).toEqual([0, 3, 0, 0]);
    expectSettled(m, mm, A, 3);
  });

  it('keeps a read-only mapping read-only on the device', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, P);
    await fillPages(p, A, 1);
    const child = await p.fork(); // write-protects the page in both
    const r = await dev.migrateToDevice(mm, A, A + P);
    expect(r.srcAfterPages[0]! % 64).toBe(M + 1);
    expect(kindPfn(m, mm, A)).toEqual([PTE_DEVICE_PRIVATE_READ, dev.first]);
    expect(kindPfn(m, child.mm, A)).toEqual([PTE_DEVICE_PRIVATE_READ, dev.first]);
    // Shared: not exclusive to either.
    expect(m.pm.flags[dev.first]! & PG_anon_exclusive).toBe(0);
  });

  it('restores the old page for every slot that failed, and releases the unused destinations', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, 4 * P);
    await fillPages(p, A, 3, 70);
    const old = [0, 1, 2].map((i) => kindPfn(m, mm, A + i * P)[1]);
    const r = await dev.migrateToDevice(mm, A, A + 4 * P, {
      decline: (i) => i === 0,
      beforePages: async (args) => {
        m.getPage(old[1]!); // an extra reference: folio_migrate_mapping refuses
        expect(await handleMmFault(args.vma, A + 3 * P, FAULT_FLAG_WRITE)).toBe(0); // the hole got populated
      },
    });
    const raced = kindPfn(m, mm, A + 3 * P)[1];
    expect(r.srcAfterPages).toEqual([mpfn(old[0]!, W), mpfn(old[1]!, W), mpfn(old[2]!, M | W), 0]);
    expect(kindPfn(m, mm, A)).toEqual([PTE_PRESENT, old[0]]);
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_PRESENT, old[1]]);
    expect(kindPfn(m, mm, A + 2 * P)).toEqual([PTE_DEVICE_PRIVATE_WRITE, dev.first + 1]);
    expect(kindPfn(m, mm, A + 3 * P)).toEqual([PTE_PRESENT, raced]);
    // Restored pages are writable again, exclusive, back on the LRU, with their old counts.
    for (const pfn of [old[0]!, old[1]!]) {
      expect(m.pm.flags[pfn]! & (PG_anon_exclusive | PG_lru)).toBe(PG_anon_exclusive | PG_lru);
    }
    expect(counts(m, old[0]!)).toEqual([1, 1]);
    expect(counts(m, old[1]!)).toEqual([2, 1]);
    m.putPage(old[1]!);
    expect([pteOf(m, mm, A)!.write, pteOf(m, mm, A + P)!.write]).toEqual([true, true]);
    // Destinations of slot 1 (refused) and slot 3 (raced) went back to the driver.
    expect(dev.freed).toEqual([dev.first, dev.first + 2]);
    expect(dev.pgmap.refs).toBe(1);
    expectSettled(m, mm, A, 4);
    expect(rss(mm)).toEqual([0, 4, 0, 0]);
    expect(isPattern(await p.read(A, P), 70)).toBe(true);
    expect(isPattern(await p.read(A + P, P), 71)).toBe(true);
    expect(isPattern(await p.read(A + 2 * P, P), 72)).toBe(true);
  });
});

describe('device-coherent memory', () => {
  it('is mapped by present PTEs both ways; the device page is freed through pageFree', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m, { coherent: true });
    await mapAnon(p, A, 2 * P);
    await fillPages(p, A, 2, 80);
    const old = [kindPfn(m, mm, A)[1], kindPfn(m, mm, A + P)[1]];
    await dev.migrateToDevice(mm, A, A + 2 * P);
    for (let i = 0; i < 2; i++) {
      const e = pteOf(m, mm, A + i * P)!;
      expect([e.kind, e.pfn, e.write]).toEqual([PTE_PRESENT, dev.first + i, true]);
      expect(counts(m, dev.first + i)).toEqual([1, 1]);
      expect(m.pm.refcount[old[i]!]).toBe(0);
    }
    // The CPU reads and writes it in place.
    expect(isPattern(await p.read(A + P, P), 81)).toBe(true);
    await p.store32(A, 0xfeedf00d);
    expect(m.pm.readU32(dev.first, 0)).toBe(0xfeedf00d);
    expect(pteOf(m, mm, A)!.pfn).toBe(dev.first);
    const back = await dev.migrateToSystem(mm, A, A + 2 * P, MIGRATE_VMA_SELECT_DEVICE_COHERENT);
    expect(back.srcAfterPages).toEqual([mpfn(dev.first, M | W), mpfn(dev.first + 1, M | W)]);
    for (let i = 0; i < 2; i++) {
      const [kind, pfn] = kindPfn(m, mm, A + i * P);
      expect([kind, pfn < m.pm.ramFrames, counts(m, pfn)]).toEqual([PTE_PRESENT, true, [1, 1]]);
    }
    expect(await p.load32(A)).toBe(0xfeedf00d);
    expect(isPattern(await p.read(A + P, P), 81)).toBe(true);
    expect(dev.freed).toEqual([dev.first, dev.first + 1]);
    expectSettled(m, mm, A, 2);
  });
});

describe('device-private memory to other device-private memory', () => {
  it('replaces the entries by entries of the new device pages and frees the old ones', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, 2 * P);
    await fillPages(p, A, 2, 90);
    await dev.migrateToDevice(mm, A, A + 2 * P);
    const r = await dev.migrateToDevice(mm, A, A + 2 * P, { flags: MIGRATE_VMA_SELECT_DEVICE_PRIVATE });
    expect(r.srcAfterSetup).toEqual([mpfn(dev.first, M | W), mpfn(dev.first + 1, M | W)]);
    expect(r.dst).toEqual([mpfn(dev.first + 2, W), mpfn(dev.first + 3, W)]);
    expect(kindPfn(m, mm, A)).toEqual([PTE_DEVICE_PRIVATE_WRITE, dev.first + 2]);
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_DEVICE_PRIVATE_WRITE, dev.first + 3]);
    expect(dev.freed).toEqual([dev.first, dev.first + 1]);
    expect(counts(m, dev.first + 2)).toEqual([1, 1]);
    expect(isPattern(await p.read(A + P, P), 91)).toBe(true);
    expectSettled(m, mm, A, 2);
  });
});

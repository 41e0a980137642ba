/**
 * CPU access to device-private memory (mm/memory.c do_swap_page, mm/memremap.c): faults migrate pages back through the
 * pagemap's migrate_to_ram (page locked and referenced); fork, mprotect, munmap and exit handle
 * device-private entries; rss counts them as anonymous pages.
 */
import { describe, expect, it } from 'vitest';
import {
  MIGRATE_VMA_SELECT_COMPOUND,
  MIGRATE_VMA_SELECT_SYSTEM,
} from '../../../src/devmem/migrate-device.ts';
import type { Machine } from '../../../src/machine.ts';
import { MADV_HUGEPAGE, MM_ANONPAGES, PMD_SIZE, PROT_READ } from '../../../src/mm/constants.ts';
import type { MmStruct } from '../../../src/mm/mm-struct.ts';
import {
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_MIGRATE,
  MMU_NOTIFY_PROTECTION_PAGE,
  MMU_NOTIFY_PROTECTION_VMA,
  MMU_NOTIFY_UNMAP,
} from '../../../src/mm/mmu-notifier.ts';
import { PG_anon_exclusive } from '../../../src/mm/page-flags.ts';
import { pageLocked } from '../../../src/mm/page-lock.ts';
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
  mapAnon,
  newMachine,
  P,
  pattern,
  pteOf,
  RW,
  recordEvents,
  tuples,
} from './fake-device.ts';

/** A process with `n` pages of pattern data at A, all migrated to a device-private device. */
async function onDevice(
  n: number,
  seed = 1,
  options: Parameters<typeof newMachine>[0] = {},
): Promise<{ m: Machine; p: Process; mm: MmStruct; dev: FakeDevice }> {
  const m = newMachine(options);
  const p = await m.createProcess();
  const dev = new FakeDevice(m);
  await mapAnon(p, A, n * P);
  await fillPages(p, A, n, seed);
  await dev.migrateToDevice(p.mm, A, A + n * P);
  for (let i = 0; i < n; i++)
    expect(kindPfn(m, p.mm, A + i * P)).toEqual([PTE_DEVICE_PRIVATE_WRITE, dev.first + i]);
  return { m, p, mm: p.mm, dev };
}

describe('CPU faults on device-private entries', () => {
  it('a read calls migrate_to_ram with the page locked and referenced, and maps the page back writable', async () => {
    const { m, p, mm, dev } = await onDevice(2, 30);
    const rec = recordEvents(m);
    const data = await p.read(A + P, P);
    rec.stop();
    expect(isPattern(data, 31)).toBe(true);
    // The mapping's reference plus the fault path's; the fault page stays locked through finalize.
    expect(dev.faults).toEqual([
      {
        address: A + P,
        page: dev.first + 1,
        write: false,
        locked: true,
        refcount: 2,
        result: 0,
        lockedAfterFinalize: true,
      },
    ]);
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_MIGRATE, A + P, A + 2 * P, dev.owner]]);
    const e = pteOf(m, mm, A + P)!;
    expect([e.kind, e.write, e.pfn < m.pm.ramFrames]).toEqual([PTE_PRESENT, true, true]);
    expect([counts(m, e.pfn), pageLocked(m, e.pfn)]).toEqual([[1, 1], false]);
    // The device page went back to the driver once the fault dropped its reference.
    expect(dev.freed).toEqual([dev.first + 1]);
    expect([m.pm.refcount[dev.first + 1], pageLocked(m, dev.first + 1)]).toEqual([0, false]);
    // The other page stays on the device.
    expect(kindPfn(m, mm, A)).toEqual([PTE_DEVICE_PRIVATE_WRITE, dev.first]);
    expect(mm.rss[MM_ANONPAGES]).toBe(2);
  });

  it('a write faults the page back and lands in the new system page', async () => {
    const { m, p, mm, dev } = await onDevice(1, 40);
    await p.store32(A + 8, 0xdeadbeef);
    expect(dev.faults.map((f) => [f.address, f.page, f.write, f.locked])).toEqual([
      [A, dev.first, true, true],
    ]);
    const e = pteOf(m, mm, A)!;
    expect([e.kind, e.write]).toEqual([PTE_PRESENT, true]);
    expect(m.pm.readU32(e.pfn, 8)).toBe(0xdeadbeef);
    expect(await p.load32(A + 8)).toBe(0xdeadbeef);
    const bytes = await p.read(A, P);
    expect(bytes.subarray(0, 8)).toEqual(pattern(P, 40).subarray(0, 8));
    expect(dev.faults).toHaveLength(1);
  });

  it('a failed migrate_to_ram (no system page) kills the access with VM_FAULT_OOM, the entry stays', async () => {
    const { m, p, mm, dev } = await onDevice(1, 45);
    dev.failNextAlloc = true;
    await expect(p.read(A, 1)).rejects.toThrow(/OOM/);
    expect(kindPfn(m, mm, A)).toEqual([PTE_DEVICE_PRIVATE_WRITE, dev.first]);
    expect([counts(m, dev.first), pageLocked(m, dev.first)]).toEqual([[1, 1], false]);
    expect(isPattern(await p.read(A, P), 45)).toBe(true);
  });
});

describe('fork with device-private entries', () => {
  it('shares them read-only in parent and child; a write then copies, leaving the child its data', async () => {
    const { m, p, mm, dev } = await onDevice(2, 50);
    const d0 = dev.first;
    const rec = recordEvents(m);
    const child = await p.fork();
    rec.stop();
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_PROTECTION_PAGE, A, A + 2 * P, null]]);
    for (const who of [mm, child.mm]) expect(kindPfn(m, who, A)).toEqual([PTE_DEVICE_PRIVATE_READ, d0]);
    expect(counts(m, d0)).toEqual([2, 2]);
    expect(m.pm.flags[d0]! & PG_anon_exclusive).toBe(0);
    expect([mm.rss[MM_ANONPAGES], child.mm.rss[MM_ANONPAGES]]).toEqual([2, 2]);
    // The parent writes: the page comes back to RAM for both (CLEAR in the child), then the
    // parent's write copies it.
    const rec2 = recordEvents(m);
    await p.store32(A, 0x11111111);
    rec2.stop();
    expect(dev.faults.map((f) => [f.address, f.page, f.write])).toEqual([[A, d0, true]]);
    expect(tuples(rec2.events)).toEqual([
      [mm.id, MMU_NOTIFY_MIGRATE, A, A + P, dev.owner],
      // try_to_migrate visits the faulting mm's VMA first (its entry is already a migration
      // entry, but the notifier starts before the walk), then the child's.
      [mm.id, MMU_NOTIFY_CLEAR, A, A + P, null],
      [child.mm.id, MMU_NOTIFY_CLEAR, A, A + P, null],
      [mm.id, MMU_NOTIFY_CLEAR, A, A + P, null],
    ]);
    const shared = pteOf(m, child.mm, A)!;
    const mine = pteOf(m, mm, A)!;
    expect([shared.kind, shared.write, mine.kind, mine.write]).toEqual([
      PTE_PRESENT,
      false,
      PTE_PRESENT,
      true,
    ]);
    expect(mine.pfn).not.toBe(shared.pfn);
    expect(counts(m, shared.pfn)).toEqual([1, 1]);
    expect(isPattern(await child.read(A, P), 50)).toBe(true);
    expect(await p.load32(A)).toBe(0x11111111);
    expect(dev.freed).toEqual([d0]);
    // The child's write to the second page faults it back and copies too; the parent keeps its data.
    await child.store32(A + P, 0x22222222);
    expect(isPattern(await p.read(A + P, P), 51)).toBe(true);
    expect(await child.load32(A + P)).toBe(0x22222222);
    expect(dev.freed).toEqual([d0, d0 + 1]);
  });
});

describe('mprotect, munmap and exit of device-private entries', () => {
  it('mprotect(PROT_READ) makes them read-only (PROTECTION_VMA); the page comes back read-only', async () => {
    const { m, p, mm, dev } = await onDevice(2, 60);
    const rec = recordEvents(m);
    expect(await p.mprotect(A, 2 * P, PROT_READ)).toBe(0);
    rec.stop();
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_PROTECTION_VMA, A, A + 2 * P, null]]);
    expect(kindPfn(m, mm, A)).toEqual([PTE_DEVICE_PRIVATE_READ, dev.first]);
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_DEVICE_PRIVATE_READ, dev.first + 1]);
    expect(isPattern(await p.read(A, P), 60)).toBe(true);
    const e = pteOf(m, mm, A)!;
    expect([e.kind, e.write]).toEqual([PTE_PRESENT, false]);
    // Still exclusive to this process: PROT_READ|PROT_WRITE makes it writable without a fault.
    expect(await p.mprotect(A, 2 * P, RW)).toBe(0);
    expect(pteOf(m, mm, A)!.write).toBe(true);
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_DEVICE_PRIVATE_READ, dev.first + 1]);
  });

  it('munmap drops the entries (UNMAP), their references and rss; pageFree runs', async () => {
    const { m, p, mm, dev } = await onDevice(3);
    expect(mm.rss[MM_ANONPAGES]).toBe(3);
    const rec = recordEvents(m);
    expect(await p.munmap(A + P, 2 * P)).toBe(0);
    rec.stop();
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_UNMAP, A + P, A + 3 * P, null]]);
    expect(dev.freed).toEqual([dev.first + 1, dev.first + 2]);
    expect(mm.rss[MM_ANONPAGES]).toBe(1);
    expect(dev.pgmap.refs).toBe(1);
    expect(dev.faults).toEqual([]);
  });

  it('exit frees every device page without migrating it back', async () => {
    const { m, p, mm, dev } = await onDevice(2);
    const free0 = m.pm.freeFrames;
    await p.exit();
    expect(dev.freed).toEqual([dev.first, dev.first + 1]);
    expect(dev.pgmap.refs).toBe(0);
    expect(dev.faults).toEqual([]);
    expect(mm.rss[MM_ANONPAGES]).toBe(0);
    // The two backing pages were returned with the device pages.
    expect(m.pm.freeFrames).toBeGreaterThanOrEqual(free0 + 2);
  });
});

describe('device-private THPs', () => {
  it('a fault on a device-private PMD hands migrate_to_ram the folio head and brings the THP back whole', async () => {
    const m = newMachine();
    const p = await m.createProcess();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, PMD_SIZE);
    expect(await p.madvise(A, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
    await p.write(A + 9 * P, pattern(64, 9));
    await dev.migrateToDevice(p.mm, A, A + PMD_SIZE, {
      flags: MIGRATE_VMA_SELECT_SYSTEM | MIGRATE_VMA_SELECT_COMPOUND,
    });
    expect(pteOf(m, p.mm, A, 2)!.kind).toBe(PTE_DEVICE_PRIVATE_WRITE);
    expect(await p.read(A + 9 * P, 64)).toEqual(pattern(64, 9));
    // do_huge_pmd_device_private: vmf->page is the page of the PMD entry, the head.
    expect(dev.faults.map((f) => [f.address, f.page, f.locked, f.result])).toEqual([
      [A + 9 * P, dev.first, true, 0],
    ]);
    const pmd = pteOf(m, p.mm, A, 2)!;
    expect([pmd.kind, pmd.leaf, pmd.write, m.pm.order[pmd.pfn]]).toEqual([PTE_PRESENT, true, true, 9]);
    expect([m.pm.refcount[pmd.pfn], m.pm.entireMapcount[pmd.pfn]]).toEqual([1, 1]);
    expect(dev.freed).toEqual([dev.first]);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(512);
  });

  it('a fault on a PTE-mapped device-private THP splits it and brings back the faulting page', async () => {
    // A livelock (the fault retried forever) would exhaust this budget.
    const m = newMachine({ scheduler: { stepBudget: 50_000 } });
    const p = await m.createProcess();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, PMD_SIZE);
    expect(await p.madvise(A, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
    await p.write(A + 9 * P, pattern(64, 19));
    await dev.migrateToDevice(p.mm, A, A + PMD_SIZE, {
      flags: MIGRATE_VMA_SELECT_SYSTEM | MIGRATE_VMA_SELECT_COMPOUND,
    });
    // Protecting the first page splits the VMA and the PMD: the folio is now mapped by PTEs.
    expect(await p.mprotect(A, P, PROT_READ)).toBe(0);
    expect(pteOf(m, p.mm, A, 2)!.kind).toBe(PTE_TABLE);
    expect(kindPfn(m, p.mm, A + 9 * P)).toEqual([PTE_DEVICE_PRIVATE_WRITE, dev.first + 9]);
    expect(m.pm.order[dev.first]).toBe(9);
    expect(await p.read(A + 9 * P, 64)).toEqual(pattern(64, 19));
    expect(dev.faults.map((f) => [f.page, f.locked, f.result, f.lockedAfterFinalize])).toEqual([
      [dev.first + 9, true, 0, true],
    ]);
    const e = pteOf(m, p.mm, A + 9 * P)!;
    expect([e.kind, e.write, counts(m, e.pfn)]).toEqual([PTE_PRESENT, true, [1, 1]]);
    // The device folio was split: the other pages stay on the device, as small pages.
    expect([m.pm.order[dev.first], m.pm.order[dev.first + 10]]).toEqual([0, 0]);
    expect(kindPfn(m, p.mm, A + 10 * P)).toEqual([PTE_DEVICE_PRIVATE_WRITE, dev.first + 10]);
    expect([counts(m, dev.first + 10), pageLocked(m, dev.first + 10), pageLocked(m, dev.first)]).toEqual([
      [1, 1],
      false,
      false,
    ]);
    expect(dev.freed).toEqual([dev.first + 9]);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(512);
  });
});

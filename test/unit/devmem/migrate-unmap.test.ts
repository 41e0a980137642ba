/**
 * migrate_device_unmap as migrate_vma_setup runs it (mm/migrate_device.c migrate_device_unmap): LRU
 * isolation, rmap unmapping of other mappings (try_to_migrate, CLEAR), and the restore of pages
 * that are pinned, still mapped or not isolatable.
 */
import { describe, expect, it } from 'vitest';
import {
  MIGRATE_VMA_SELECT_SYSTEM,
  type MigrateVma,
  migrateVmaFinalize,
  migrateVmaSetup,
} from '../../../src/devmem/migrate-device.ts';
import type { Machine } from '../../../src/machine.ts';
import { MAP_FIXED, MAP_PRIVATE, MM_ANONPAGES, MM_FILEPAGES, PROT_READ } from '../../../src/mm/constants.ts';
import { FOLL_PIN, GUP_PIN_COUNTING_BIAS, getUserPages, unpinUserPage } from '../../../src/mm/gup.ts';
import type { MmStruct } from '../../../src/mm/mm-struct.ts';
import { mmapReadLock, mmapReadUnlock } from '../../../src/mm/mmap-lock.ts';
import { MMU_NOTIFY_CLEAR, MMU_NOTIFY_MIGRATE } from '../../../src/mm/mmu-notifier.ts';
import { PG_anon_exclusive, PG_lru } from '../../../src/mm/page-flags.ts';
import { pageLocked } from '../../../src/mm/page-lock.ts';
import type { Process } from '../../../src/mm/process.ts';
import {
  PTE_DEVICE_PRIVATE_READ,
  PTE_MIGRATION_READ,
  PTE_MIGRATION_WRITE,
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
  recordEvents,
  tuples,
} from './fake-device.ts';

const M = MIGRATE_PFN_MIGRATE;
const W = MIGRATE_PFN_WRITE;

async function boot(): Promise<{ m: Machine; p: Process; mm: MmStruct; dev: FakeDevice }> {
  const m = newMachine();
  const p = await m.createProcess();
  return { m, p, mm: p.mm, dev: new FakeDevice(m) };
}

/** migrateVmaSetup (SELECT_SYSTEM) under the mmap read lock, kept until {@link finish}. */
async function setup(mm: MmStruct, start: number, end: number, owner: unknown): Promise<MigrateVma> {
  await mmapReadLock(mm);
  const n = (end - start) / P;
  const args: MigrateVma = {
    vma: mm.vmaLookup(start)!,
    start,
    end,
    src: new Float64Array(n),
    dst: new Float64Array(n),
    cpages: 0,
    npages: 0,
    pgmapOwner: owner,
    flags: MIGRATE_VMA_SELECT_SYSTEM,
    faultPage: 0,
  };
  expect(await migrateVmaSetup(args)).toBe(0);
  return args;
}

function finish(args: MigrateVma): void {
  migrateVmaFinalize(args);
  mmapReadUnlock(args.vma.mm);
}

async function pin(mm: MmStruct, addr: number): Promise<number> {
  await mmapReadLock(mm);
  const pages = await getUserPages(mm, addr, 1, FOLL_PIN);
  mmapReadUnlock(mm);
  if (typeof pages === 'number') throw new Error(`pin failed: ${pages}`);
  return pages[0]!;
}

describe('pinned pages never migrate', () => {
  it('a pinned exclusive anonymous page cannot be made shareable: collect leaves it mapped (0)', async () => {
    const { m, p, mm, dev } = await boot();
    await mapAnon(p, A, 2 * P);
    await fillPages(p, A, 2);
    const pfn = await pin(mm, A);
    expect(m.pm.refcount[pfn]).toBe(1 + GUP_PIN_COUNTING_BIAS);
    const other = kindPfn(m, mm, A + P)[1];
    const args = await setup(mm, A, A + 2 * P, dev.owner);
    expect([...args.src]).toEqual([0, mpfn(other, M | W)]);
    expect(args.cpages).toBe(1);
    // Never touched: present, writable, still exclusive, unlocked, the pin intact.
    expect(kindPfn(m, mm, A)).toEqual([PTE_PRESENT, pfn]);
    expect(pteOf(m, mm, A)!.write).toBe(true);
    expect(m.pm.flags[pfn]! & PG_anon_exclusive).toBe(PG_anon_exclusive);
    expect([counts(m, pfn), pageLocked(m, pfn)]).toEqual([[1 + GUP_PIN_COUNTING_BIAS, 1], false]);
    finish(args);
    unpinUserPage(mm, pfn);
    expect(counts(m, pfn)).toEqual([1, 1]);
  });

  it('a pinned page that collect unmapped fails the pin check: restored, slot zeroed, cpages not counting it', async () => {
    const { m, p, mm, dev } = await boot();
    const fd = await p.createTmpFile(2 * P);
    expect(await p.mmap(A, 2 * P, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0)).toBe(A);
    await p.read(A, 2 * P);
    const [f0, f1] = [kindPfn(m, mm, A)[1], kindPfn(m, mm, A + P)[1]];
    // Page cache + mapping.
    expect(counts(m, f1)).toEqual([2, 1]);
    const pinned = await pin(mm, A + P);
    expect(pinned).toBe(f1);
    const rec = recordEvents(m);
    const args = await setup(mm, A, A + 2 * P, dev.owner);
    rec.stop();
    // Not anonymous, so collect unmapped both (readable migration entries); the pin check
    // (refcount - page cache - isolation > mapcount) then restored the pinned one.
    expect([...args.src]).toEqual([mpfn(f0, M), 0]);
    expect(args.cpages).toBe(1);
    expect(kindPfn(m, mm, A)).toEqual([PTE_MIGRATION_READ, f0]);
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_PRESENT, f1]);
    expect(pteOf(m, mm, A + P)!.write).toBe(false);
    expect([counts(m, f1), pageLocked(m, f1), m.pm.flags[f1]! & PG_lru]).toEqual([
      [2 + GUP_PIN_COUNTING_BIAS, 1],
      false,
      PG_lru,
    ]);
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_MIGRATE, A, A + 2 * P, dev.owner]]);
    finish(args);
    expect([counts(m, f0), pageLocked(m, f0)]).toEqual([[2, 1], false]);
    expect(mm.rss[MM_FILEPAGES]).toBe(2);
    unpinUserPage(mm, f1);
    expect(counts(m, f1)).toEqual([2, 1]);
  });
});

describe('rmap unmapping of other mappings', () => {
  it('a page shared with a forked child is unmapped in the child (CLEAR) and migrates for both', async () => {
    const { m, p, mm, dev } = await boot();
    await mapAnon(p, A, P);
    await fillPages(p, A, 1, 40);
    const child = await p.fork();
    const pfn = kindPfn(m, mm, A)[1];
    expect(counts(m, pfn)).toEqual([2, 2]);
    const rec = recordEvents(m);
    const r = await dev.migrateToDevice(mm, A, A + P);
    rec.stop();
    // Write-protected by fork and shared: a plain readable migration entry, no WRITE.
    expect(r.srcAfterSetup).toEqual([mpfn(pfn, M)]);
    expect(r.cpages).toBe(1);
    expect(tuples(rec.events)).toEqual([
      [mm.id, MMU_NOTIFY_MIGRATE, A, A + P, dev.owner],
      // try_to_migrate_one starts a CLEAR on every VMA the rmap walk visits, the migrating mm's
      // too (its PTE is already a migration entry), until the folio is unmapped (Linux 6.12
      // agrees: the oracle's fuzz-1-194 lost a neighbouring mirror entry to it).
      [mm.id, MMU_NOTIFY_CLEAR, A, A + P, null],
      [child.mm.id, MMU_NOTIFY_CLEAR, A, A + P, null],
    ]);
    const d = dev.first;
    expect(kindPfn(m, mm, A)).toEqual([PTE_DEVICE_PRIVATE_READ, d]);
    expect(kindPfn(m, child.mm, A)).toEqual([PTE_DEVICE_PRIVATE_READ, d]);
    expect(counts(m, d)).toEqual([2, 2]);
    // The old page was freed (its last reference was the migration's).
    expect(m.pm.refcount[pfn]).toBe(0);
    expect([mm.rss[MM_ANONPAGES], child.mm.rss[MM_ANONPAGES]]).toEqual([1, 1]);
    expect(isPattern(dev.read(d), 40)).toBe(true);
    // Both read the data back (each fault migrates it to RAM once for both).
    expect(isPattern(await child.read(A, P), 40)).toBe(true);
    expect(isPattern(await p.read(A, P), 40)).toBe(true);
  });

  it("while the child's mapping is a migration entry too, the page is locked and held by the migration only", async () => {
    const { m, p, mm, dev } = await boot();
    await mapAnon(p, A, P);
    await fillPages(p, A, 1);
    const child = await p.fork();
    const pfn = kindPfn(m, mm, A)[1];
    const args = await setup(mm, A, A + P, dev.owner);
    expect(kindPfn(m, mm, A)).toEqual([PTE_MIGRATION_READ, pfn]);
    expect(kindPfn(m, child.mm, A)).toEqual([PTE_MIGRATION_READ, pfn]);
    expect([counts(m, pfn), pageLocked(m, pfn), m.pm.flags[pfn]! & PG_lru]).toEqual([[1, 0], true, 0]);
    finish(args);
    // Without a destination both get the old page back, read-only (a later write copies).
    expect(kindPfn(m, mm, A)).toEqual([PTE_PRESENT, pfn]);
    expect(kindPfn(m, child.mm, A)).toEqual([PTE_PRESENT, pfn]);
    expect([pteOf(m, mm, A)!.write, pteOf(m, child.mm, A)!.write]).toEqual([false, false]);
    expect([counts(m, pfn), pageLocked(m, pfn)]).toEqual([[2, 2], false]);
  });
});

describe('pages that cannot be isolated from the LRU', () => {
  it('are restored and their slot zeroed while the others keep migrating', async () => {
    const { m, p, mm, dev } = await boot();
    await mapAnon(p, A, 3 * P);
    await fillPages(p, A, 3);
    const [p0, p1, p2] = [0, 1, 2].map((i) => kindPfn(m, mm, A + i * P)[1]) as [number, number, number];
    // Isolated by someone else (or sitting in a per-CPU LRU batch the drain does not reach).
    m.pm.flags[p1]! &= ~PG_lru;
    const args = await setup(mm, A, A + 3 * P, dev.owner);
    expect([...args.src]).toEqual([mpfn(p0, M | W), 0, mpfn(p2, M | W)]);
    expect([args.cpages, args.npages]).toEqual([2, 3]);
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_PRESENT, p1]);
    expect(pteOf(m, mm, A + P)!.write).toBe(true);
    expect([counts(m, p1), pageLocked(m, p1)]).toEqual([[1, 1], false]);
    expect(kindPfn(m, mm, A)).toEqual([PTE_MIGRATION_WRITE, p0]);
    expect(kindPfn(m, mm, A + 2 * P)).toEqual([PTE_MIGRATION_WRITE, p2]);
    finish(args);
    for (const [i, pfn] of [p0, p1, p2].entries()) {
      expect(kindPfn(m, mm, A + i * P)).toEqual([PTE_PRESENT, pfn]);
      expect(counts(m, pfn)).toEqual([1, 1]);
    }
  });
});

/**
 * migrate_vma_setup's argument checks and its collect walk (mm/migrate_device.c migrate_vma_collect_pmd): what each
 * CPU state writes in `src`, how `cpages` counts, and the MIGRATE invalidation around the walk.
 */
import { describe, expect, it } from 'vitest';
import { makeDeviceExclusive } from '../../../src/devmem/device-exclusive.ts';
import {
  MIGRATE_VMA_SELECT_COMPOUND,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  type MigrateVma,
  migrateVmaFinalize,
  migrateVmaSetup,
} from '../../../src/devmem/migrate-device.ts';
import type { Machine } from '../../../src/machine.ts';
import {
  MADV_HUGEPAGE,
  MADV_PAGEOUT,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MM_ANONPAGES,
  MM_SWAPENTS,
  PMD_SIZE,
  PROT_READ,
} from '../../../src/mm/constants.ts';
import type { MmStruct } from '../../../src/mm/mm-struct.ts';
import { mmapReadLock, mmapReadUnlock } from '../../../src/mm/mmap-lock.ts';
import { MMU_NOTIFY_CLEAR, MMU_NOTIFY_MIGRATE } from '../../../src/mm/mmu-notifier.ts';
import { PG_dirty, PG_locked, PG_lru } from '../../../src/mm/page-flags.ts';
import { pageLocked, trylockPage, unlockPage } from '../../../src/mm/page-lock.ts';
import { ensureEntry } from '../../../src/mm/page-table.ts';
import { HUGE_ZERO_PFN, ZERO_PFN } from '../../../src/mm/physmem.ts';
import type { Process } from '../../../src/mm/process.ts';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE_READ,
  PTE_DEVICE_PRIVATE_WRITE,
  PTE_MIGRATION_READ_EXCLUSIVE,
  PTE_MIGRATION_WRITE,
  PTE_PRESENT,
  PTE_SPECIAL,
  PTE_SWAP,
  PTE_TABLE,
  PTE_YOUNG,
} from '../../../src/mm/pte.ts';
import { EINVAL } from '../../../src/sim/errno.ts';
import {
  A,
  counts,
  FakeDevice,
  fillPages,
  kindPfn,
  MIGRATE_PFN_COMPOUND,
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
const SYS = MIGRATE_VMA_SELECT_SYSTEM;
const PRIV = MIGRATE_VMA_SELECT_DEVICE_PRIVATE;

async function boot(
  options: Parameters<typeof newMachine>[0] = {},
): Promise<{ m: Machine; p: Process; mm: MmStruct }> {
  const m = newMachine(options);
  const p = await m.createProcess();
  return { m, p, mm: p.mm };
}

/** migrateVmaSetup over [start, end) with the mmap read lock taken (and kept: call {@link finish}). */
async function setup(
  mm: MmStruct,
  start: number,
  end: number,
  flags: number,
  owner: unknown,
  faultPage = 0,
): Promise<MigrateVma & { ret: number }> {
  await mmapReadLock(mm);
  const vma = mm.vmaLookup(start);
  if (vma === null) throw new Error('no vma');
  const n = Math.ceil((end - start) / P);
  const args: MigrateVma = {
    vma,
    start,
    end,
    src: new Float64Array(n).fill(12345),
    dst: new Float64Array(n).fill(54321),
    cpages: -1,
    npages: -1,
    pgmapOwner: owner,
    flags,
    faultPage,
  };
  const ret = await migrateVmaSetup(args);
  return Object.assign(args, { ret });
}

/** Finalize without destinations (every page restored) and drop the mmap lock. */
function finish(args: MigrateVma): void {
  migrateVmaFinalize(args);
  mmapReadUnlock(args.vma.mm);
}

function words(args: MigrateVma): number[] {
  return [...args.src.subarray(0, args.npages)];
}

describe('migrateVmaSetup argument checks', () => {
  it('returns -EINVAL without touching src for a bad range, short arrays or a bad fault page', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, 4 * P);
    await fillPages(p, A, 1);
    await mmapReadLock(mm);
    const vma = mm.vmaLookup(A)!;
    const mk = (start: number, end: number, n = 4, faultPage = 0): MigrateVma => ({
      vma,
      start,
      end,
      src: new Float64Array(n).fill(7),
      dst: new Float64Array(n),
      cpages: -1,
      npages: -1,
      pgmapOwner: dev.owner,
      flags: SYS,
      faultPage,
    });
    const rec = recordEvents(m);
    const cases: [string, MigrateVma][] = [
      ['empty range', mk(A + P, A + P)],
      ['end before start', mk(A + 2 * P, A + P)],
      ['start below the VMA', mk(A - P, A + P)],
      ['end past the VMA', mk(A, A + 5 * P, 5)],
      ['src shorter than the range', mk(A, A + 4 * P, 3)],
      ['fault page is a system page', mk(A, A + P, 1, kindPfn(m, mm, A)[1])],
    ];
    const devPage = dev.allocPage();
    unlockPage(m, devPage);
    cases.push(['fault page not locked', mk(A, A + P, 1, devPage)]);
    for (const [name, args] of cases) {
      expect([name, await migrateVmaSetup(args)]).toEqual([name, -EINVAL]);
      expect([name, args.src[0], args.cpages, args.npages]).toEqual([name, 7, -1, -1]);
    }
    // A hugetlb VMA is refused too.
    const hm = newMachine({ hugetlbPages: 1 });
    const hp = await hm.createProcess();
    expect(await hp.mmap(A, PMD_SIZE, PROT_READ, MAP_PRIVATE | 0x20 | MAP_FIXED | MAP_HUGETLB, -1, 0)).toBe(
      A,
    );
    await mmapReadLock(hp.mm);
    const hargs = { ...mk(A, A + P, 1), vma: hp.mm.vmaLookup(A)! };
    expect(await migrateVmaSetup(hargs)).toBe(-EINVAL);
    mmapReadUnlock(hp.mm);
    rec.stop();
    mmapReadUnlock(mm);
    // Nothing was collected: no invalidation, the page is untouched.
    expect(rec.events).toEqual([]);
    expect(pteOf(m, mm, A)!.kind).toBe(PTE_PRESENT);
    m.putPage(devPage);
  });

  it('rounds start and end down to pages and resets end to start + npages pages', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, 4 * P);
    const args = await setup(mm, A + 5, A + 3 * P + 9, SYS, dev.owner);
    expect(args.ret).toBe(0);
    expect([args.start, args.end, args.npages, args.cpages]).toEqual([A, A + 3 * P, 3, 3]);
    expect(words(args)).toEqual([M, M, M]);
    // dst is zeroed for every collected slot.
    expect([...args.dst.subarray(0, 3)]).toEqual([0, 0, 0]);
    finish(args);
  });
});

describe('collect: holes and the zero page', () => {
  it('an anonymous VMA without page tables gives empty MIGRATE slots, announced as MIGRATE with the owner', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, 4 * P);
    const rec = recordEvents(m);
    const args = await setup(mm, A, A + 4 * P, SYS, dev.owner);
    rec.stop();
    expect(words(args)).toEqual([M, M, M, M]);
    expect([args.cpages, args.npages]).toEqual([4, 4]);
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_MIGRATE, A, A + 4 * P, dev.owner]]);
    // The walk allocated nothing.
    expect(pteOf(m, mm, A, 2)).toBeNull();
    finish(args);
  });

  it('none PTEs next to a present page are empty slots; the owner is whatever the caller passed', async () => {
    const { m, p, mm } = await boot();
    await mapAnon(p, A, 4 * P);
    await p.write(A + P, new Uint8Array([1]));
    const pfn = kindPfn(m, mm, A + P)[1];
    const owner = { other: true };
    const rec = recordEvents(m);
    const args = await setup(mm, A, A + 4 * P, SYS, owner);
    rec.stop();
    expect(words(args)).toEqual([M, mpfn(pfn, M | W), M, M]);
    expect(args.cpages).toBe(4);
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_MIGRATE, A, A + 4 * P, owner]]);
    finish(args);
  });

  it('holes of a file VMA are skipped (0): only anonymous memory is populated', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    const fd = await p.createTmpFile(4 * P);
    expect(await p.mmap(A, 4 * P, PROT_READ | 2, MAP_PRIVATE | MAP_FIXED, fd, 0)).toBe(A);
    const rec = recordEvents(m);
    const args = await setup(mm, A, A + 4 * P, SYS, dev.owner);
    rec.stop();
    expect(words(args)).toEqual([0, 0, 0, 0]);
    expect([args.cpages, args.npages]).toEqual([0, 4]);
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_MIGRATE, A, A + 4 * P, dev.owner]]);
    finish(args);
  });

  it('a zero-page PTE is an empty slot with SELECT_SYSTEM and 0 without', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, 2 * P);
    await p.read(A, 2 * P);
    expect(kindPfn(m, mm, A)).toEqual([PTE_PRESENT, ZERO_PFN]);
    let args = await setup(mm, A, A + 2 * P, SYS, dev.owner);
    expect(words(args)).toEqual([M, M]);
    expect(args.cpages).toBe(2);
    finish(args);
    args = await setup(mm, A, A + 2 * P, PRIV, dev.owner);
    expect(words(args)).toEqual([0, 0]);
    expect(args.cpages).toBe(0);
    finish(args);
    // The zero page stays mapped either way.
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_PRESENT, ZERO_PFN]);
  });

  it('a huge zero PMD is collected as holes (not split), or one compound hole with SELECT_COMPOUND', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, PMD_SIZE);
    expect(await p.madvise(A, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
    await p.read(A, 1);
    const pmd = pteOf(m, mm, A, 2)!;
    expect([pmd.kind, pmd.leaf, pmd.pfn]).toEqual([PTE_PRESENT, true, HUGE_ZERO_PFN]);
    let args = await setup(mm, A, A + 3 * P, SYS, dev.owner);
    expect(words(args)).toEqual([M, M, M]);
    expect(args.cpages).toBe(3);
    finish(args);
    args = await setup(mm, A, A + 3 * P, PRIV, dev.owner);
    expect(words(args)).toEqual([0, 0, 0]);
    expect(args.cpages).toBe(0);
    finish(args);
    args = await setup(mm, A, A + PMD_SIZE, SYS | MIGRATE_VMA_SELECT_COMPOUND, dev.owner);
    expect([args.src[0], args.cpages, args.npages]).toEqual([M + MIGRATE_PFN_COMPOUND, 1, 512]);
    expect(
      words(args)
        .slice(1)
        .every((w) => w === 0),
    ).toBe(true);
    finish(args);
    expect(pteOf(m, mm, A, 2)!.pfn).toBe(HUGE_ZERO_PFN);
  });
});

describe('collect: present pages', () => {
  it('a system page needs SELECT_SYSTEM', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, P);
    await fillPages(p, A, 1);
    const pfn = kindPfn(m, mm, A)[1];
    const args = await setup(mm, A, A + P, PRIV | MIGRATE_VMA_SELECT_DEVICE_COHERENT, dev.owner);
    expect(words(args)).toEqual([0]);
    expect(args.cpages).toBe(0);
    // Untouched: still mapped, writable, one reference, one mapping, unlocked.
    expect(pteOf(m, mm, A)!.write).toBe(true);
    expect(counts(m, pfn)).toEqual([1, 1]);
    expect(pageLocked(m, pfn)).toBe(false);
    finish(args);
  });

  it('collecting a system page leaves it locked behind a migration entry, with the dirty bit moved to the folio', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, 2 * P);
    await fillPages(p, A, 2);
    // The second page becomes read-only in a VMA of its own.
    expect(await p.mprotect(A + P, P, PROT_READ)).toBe(0);
    const [pfn0, pfn1] = [kindPfn(m, mm, A)[1], kindPfn(m, mm, A + P)[1]];
    const a0 = await setup(mm, A, A + P, SYS, dev.owner);
    mmapReadUnlock(mm);
    const a1 = await setup(mm, A + P, A + 2 * P, SYS, dev.owner);
    // The read-only page has no WRITE bit and a readable-exclusive migration entry.
    expect([words(a0), words(a1)]).toEqual([[mpfn(pfn0, M | W)], [mpfn(pfn1, M)]]);
    expect([a0.cpages, a1.cpages]).toEqual([1, 1]);
    expect(kindPfn(m, mm, A)).toEqual([PTE_MIGRATION_WRITE, pfn0]);
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_MIGRATION_READ_EXCLUSIVE, pfn1]);
    for (const pfn of [pfn0, pfn1]) {
      // The isolation's reference only; no mapping; locked; off the LRU; dirty kept.
      expect(counts(m, pfn)).toEqual([1, 0]);
      expect(pageLocked(m, pfn)).toBe(true);
      expect(m.pm.flags[pfn]! & (PG_lru | PG_dirty)).toBe(PG_dirty);
    }
    // A migration entry still counts in rss.
    expect(mm.rss[MM_ANONPAGES]).toBe(2);
    migrateVmaFinalize(a0);
    finish(a1);
    expect(kindPfn(m, mm, A)).toEqual([PTE_PRESENT, pfn0]);
    expect(pteOf(m, mm, A)!.write).toBe(true);
    expect(pteOf(m, mm, A + P)!.write).toBe(false);
    for (const pfn of [pfn0, pfn1]) {
      expect(counts(m, pfn)).toEqual([1, 1]);
      expect(pageLocked(m, pfn)).toBe(false);
      expect(m.pm.flags[pfn]! & PG_lru).toBe(PG_lru);
    }
  });

  it('a THP without SELECT_COMPOUND is split (CLEAR over the PMD) and collected page by page', async () => {
    // split_huge_page unmaps the folio (CLEAR over the PMD, then over the folio's extent) and maps
    // its zero-filled pages back as the shared zero page (RMP_USE_SHARED_ZEROPAGE, 6.12 and
    // mainline): page 2 is collected as a zero page, pages 4.. are the zero page afterwards.
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, PMD_SIZE);
    expect(await p.madvise(A, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
    for (const i of [0, 1, 3]) await p.write(A + i * P, new Uint8Array([9 + i]));
    const head = pteOf(m, mm, A, 2)!.pfn;
    expect(m.pm.order[head]).toBe(9);
    const rec = recordEvents(m);
    const args = await setup(mm, A, A + 3 * P, SYS, dev.owner);
    rec.stop();
    expect(words(args)).toEqual([mpfn(head, M | W), mpfn(head + 1, M | W), M]);
    expect(args.cpages).toBe(3);
    expect(tuples(rec.events)).toEqual([
      [mm.id, MMU_NOTIFY_MIGRATE, A, A + 3 * P, dev.owner],
      [mm.id, MMU_NOTIFY_CLEAR, A, A + PMD_SIZE, null],
      [mm.id, MMU_NOTIFY_CLEAR, A, A + PMD_SIZE, null],
    ]);
    // The folio is small pages now; the PMD a table; the rest of the 2 MiB still mapped.
    expect([m.pm.order[head], m.pm.order[head + 511]]).toEqual([0, 0]);
    expect(pteOf(m, mm, A, 2)!.kind).toBe(PTE_TABLE);
    expect(kindPfn(m, mm, A + 3 * P)).toEqual([PTE_PRESENT, head + 3]);
    expect(counts(m, head + 3)).toEqual([1, 1]);
    expect(kindPfn(m, mm, A + 4 * P)).toEqual([PTE_PRESENT, ZERO_PFN]);
    expect(pteOf(m, mm, A + 4 * P)!.write).toBe(false);
    expect(counts(m, head + 4)).toEqual([0, 0]);
    expect(counts(m, head)).toEqual([1, 0]);
    finish(args);
    expect(counts(m, head)).toEqual([1, 1]);
    expect(mm.rss[MM_ANONPAGES]).toBe(3);
  });

  it('a THP with SELECT_COMPOUND over its 2 MiB becomes one compound slot behind a PMD migration entry', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, PMD_SIZE);
    expect(await p.madvise(A, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
    await p.write(A, new Uint8Array([9]));
    const head = pteOf(m, mm, A, 2)!.pfn;
    const rec = recordEvents(m);
    const args = await setup(mm, A, A + PMD_SIZE, SYS | MIGRATE_VMA_SELECT_COMPOUND, dev.owner);
    rec.stop();
    expect([args.src[0], args.cpages, args.npages]).toEqual([
      mpfn(head, M | W | MIGRATE_PFN_COMPOUND),
      1,
      512,
    ]);
    expect(
      words(args)
        .slice(1)
        .every((w) => w === 0),
    ).toBe(true);
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_MIGRATE, A, A + PMD_SIZE, dev.owner]]);
    const pmd = pteOf(m, mm, A, 2)!;
    expect([pmd.kind, pmd.leaf, pmd.pfn]).toEqual([PTE_MIGRATION_WRITE, true, head]);
    expect([m.pm.order[head], m.pm.entireMapcount[head], m.pm.refcount[head], pageLocked(m, head)]).toEqual([
      9,
      0,
      1,
      true,
    ]);
    finish(args);
    const back = pteOf(m, mm, A, 2)!;
    expect([back.kind, back.leaf, back.pfn, back.write]).toEqual([PTE_PRESENT, true, head, true]);
    expect([m.pm.entireMapcount[head], m.pm.refcount[head], pageLocked(m, head)]).toEqual([1, 1, false]);
  });

  it('a device-coherent page needs SELECT_DEVICE_COHERENT and the pgmap owner', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m, { coherent: true });
    await mapAnon(p, A, P);
    await fillPages(p, A, 1);
    await dev.migrateToDevice(mm, A, A + P);
    const [kind, dpfn] = kindPfn(m, mm, A);
    expect([kind, dpfn]).toEqual([PTE_PRESENT, dev.first]);
    for (const [flags, owner] of [
      [SYS, dev.owner],
      [SYS | PRIV, dev.owner],
      [MIGRATE_VMA_SELECT_DEVICE_COHERENT, { someone: 'else' }],
    ] as const) {
      const args = await setup(mm, A, A + P, flags, owner);
      expect(words(args)).toEqual([0]);
      expect(args.cpages).toBe(0);
      finish(args);
    }
    const args = await setup(mm, A, A + P, MIGRATE_VMA_SELECT_DEVICE_COHERENT, dev.owner);
    expect(words(args)).toEqual([mpfn(dpfn, M | W)]);
    expect(args.cpages).toBe(1);
    // ZONE_DEVICE pages are not on the LRU: the collect reference stays.
    expect(counts(m, dpfn)).toEqual([1, 0]);
    finish(args);
    expect(counts(m, dpfn)).toEqual([1, 1]);
  });

  it('a special PTE (no struct page) and a page without a mapping are skipped', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, 2 * P);
    await fillPages(p, A, 1);
    const raw = m.pm.allocPages(0);
    const loose = m.pm.allocPages(0);
    m.pm.mapcount[loose] = 1;
    const off0 = ensureEntry(m.pt, mm.pgd, A / P, 1);
    m.pt.words[off0] = PTE_PRESENT | PTE_SPECIAL | PTE_YOUNG;
    m.pt.words[off0 + 1] = raw;
    const off1 = ensureEntry(m.pt, mm.pgd, A / P + 1, 1);
    m.pt.words[off1] = PTE_PRESENT | PTE_YOUNG;
    m.pt.words[off1 + 1] = loose;
    const args = await setup(mm, A, A + 2 * P, SYS, dev.owner);
    expect(words(args)).toEqual([0, 0]);
    expect(args.cpages).toBe(0);
    expect(counts(m, raw)).toEqual([1, 0]);
    expect(counts(m, loose)).toEqual([1, 1]);
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_PRESENT, loose]);
    finish(args);
  });

  it('a page whose lock is taken is skipped (0) and left mapped', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, 2 * P);
    await fillPages(p, A, 2);
    const pfn = kindPfn(m, mm, A)[1];
    expect(trylockPage(m, pfn)).toBe(true);
    const args = await setup(mm, A, A + 2 * P, SYS, dev.owner);
    expect(words(args)).toEqual([0, mpfn(kindPfn(m, mm, A + P)[1], M | W)]);
    expect(args.cpages).toBe(1);
    expect(kindPfn(m, mm, A)).toEqual([PTE_PRESENT, pfn]);
    expect(counts(m, pfn)).toEqual([1, 1]);
    finish(args);
    // Still locked by its holder, not by the migration.
    expect(pageLocked(m, pfn)).toBe(true);
    unlockPage(m, pfn);
  });
});

describe('collect: non-present entries', () => {
  it('a device-private entry is collected only with SELECT_DEVICE_PRIVATE and its own owner', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, 2 * P);
    await fillPages(p, A, 2);
    await dev.migrateToDevice(mm, A, A + 2 * P);
    const d0 = dev.first;
    const d1 = dev.first + 1;
    expect(kindPfn(m, mm, A)).toEqual([PTE_DEVICE_PRIVATE_WRITE, d0]);
    for (const [flags, owner] of [
      [SYS, dev.owner],
      [SYS | MIGRATE_VMA_SELECT_DEVICE_COHERENT, dev.owner],
      [PRIV, { someone: 'else' }],
    ] as const) {
      const rec = recordEvents(m);
      const args = await setup(mm, A, A + 2 * P, flags, owner);
      rec.stop();
      expect(words(args)).toEqual([0, 0]);
      expect(args.cpages).toBe(0);
      // Only the collect invalidation: nothing to unmap.
      expect(rec.events).toHaveLength(1);
      finish(args);
    }
    expect(counts(m, d0)).toEqual([1, 1]);
    // The second page becomes a read-only device-private entry in a VMA of its own.
    expect(await p.mprotect(A + P, P, PROT_READ)).toBe(0);
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_DEVICE_PRIVATE_READ, d1]);
    const a0 = await setup(mm, A, A + P, PRIV, dev.owner);
    mmapReadUnlock(mm);
    const a1 = await setup(mm, A + P, A + 2 * P, PRIV, dev.owner);
    // WRITE follows the entry's writability.
    expect([words(a0), words(a1)]).toEqual([[mpfn(d0, M | W)], [mpfn(d1, M)]]);
    expect([a0.cpages, a1.cpages]).toEqual([1, 1]);
    expect(kindPfn(m, mm, A)).toEqual([PTE_MIGRATION_WRITE, d0]);
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_MIGRATION_READ_EXCLUSIVE, d1]);
    // Device pages: the collect reference holds them (no LRU isolation), both locked.
    expect([counts(m, d0), pageLocked(m, d0), pageLocked(m, d1)]).toEqual([[1, 0], true, true]);
    migrateVmaFinalize(a0);
    finish(a1);
    expect(kindPfn(m, mm, A)).toEqual([PTE_DEVICE_PRIVATE_WRITE, d0]);
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_DEVICE_PRIVATE_READ, d1]);
    expect([counts(m, d0), pageLocked(m, d0)]).toEqual([[1, 1], false]);
  });

  it('swap, migration and device-exclusive entries are skipped (0)', async () => {
    const { m, p, mm } = await boot({ swap: 1024 * 1024 });
    const dev = new FakeDevice(m);
    await mapAnon(p, A, 3 * P);
    await fillPages(p, A, 3);
    expect(await p.madvise(A, P, MADV_PAGEOUT)).toBe(0);
    expect(pteOf(m, mm, A)!.kind).toBe(PTE_SWAP);
    expect(mm.rss[MM_SWAPENTS]).toBe(1);
    const xpfn = kindPfn(m, mm, A + 2 * P)[1];
    await mmapReadLock(mm);
    expect(await makeDeviceExclusive(mm, A + 2 * P, dev.owner)).toBe(xpfn);
    mmapReadUnlock(mm);
    unlockPage(m, xpfn);
    m.putPage(xpfn);
    expect(pteOf(m, mm, A + 2 * P)!.kind).toBe(PTE_DEVICE_EXCLUSIVE);
    // A first migration leaves a migration entry at A + P.
    const first = await setup(mm, A + P, A + 2 * P, SYS, dev.owner);
    const mpfnP = kindPfn(m, mm, A + P)[1];
    expect(words(first)).toEqual([mpfn(mpfnP, M | W)]);
    const vma = mm.vmaLookup(A)!;
    const second: MigrateVma = {
      vma,
      start: A,
      end: A + 3 * P,
      src: new Float64Array(3),
      dst: new Float64Array(3),
      cpages: 0,
      npages: 0,
      pgmapOwner: dev.owner,
      flags: SYS | PRIV | MIGRATE_VMA_SELECT_DEVICE_COHERENT,
      faultPage: 0,
    };
    expect(await migrateVmaSetup(second)).toBe(0);
    expect([...second.src]).toEqual([0, 0, 0]);
    expect([second.cpages, second.npages]).toEqual([0, 3]);
    migrateVmaFinalize(second);
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_MIGRATION_WRITE, mpfnP]);
    finish(first);
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_PRESENT, mpfnP]);
    expect(pteOf(m, mm, A)!.kind).toBe(PTE_SWAP);
    expect(pteOf(m, mm, A + 2 * P)!.kind).toBe(PTE_DEVICE_EXCLUSIVE);
    expect(m.pm.flags[xpfn]! & PG_locked).toBe(0);
  });
});

/**
 * try_to_migrate and remove_migration_ptes (mm/rmap.c, mm/migrate.c) on an exclusive anonymous
 * page: PageAnonExclusive moves into the migration entry and back (folio_try_share_anon_rmap_pte),
 * and a page that may be pinned is left mapped.
 */
import { describe, expect, it } from 'vitest';
import {
  FOLL_PIN,
  FOLL_WRITE,
  getUserPages,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  mmapReadLock,
  mmapReadUnlock,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  unpinUserPage,
} from '../../../src/index.ts';
import type { Machine } from '../../../src/machine.ts';
import { PG_anon_exclusive } from '../../../src/mm/page-flags.ts';
import { PTE_MIGRATION_READ_EXCLUSIVE, PTE_MIGRATION_WRITE, PTE_PRESENT } from '../../../src/mm/pte.ts';
import { removeMigrationPtes, tryToMigrate } from '../../../src/mm/rmap.ts';
import { leafAt, smallMachine } from './helpers.ts';

const A = 0x4000_0000;
const P = PAGE_SIZE;
const FIXED = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;

async function exclusivePage() {
  const m = smallMachine();
  const p = await m.createProcess();
  expect(await p.mmap(A, 2 * P, PROT_READ | PROT_WRITE, FIXED, -1, 0)).toBe(A);
  await p.store32(A, 7);
  await p.store32(A + P, 8);
  const pfn = leafAt(m, p.mm, A).pfn;
  expect(m.pm.flags[pfn]! & PG_anon_exclusive).toBe(PG_anon_exclusive);
  // The migration's own reference (folio_isolate_lru's), which keeps the page while unmapped.
  m.getPage(pfn);
  return { m, p, pfn };
}

const exclusive = (m: Machine, pfn: number): boolean => (m.pm.flags[pfn]! & PG_anon_exclusive) !== 0;

describe('try_to_migrate of an exclusive anonymous page', () => {
  it('clears PageAnonExclusive, keeps it in the entry, and remove_migration_ptes sets it again', async () => {
    const { m, p, pfn } = await exclusivePage();
    await tryToMigrate(m, pfn);
    expect(leafAt(m, p.mm, A).kind).toBe(PTE_MIGRATION_WRITE);
    expect(exclusive(m, pfn)).toBe(false);
    removeMigrationPtes(m, pfn, pfn);
    expect(leafAt(m, p.mm, A).kind).toBe(PTE_PRESENT);
    expect(exclusive(m, pfn)).toBe(true);
    expect(await p.load32(A)).toBe(7);
  });

  it('a read-only exclusive page becomes a readable-exclusive entry and is exclusive again after', async () => {
    const { m, p, pfn } = await exclusivePage();
    expect(await p.mprotect(A, 2 * P, PROT_READ)).toBe(0);
    await tryToMigrate(m, pfn);
    expect(leafAt(m, p.mm, A).kind).toBe(PTE_MIGRATION_READ_EXCLUSIVE);
    expect(exclusive(m, pfn)).toBe(false);
    removeMigrationPtes(m, pfn, pfn);
    expect(exclusive(m, pfn)).toBe(true);
  });

  it('leaves a page that may be pinned mapped and exclusive (folio_try_share_anon_rmap_pte: -EBUSY)', async () => {
    const { m, p, pfn } = await exclusivePage();
    await mmapReadLock(p.mm);
    const pages = await getUserPages(p.mm, A, 1, FOLL_PIN | FOLL_WRITE);
    mmapReadUnlock(p.mm);
    expect(pages).toEqual([pfn]);
    await tryToMigrate(m, pfn);
    const leaf = leafAt(m, p.mm, A);
    expect([leaf.kind, leaf.pfn, leaf.write]).toEqual([PTE_PRESENT, pfn, true]);
    expect(exclusive(m, pfn)).toBe(true);
    unpinUserPage(p.mm, pfn);
    await tryToMigrate(m, pfn);
    expect(leafAt(m, p.mm, A).kind).toBe(PTE_MIGRATION_WRITE);
  });
});

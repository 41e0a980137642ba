/** mprotect(2): argument checks, holes, VMA splitting, what the CPU may do afterwards, write upgrade. */
import { describe, expect, it } from 'vitest';
import {
  EINVAL,
  ENOMEM,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  MM_ANONPAGES,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_PROTECTION_VMA,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  SegmentationFault,
  VM_EXEC,
  VM_READ,
  VM_WRITE,
} from '../../../src/index.ts';
import { PG_anon_exclusive } from '../../../src/mm/page-flags.ts';
import { trylockPage, unlockPage } from '../../../src/mm/page-lock.ts';
import {
  PTE_DIRTY,
  PTE_MIGRATION_READ_EXCLUSIVE,
  PTE_MIGRATION_WRITE,
  PTE_PRESENT,
  PTE_SOFT_DIRTY,
  PTE_YOUNG,
} from '../../../src/mm/pte.ts';
import { removeMigrationPtes } from '../../../src/mm/rmap.ts';
import { diffAt } from './bytes.ts';
import { leafAt, MiB, pattern, recordInvalidations, rejectionOf } from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const FIXED = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
const P = PAGE_SIZE;
const BASE = 0x4000_0000;
const ACCESS = VM_READ | VM_WRITE | VM_EXEC;
/** PROT_SEM: accepted by the generic arch_validate_prot (x86 has no override). */
const PROT_SEM = 0x8;
const PROT_GROWSDOWN = 0x0100_0000;

async function boot(options: ConstructorParameters<typeof Machine>[0] = {}) {
  const m = new Machine({ memory: 32 * MiB, hugetlbPages: 0, ...options });
  const free0 = m.pm.freeFrames;
  const p = await m.createProcess();
  return { m, p, free0 };
}

function layout(p: { mm: { vmas: { start: number; end: number; flags: number }[] } }): number[][] {
  return p.mm.vmas.map((v) => [v.start, v.end, v.flags & ACCESS]);
}

describe('mprotect argument checks', () => {
  it('an unaligned start is -EINVAL; an unaligned length is rounded up', async () => {
    const { p } = await boot();
    expect(await p.mmap(BASE, 4 * P, RW, FIXED, -1, 0)).toBe(BASE);
    expect(await p.mprotect(BASE + 1, P, PROT_READ)).toBe(-EINVAL);
    expect(await p.mprotect(BASE + P / 2, P, PROT_READ)).toBe(-EINVAL);
    expect(layout(p)).toEqual([[BASE, BASE + 4 * P, VM_READ | VM_WRITE]]);
    expect(await p.mprotect(BASE, 1, PROT_READ)).toBe(0);
    expect(layout(p)).toEqual([
      [BASE, BASE + P, VM_READ],
      [BASE + P, BASE + 4 * P, VM_READ | VM_WRITE],
    ]);
  });

  it('unknown protection bits are -EINVAL; PROT_SEM is accepted; PROT_GROWSDOWN needs a stack VMA', async () => {
    const { p } = await boot();
    expect(await p.mmap(BASE, 2 * P, RW, FIXED, -1, 0)).toBe(BASE);
    expect(await p.mprotect(BASE, P, 0x10)).toBe(-EINVAL);
    expect(await p.mprotect(BASE, P, PROT_READ | 0x40)).toBe(-EINVAL);
    expect(await p.mprotect(BASE, P, PROT_READ | PROT_GROWSDOWN)).toBe(-EINVAL);
    expect(layout(p)).toEqual([[BASE, BASE + 2 * P, VM_READ | VM_WRITE]]);
    expect(await p.mprotect(BASE, 2 * P, PROT_READ | PROT_SEM)).toBe(0);
    expect(layout(p)).toEqual([[BASE, BASE + 2 * P, VM_READ]]);
  });

  it('a zero length succeeds without looking at anything else', async () => {
    const { p } = await boot();
    expect(await p.mprotect(BASE, 0, PROT_READ)).toBe(0); // nothing mapped there
    expect(await p.mprotect(BASE, 0, 0x10)).toBe(0); // !len is tested before the protection bits
  });

  it('-ENOMEM when the range starts in a hole: nothing changes', async () => {
    const { p } = await boot();
    expect(await p.mmap(BASE + 2 * P, 2 * P, RW, FIXED, -1, 0)).toBe(BASE + 2 * P);
    expect(await p.mprotect(BASE, 4 * P, PROT_READ)).toBe(-ENOMEM);
    expect(await p.mprotect(BASE + 8 * P, P, PROT_READ)).toBe(-ENOMEM);
    expect(layout(p)).toEqual([[BASE + 2 * P, BASE + 4 * P, VM_READ | VM_WRITE]]);
  });

  it('-ENOMEM at a hole inside the range, after the VMAs before the hole were changed (as Linux does)', async () => {
    const { p } = await boot();
    expect(await p.mmap(BASE, 2 * P, RW, FIXED, -1, 0)).toBe(BASE);
    expect(await p.mmap(BASE + 3 * P, 2 * P, RW, FIXED, -1, 0)).toBe(BASE + 3 * P);
    expect(await p.mprotect(BASE + P, 4 * P, PROT_READ)).toBe(-ENOMEM);
    expect(layout(p)).toEqual([
      [BASE, BASE + P, VM_READ | VM_WRITE],
      [BASE + P, BASE + 2 * P, VM_READ],
      [BASE + 3 * P, BASE + 5 * P, VM_READ | VM_WRITE],
    ]);
    // A hole at the end: everything mapped before it is changed, then -ENOMEM.
    expect(await p.mprotect(BASE + 3 * P, 4 * P, PROT_NONE)).toBe(-ENOMEM);
    expect(layout(p)[2]).toEqual([BASE + 3 * P, BASE + 5 * P, 0]);
  });
});

describe('mprotect effects', () => {
  it('splits the VMA around the range and keeps the pages', async () => {
    const { m, p, free0 } = await boot();
    expect(await p.mmap(BASE, 4 * P, RW, FIXED, -1, 0)).toBe(BASE);
    await p.write(BASE, pattern(4 * P));
    const rec = recordInvalidations(m);
    expect(await p.mprotect(BASE + P, 2 * P, PROT_READ | PROT_EXEC)).toBe(0);
    rec.stop();
    expect(layout(p)).toEqual([
      [BASE, BASE + P, VM_READ | VM_WRITE],
      [BASE + P, BASE + 3 * P, VM_READ | VM_EXEC],
      [BASE + 3 * P, BASE + 4 * P, VM_READ | VM_WRITE],
    ]);
    expect(rec.events.map((e) => [e.event, e.start, e.end])).toEqual([
      [MMU_NOTIFY_PROTECTION_VMA, BASE + P, BASE + 3 * P],
    ]);
    expect(leafAt(m, p.mm, BASE + P).write).toBe(false);
    expect(leafAt(m, p.mm, BASE).write).toBe(true);
    expect(m.pm.freeFrames).toBe(free0 - 4);
    expect(diffAt(await p.read(BASE, 4 * P), pattern(4 * P))).toBe(-1);
  });

  it('an unchanged protection neither splits nor announces anything', async () => {
    const { m, p } = await boot();
    expect(await p.mmap(BASE, 4 * P, RW, FIXED, -1, 0)).toBe(BASE);
    await p.store32(BASE + P, 1);
    const rec = recordInvalidations(m);
    expect(await p.mprotect(BASE + P, P, RW)).toBe(0);
    expect(await p.mprotect(BASE, 4 * P, RW)).toBe(0);
    rec.stop();
    expect(layout(p)).toEqual([[BASE, BASE + 4 * P, VM_READ | VM_WRITE]]);
    expect(rec.events).toEqual([]);
  });

  it('PROT_READ: a CPU write raises SIGSEGV at the written address; reads still work', async () => {
    const { p } = await boot();
    expect(await p.mmap(BASE, 2 * P, RW, FIXED, -1, 0)).toBe(BASE);
    await p.store32(BASE + 8, 0x01020304);
    expect(await p.mprotect(BASE, 2 * P, PROT_READ)).toBe(0);
    const err = await rejectionOf(p.store32(BASE + 8, 5));
    expect(err).toBeInstanceOf(SegmentationFault);
    expect((err as SegmentationFault).addr).toBe(BASE + 8);
    expect((err as SegmentationFault).write).toBe(true);
    // Also on a page that was never touched.
    const err2 = await rejectionOf(p.write(BASE + P + 3, new Uint8Array([1])));
    expect((err2 as SegmentationFault).addr).toBe(BASE + P + 3);
    expect(await p.load32(BASE + 8)).toBe(0x01020304);
  });

  it('PROT_NONE: a read raises SIGSEGV; restoring access finds the data intact', async () => {
    const { m, p, free0 } = await boot();
    expect(await p.mmap(BASE, 2 * P, RW, FIXED, -1, 0)).toBe(BASE);
    await p.write(BASE, pattern(2 * P, 4));
    expect(await p.mprotect(BASE, 2 * P, PROT_NONE)).toBe(0);
    const err = await rejectionOf(p.read(BASE + P + 100, 4));
    expect(err).toBeInstanceOf(SegmentationFault);
    expect((err as SegmentationFault).addr).toBe(BASE + P + 100);
    expect((err as SegmentationFault).write).toBe(false);
    expect(leafAt(m, p.mm, BASE).protnone).toBe(true);
    expect(await p.mprotect(BASE, 2 * P, PROT_READ)).toBe(0);
    expect(diffAt(await p.read(BASE, 2 * P), pattern(2 * P, 4))).toBe(-1);
    expect(m.pm.freeFrames).toBe(free0 - 2);
  });

  it('re-enabling write lets an exclusive anonymous page be written in place: same pfn, no copy, no CLEAR', async () => {
    const { m, p, free0 } = await boot();
    expect(await p.mmap(BASE, P, RW, FIXED, -1, 0)).toBe(BASE);
    await p.store32(BASE, 1);
    const pfn = leafAt(m, p.mm, BASE).pfn;
    expect(await p.mprotect(BASE, P, PROT_READ)).toBe(0);
    expect(leafAt(m, p.mm, BASE).write).toBe(false);
    expect(await p.mprotect(BASE, P, RW)).toBe(0);
    // MM_CP_TRY_CHANGE_WRITABLE: the PTE is writable again at once.
    expect(leafAt(m, p.mm, BASE).write).toBe(true);
    const rec = recordInvalidations(m);
    await p.store32(BASE, 2);
    rec.stop();
    expect(rec.events.filter((e) => e.event === MMU_NOTIFY_CLEAR)).toEqual([]);
    expect(leafAt(m, p.mm, BASE).pfn).toBe(pfn);
    expect(await p.load32(BASE)).toBe(2);
    expect(m.pm.freeFrames).toBe(free0 - 1);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
  });

  it('re-enabling write on a page shared after fork does not make it writable: the write copies', async () => {
    const { m, p } = await boot();
    expect(await p.mmap(BASE, P, RW, FIXED, -1, 0)).toBe(BASE);
    await p.store32(BASE, 1);
    const child = await p.fork();
    expect(await p.mprotect(BASE, P, PROT_READ)).toBe(0);
    expect(await p.mprotect(BASE, P, RW)).toBe(0);
    expect(leafAt(m, p.mm, BASE).write).toBe(false);
    const pfn = leafAt(m, p.mm, BASE).pfn;
    await p.store32(BASE, 2);
    expect(leafAt(m, p.mm, BASE).pfn).not.toBe(pfn);
    expect(await child.load32(BASE)).toBe(1);
  });

  it('a shared mapping made read-only and back keeps sharing the page cache', async () => {
    const { p } = await boot();
    const a = await p.mmap(0, 2 * P, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    await p.store32(a, 9);
    expect(await p.mprotect(a, 2 * P, PROT_READ)).toBe(0);
    expect((await rejectionOf(p.store32(a, 10))) instanceof SegmentationFault).toBe(true);
    expect(await p.mprotect(a, 2 * P, RW)).toBe(0);
    await p.store32(a, 10);
    const b = await p.mmap(0, 2 * P, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    expect(await p.load32(b)).toBe(0); // a different shmem object
    expect(await p.load32(a)).toBe(10);
  });

  it('a range inside a THP splits it (CLEAR over 2 MiB) before changing the protection', async () => {
    const { m, p } = await boot({ thp: 'always' });
    expect(await p.mmap(BASE, PMD_SIZE, RW, FIXED, -1, 0)).toBe(BASE);
    await p.write(BASE, pattern(64));
    expect(leafAt(m, p.mm, BASE).leaf).toBe(true);
    const rec = recordInvalidations(m);
    expect(await p.mprotect(BASE + P, P, PROT_READ)).toBe(0);
    rec.stop();
    expect(rec.events.map((e) => [e.event, e.start, e.end])).toEqual([
      [MMU_NOTIFY_CLEAR, BASE, BASE + PMD_SIZE],
      [MMU_NOTIFY_PROTECTION_VMA, BASE + P, BASE + 2 * P],
    ]);
    expect(leafAt(m, p.mm, BASE).level).toBe(1);
    expect(leafAt(m, p.mm, BASE).write).toBe(true);
    expect(leafAt(m, p.mm, BASE + P).write).toBe(false);
    expect(diffAt(await p.read(BASE, 64), pattern(64))).toBe(-1);
  });
});

describe('mprotect and non-present entries (change_pte_range)', () => {
  it('a writable migration entry of an anonymous page becomes readable-exclusive even when write stays allowed', async () => {
    const { m, p } = await boot();
    expect(await p.mmap(BASE, 2 * P, RW, FIXED, -1, 0)).toBe(BASE);
    await p.store32(BASE, 7);
    await p.store32(BASE + P, 8);
    const pfn = leafAt(m, p.mm, BASE).pfn;
    // migrate_vma_collect's unmap of an exclusive page: the exclusivity moves into the entry.
    expect(trylockPage(m, pfn)).toBe(true);
    const off = leafAt(m, p.mm, BASE).off;
    m.pt.words[off] = PTE_MIGRATION_WRITE | PTE_DIRTY | PTE_YOUNG | PTE_SOFT_DIRTY;
    m.pm.flags[pfn]! &= ~PG_anon_exclusive;
    m.pm.mapcount[pfn]!--;
    m.pm.refcount[pfn]!--;
    const rec = recordInvalidations(m);
    expect(await p.mprotect(BASE, 2 * P, RW | PROT_EXEC)).toBe(0);
    expect(rec.events).toEqual([
      { mm: p.mm.id, event: MMU_NOTIFY_PROTECTION_VMA, start: BASE, end: BASE + 2 * P, owner: null },
    ]);
    const e = leafAt(m, p.mm, BASE);
    expect(e.kind).toBe(PTE_MIGRATION_READ_EXCLUSIVE);
    expect(e.lo & (PTE_DIRTY | PTE_YOUNG | PTE_SOFT_DIRTY)).toBe(PTE_DIRTY | PTE_YOUNG | PTE_SOFT_DIRTY);
    expect(e.pfn).toBe(pfn);
    // The migration is undone: the page is mapped read-only again and is AnonExclusive.
    removeMigrationPtes(m, pfn, pfn);
    unlockPage(m, pfn);
    const back = leafAt(m, p.mm, BASE);
    expect([back.kind, back.pfn, back.write]).toEqual([PTE_PRESENT, pfn, false]);
    expect(m.pm.flags[pfn]! & PG_anon_exclusive).toBe(PG_anon_exclusive);
    expect(await p.load32(BASE)).toBe(7);
  });
});

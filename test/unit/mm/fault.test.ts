import { describe, expect, it } from 'vitest';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MM_ANONPAGES,
  MM_FILEPAGES,
  MM_SHMEMPAGES,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../../../src/mm/constants.ts';
import { initAnonPage } from '../../../src/mm/fault.ts';
import type { DevPagemapHooks } from '../../../src/mm/kernel.ts';
import {
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_EXCLUSIVE,
  MMU_NOTIFY_PROTECTION_PAGE,
  MMU_NOTIFY_PROTECTION_VMA,
  type MmNotifierSubscriptions,
} from '../../../src/mm/mmu-notifier.ts';
import {
  PG_allocated,
  PG_anon,
  PG_anon_exclusive,
  PG_dirty,
  PG_locked,
  PG_zone_device,
} from '../../../src/mm/page-flags.ts';
import { pageLocked, trylockPage, unlockPage } from '../../../src/mm/page-lock.ts';
import { ZERO_PFN } from '../../../src/mm/physmem.ts';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE_READ,
  PTE_DEVICE_PRIVATE_WRITE,
  PTE_DIRTY,
  PTE_KIND_MASK,
  PTE_MIGRATION_READ,
  PTE_MIGRATION_READ_EXCLUSIVE,
  PTE_MIGRATION_WRITE,
  PTE_NONE,
  PTE_PRESENT,
  PTE_WRITE,
} from '../../../src/mm/pte.ts';
import { BusError } from '../../../src/mm/signals.ts';
import {
  entryAt,
  faultAt,
  pattern,
  pteAt,
  recordInvalidations,
  rejectionOf,
  setEntry,
  smallMachine,
} from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
const BASE = 0x1000_0000;

async function anonProcess(pages = 4, prot = RW) {
  const m = smallMachine();
  const p = await m.createProcess();
  expect(await p.mmap(BASE, pages * PAGE_SIZE, prot, ANON, -1, 0)).toBe(BASE);
  return { m, p, A: BASE };
}

describe('anonymous faults', () => {
  it('a read fault maps the shared zero page: special, read-only, no page allocated, no rss', async () => {
    const { m, p, A } = await anonProcess();
    const free = m.pm.freeFrames;
    const rec = recordInvalidations(m);
    expect(await p.read(A + 100, 8)).toEqual(new Uint8Array(8));
    const e = pteAt(m, p.mm, A);
    expect(e.kind).toBe(PTE_PRESENT);
    expect(e.pfn).toBe(ZERO_PFN);
    expect(e.special).toBe(true);
    expect(e.write).toBe(false);
    expect(e.dirty).toBe(false);
    expect(pteAt(m, p.mm, A + PAGE_SIZE).kind).toBe(PTE_NONE);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(0);
    expect(m.pm.freeFrames).toBe(free);
    expect(rec.events).toEqual([]);
  });

  it('handleMmFault on a read-only VMA maps the zero page and returns 0', async () => {
    const { m, p, A } = await anonProcess(1, PROT_READ);
    expect(await faultAt(p.mm, A, false)).toBe(0);
    const e = pteAt(m, p.mm, A);
    expect([e.kind, e.pfn, e.write, e.special]).toEqual([PTE_PRESENT, ZERO_PFN, false, true]);
  });

  it('a write fault maps a new zeroed exclusive anonymous page, writable and dirty', async () => {
    const { m, p, A } = await anonProcess();
    // Leave garbage in the frame the allocator hands out next: the fault must zero it.
    const stale = m.pm.allocPages(0);
    m.pm.writeBytes(stale, 0, pattern(PAGE_SIZE, 9), 0, PAGE_SIZE);
    m.pm.freePages(stale);
    const free = m.pm.freeFrames;
    const rec = recordInvalidations(m);
    await p.store32(A + 8, 0x11223344);
    const e = pteAt(m, p.mm, A);
    expect(e.pfn).toBe(stale);
    expect([e.kind, e.write, e.dirty, e.special]).toEqual([PTE_PRESENT, true, true, false]);
    const f = m.pm.flags[e.pfn]!;
    expect(f & (PG_anon | PG_anon_exclusive)).toBe(PG_anon | PG_anon_exclusive);
    expect(m.pm.mapcount[e.pfn]).toBe(1);
    expect(m.pm.refcount[e.pfn]).toBe(1);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
    expect(m.pm.freeFrames).toBe(free - 1);
    const page = await p.read(A, PAGE_SIZE);
    const want = new Uint8Array(PAGE_SIZE);
    want.set([0x44, 0x33, 0x22, 0x11], 8);
    expect(page).toEqual(want);
    // First touch (none → present) invalidates nothing.
    expect(rec.events).toEqual([]);
  });

  it('a write after a read replaces the zero page, announcing CLEAR over that page only', async () => {
    const { m, p, A } = await anonProcess();
    const addr = A + 2 * PAGE_SIZE;
    await p.read(addr, 4);
    expect(pteAt(m, p.mm, addr).pfn).toBe(ZERO_PFN);
    const rec = recordInvalidations(m);
    await p.write(addr + 5, new Uint8Array([7]));
    expect(rec.events).toEqual([
      { mm: p.mm.id, event: MMU_NOTIFY_CLEAR, start: addr, end: addr + PAGE_SIZE, owner: null },
    ]);
    const e = pteAt(m, p.mm, addr);
    expect(e.pfn).not.toBe(ZERO_PFN);
    expect([e.kind, e.write, e.dirty, e.special]).toEqual([PTE_PRESENT, true, true, false]);
    expect(m.pm.mapcount[e.pfn]).toBe(1);
    expect(m.pm.refcount[e.pfn]).toBe(1);
    expect(m.pm.flags[e.pfn]! & PG_anon_exclusive).toBe(PG_anon_exclusive);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
    const data = await p.read(addr, 8);
    expect(Array.from(data)).toEqual([0, 0, 0, 0, 0, 7, 0, 0]);
  });

  it('a write fault on a read-only exclusive page reuses it without invalidating', async () => {
    const { m, p, A } = await anonProcess();
    await p.write(A, pattern(16));
    const before = pteAt(m, p.mm, A);
    // Write-protect the PTE as a clean/soft-dirty pass would leave it.
    m.pt.words[before.off] = before.lo & ~(PTE_WRITE | PTE_DIRTY);
    const free = m.pm.freeFrames;
    const rec = recordInvalidations(m);
    expect(await faultAt(p.mm, A, true)).toBe(0);
    const e = pteAt(m, p.mm, A);
    expect(e.pfn).toBe(before.pfn);
    expect([e.write, e.dirty]).toEqual([true, true]);
    expect(rec.events).toEqual([]);
    expect(m.pm.freeFrames).toBe(free);
    expect(await p.read(A, 16)).toEqual(pattern(16));
  });

  it('mprotect RO→RW makes an exclusive page writable at once; the write then needs no copy', async () => {
    const { m, p, A } = await anonProcess();
    await p.write(A, pattern(16));
    const pfn = pteAt(m, p.mm, A).pfn;
    expect(await p.mprotect(A, 4 * PAGE_SIZE, PROT_READ)).toBe(0);
    expect(pteAt(m, p.mm, A).write).toBe(false);
    expect(await p.mprotect(A, 4 * PAGE_SIZE, RW)).toBe(0);
    // can_change_pte_writable(): an exclusive anonymous page is mapped writable again.
    expect(pteAt(m, p.mm, A).write).toBe(true);
    const rec = recordInvalidations(m);
    await p.write(A + 1, new Uint8Array([0xee]));
    expect(pteAt(m, p.mm, A).pfn).toBe(pfn);
    expect(rec.events.filter((e) => e.event !== MMU_NOTIFY_PROTECTION_VMA)).toEqual([]);
  });

  it('a write to a page the forked child gave up reuses it (refcount 1) without a CLEAR', async () => {
    const { m, p, A } = await anonProcess();
    await p.write(A, pattern(8));
    const pfn = pteAt(m, p.mm, A).pfn;
    const child = await p.fork();
    expect(m.pm.flags[pfn]! & PG_anon_exclusive).toBe(0);
    await child.exit();
    expect(m.pm.refcount[pfn]).toBe(1);
    const rec = recordInvalidations(m);
    await p.write(A, new Uint8Array([1]));
    const e = pteAt(m, p.mm, A);
    expect(e.pfn).toBe(pfn);
    expect(e.write).toBe(true);
    expect(m.pm.flags[pfn]! & PG_anon_exclusive).toBe(PG_anon_exclusive);
    expect(rec.events).toEqual([]);
  });
});

describe('copy-on-write after fork', () => {
  it('fork write-protects both PTEs over a shared page; the writer gets a copy, the other keeps the page', async () => {
    const { m, p, A } = await anonProcess();
    await p.write(A, pattern(32, 3));
    const old = pteAt(m, p.mm, A).pfn;
    const rec = recordInvalidations(m);
    const c = await p.fork();
    expect(rec.events).toEqual([
      { mm: p.mm.id, event: MMU_NOTIFY_PROTECTION_PAGE, start: A, end: A + 4 * PAGE_SIZE, owner: null },
    ]);
    for (const mm of [p.mm, c.mm]) {
      const e = pteAt(m, mm, A);
      expect([e.kind, e.pfn, e.write]).toEqual([PTE_PRESENT, old, false]);
      expect(mm.rss[MM_ANONPAGES]).toBe(1);
    }
    expect(m.pm.mapcount[old]).toBe(2);
    expect(m.pm.refcount[old]).toBe(2);
    expect(m.pm.flags[old]! & PG_anon_exclusive).toBe(0);

    rec.events.length = 0;
    await c.write(A + 1, new Uint8Array([0xaa]));
    expect(rec.events).toEqual([
      { mm: c.mm.id, event: MMU_NOTIFY_CLEAR, start: A, end: A + PAGE_SIZE, owner: null },
    ]);
    const ce = pteAt(m, c.mm, A);
    expect(ce.pfn).not.toBe(old);
    expect([ce.write, ce.dirty]).toEqual([true, true]);
    expect(m.pm.flags[ce.pfn]! & (PG_anon | PG_anon_exclusive)).toBe(PG_anon | PG_anon_exclusive);
    expect(m.pm.mapcount[ce.pfn]).toBe(1);
    expect(m.pm.refcount[ce.pfn]).toBe(1);
    // The parent keeps the old page, now mapped once.
    const pe = pteAt(m, p.mm, A);
    expect([pe.pfn, pe.write]).toEqual([old, false]);
    expect(m.pm.mapcount[old]).toBe(1);
    expect(m.pm.refcount[old]).toBe(1);
    expect(c.mm.rss[MM_ANONPAGES]).toBe(1);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
    // Data: the child sees the copy with its change, the parent the original.
    const want = pattern(32, 3);
    expect(await p.read(A, 32)).toEqual(want);
    want[1] = 0xaa;
    expect(await c.read(A, 32)).toEqual(want);

    // The parent, now the only user, reuses its page.
    rec.events.length = 0;
    await p.write(A, new Uint8Array([0x55]));
    expect(pteAt(m, p.mm, A).pfn).toBe(old);
    expect(rec.events).toEqual([]);
  });

  it('fork does not copy PTEs of a VMA without anon_vma (only zero pages); the child faults afresh', async () => {
    const { m, p, A } = await anonProcess();
    await p.read(A, 1);
    expect(p.mm.vmaLookup(A)!.anonVma).toBe(null); // the zero-page read path needs no anon_vma
    const c = await p.fork();
    // vma_needs_copy() is false: the child's page tables stay empty.
    expect(entryAt(m, c.mm, A)?.kind ?? PTE_NONE).toBe(PTE_NONE);
    await c.read(A, 1);
    expect(pteAt(m, c.mm, A).pfn).toBe(ZERO_PFN);
    await c.store32(A + 4, 5);
    expect(pteAt(m, c.mm, A).pfn).not.toBe(ZERO_PFN);
    expect(pteAt(m, p.mm, A).pfn).toBe(ZERO_PFN);
    expect(await p.load32(A + 4)).toBe(0);
    expect(await c.load32(A + 4)).toBe(5);
    expect(c.mm.rss[MM_ANONPAGES]).toBe(1);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(0);
  });
  it('fork shares a zero-page PTE of a VMA with anon_vma; a child write copies it, the parent keeps it', async () => {
    const { m, p, A } = await anonProcess();
    await p.write(A + PAGE_SIZE, new Uint8Array([1])); // gives the VMA its anon_vma
    await p.read(A, 1);
    const c = await p.fork();
    const ce = pteAt(m, c.mm, A);
    expect([ce.pfn, ce.special, ce.write]).toEqual([ZERO_PFN, true, false]);
    const rec = recordInvalidations(m);
    await c.store32(A + 4, 5);
    expect(rec.events).toEqual([
      { mm: c.mm.id, event: MMU_NOTIFY_CLEAR, start: A, end: A + PAGE_SIZE, owner: null },
    ]);
    expect(pteAt(m, c.mm, A).pfn).not.toBe(ZERO_PFN);
    expect(pteAt(m, p.mm, A).pfn).toBe(ZERO_PFN);
    expect(await p.load32(A + 4)).toBe(0);
    expect(await c.load32(A + 4)).toBe(5);
    expect(c.mm.rss[MM_ANONPAGES]).toBe(2);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
  });
});

describe('copy-on-write races', () => {
  it('a COW that finds the PTE changed once the invalidation started drops its copy and retries', async () => {
    const { m, p, A } = await anonProcess();
    await p.write(A, pattern(8));
    const old = pteAt(m, p.mm, A).pfn;
    const c = await p.fork();
    let other = 0;
    // Another thread breaks the same COW while this fault's CLEAR callbacks run.
    const subs: MmNotifierSubscriptions = {
      async invalidateRangeStart(range) {
        if (range.event === MMU_NOTIFY_CLEAR && other === 0) {
          other = m.pm.allocPages(0);
          m.pm.copyPage(other, old);
          initAnonPage(c.mm.vmaLookup(A)!, A, other);
          setEntry(m, c.mm, A, PTE_PRESENT | PTE_WRITE | PTE_DIRTY, other);
          m.pm.mapcount[old]!--;
          m.putPage(old);
        }
        return 0;
      },
      invalidateRangeEnd() {},
      async release() {},
    };
    c.mm.notifierSubscriptions = subs;
    const free = m.pm.freeFrames;
    await c.write(A + 1, new Uint8Array([0x99]));
    expect(pteAt(m, c.mm, A).pfn).toBe(other);
    expect(m.pm.freeFrames).toBe(free - 1); // only the other thread's page; the copy was freed
    expect(c.mm.rss[MM_ANONPAGES]).toBe(1);
    expect(m.pm.mapcount[old]).toBe(1);
    expect(m.pm.refcount[old]).toBe(1);
    const want = pattern(8);
    want[1] = 0x99;
    expect(await c.read(A, 8)).toEqual(want);
    expect(await p.read(A, 8)).toEqual(pattern(8));
  });
});

describe('file-backed faults', () => {
  it('a shared mapping of a tmp file: two processes map the page-cache page and see each other’s writes', async () => {
    const m = smallMachine();
    const p = await m.createProcess();
    const fd = await p.createTmpFile(2 * PAGE_SIZE);
    expect(await p.mmap(BASE, 2 * PAGE_SIZE, RW, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(BASE);
    const c = await p.fork();
    await p.write(BASE + 10, pattern(20));
    expect(await c.read(BASE + 10, 20)).toEqual(pattern(20));
    await c.store32(BASE + PAGE_SIZE, 0xdeadbeef);
    expect(await p.load32(BASE + PAGE_SIZE)).toBe(0xdeadbeef);
    const file = p.fds.get(fd)!.file!;
    for (const i of [0, 1]) {
      const pc = file.pages.get(i)!;
      expect(pteAt(m, p.mm, BASE + i * PAGE_SIZE).pfn).toBe(pc);
      expect(pteAt(m, c.mm, BASE + i * PAGE_SIZE).pfn).toBe(pc);
      expect(m.pm.mapcount[pc]).toBe(2);
      expect(m.pm.refcount[pc]).toBe(3); // the page cache's own reference + two mappings
    }
    expect(p.mm.rss[MM_FILEPAGES]).toBe(2);
    expect(c.mm.rss[MM_FILEPAGES]).toBe(2);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(0);
  });

  it('a shared file page is mapped read-only on a read fault, then made writable and dirty in place', async () => {
    const m = smallMachine();
    const p = await m.createProcess();
    const fd = await p.createTmpFile(PAGE_SIZE);
    await p.mmap(BASE, PAGE_SIZE, RW, MAP_SHARED | MAP_FIXED, fd, 0);
    await p.read(BASE, 1);
    const pc = p.fds.get(fd)!.file!.pages.get(0)!;
    const e = pteAt(m, p.mm, BASE);
    expect([e.pfn, e.write, e.dirty]).toEqual([pc, false, false]);
    const rec = recordInvalidations(m);
    await p.write(BASE, new Uint8Array([1]));
    const w = pteAt(m, p.mm, BASE);
    expect([w.pfn, w.write, w.dirty]).toEqual([pc, true, true]);
    expect(m.pm.flags[pc]! & PG_dirty).toBe(PG_dirty);
    expect(rec.events).toEqual([]);
  });

  it('a shared writable tmpfs file page is mapped writable on a read fault (no write notification)', async () => {
    // Linux 6.12 in the kernel oracle (fuzz-1-136, fuzz-1-155): the runner's files are on tmpfs.
    const m = smallMachine();
    const p = await m.createProcess();
    const fd = await p.createTmpFile(2 * PAGE_SIZE, true);
    await p.mmap(BASE, 2 * PAGE_SIZE, RW, MAP_SHARED | MAP_FIXED, fd, 0);
    await p.read(BASE, 1);
    const e = pteAt(m, p.mm, BASE);
    expect([e.pfn, e.write, e.dirty]).toEqual([p.fds.get(fd)!.file!.pages.get(0)!, true, false]);
    // Read-only where the VMA is.
    expect(await p.mprotect(BASE + PAGE_SIZE, PAGE_SIZE, PROT_READ)).toBe(0);
    await p.read(BASE + PAGE_SIZE, 1);
    expect(pteAt(m, p.mm, BASE + PAGE_SIZE).write).toBe(false);
  });

  it('a private file mapping maps the cached page read-only; a write copies it and leaves the cache alone', async () => {
    const m = smallMachine();
    const p = await m.createProcess();
    const fd = await p.createTmpFile(PAGE_SIZE);
    const S = BASE;
    const P = BASE + 0x10_0000;
    await p.mmap(S, PAGE_SIZE, RW, MAP_SHARED | MAP_FIXED, fd, 0);
    await p.write(S, pattern(64, 7));
    await p.mmap(P, PAGE_SIZE, RW, MAP_PRIVATE | MAP_FIXED, fd, 0);
    const other = await p.fork(); // another mapper of both mappings
    const pc = p.fds.get(fd)!.file!.pages.get(0)!;

    expect(await p.read(P, 64)).toEqual(pattern(64, 7));
    const r = pteAt(m, p.mm, P);
    expect([r.kind, r.pfn, r.write]).toEqual([PTE_PRESENT, pc, false]);
    expect(p.mm.rss[MM_FILEPAGES]).toBe(2);
    const mapcountBefore = m.pm.mapcount[pc]!;
    const refBefore = m.pm.refcount[pc]!;

    const rec = recordInvalidations(m);
    await p.write(P, new Uint8Array([0xff]));
    expect(rec.events).toEqual([
      { mm: p.mm.id, event: MMU_NOTIFY_CLEAR, start: P, end: P + PAGE_SIZE, owner: null },
    ]);
    const w = pteAt(m, p.mm, P);
    expect(w.pfn).not.toBe(pc);
    expect([w.write, w.dirty]).toEqual([true, true]);
    expect(m.pm.flags[w.pfn]! & (PG_anon | PG_anon_exclusive)).toBe(PG_anon | PG_anon_exclusive);
    expect(m.pm.mapcount[pc]).toBe(mapcountBefore - 1);
    expect(m.pm.refcount[pc]).toBe(refBefore - 1);
    expect(p.mm.rss[MM_FILEPAGES]).toBe(1);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
    const mine = pattern(64, 7);
    mine[0] = 0xff;
    expect(await p.read(P, 64)).toEqual(mine);
    // The page cache and the other mappers still see the file's data.
    expect(m.pm.readableBytes(pc).subarray(0, 64)).toEqual(pattern(64, 7));
    expect(await p.read(S, 64)).toEqual(pattern(64, 7));
    expect(await other.read(P, 64)).toEqual(pattern(64, 7));
    expect(await other.read(S, 64)).toEqual(pattern(64, 7));
  });

  it('a private write fault on an unmapped file page copies at once (do_cow_fault), with no invalidation', async () => {
    const m = smallMachine();
    const p = await m.createProcess();
    const fd = await p.createTmpFile(PAGE_SIZE);
    await p.mmap(BASE, PAGE_SIZE, RW, MAP_PRIVATE | MAP_FIXED, fd, 0);
    const rec = recordInvalidations(m);
    await p.write(BASE, new Uint8Array([9]));
    const pc = p.fds.get(fd)!.file!.pages.get(0)!;
    const e = pteAt(m, p.mm, BASE);
    expect(e.pfn).not.toBe(pc);
    expect(e.write).toBe(true);
    expect(m.pm.mapcount[pc]).toBe(0);
    expect(m.pm.refcount[pc]).toBe(1); // only the page cache holds it
    expect(m.pm.readableBytes(pc)[0]).toBe(0);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
    expect(p.mm.rss[MM_FILEPAGES]).toBe(0);
    expect(rec.events).toEqual([]);
  });

  it('a mapping at a file offset maps the pages from that offset; past EOF is SIGBUS', async () => {
    const m = smallMachine();
    const p = await m.createProcess();
    const fd = await p.createTmpFile(3 * PAGE_SIZE);
    await p.mmap(BASE, 3 * PAGE_SIZE, RW, MAP_SHARED | MAP_FIXED, fd, 0);
    await p.write(BASE + 2 * PAGE_SIZE, pattern(8, 2));
    const O = BASE + 0x10_0000;
    expect(await p.mmap(O, 2 * PAGE_SIZE, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 2 * PAGE_SIZE)).toBe(O);
    expect(await p.read(O, 8)).toEqual(pattern(8, 2));
    expect(pteAt(m, p.mm, O).pfn).toBe(p.fds.get(fd)!.file!.pages.get(2));
    expect(await rejectionOf(p.read(O + PAGE_SIZE, 1))).toBeInstanceOf(BusError);
  });

  it('shared anonymous memory (shmem): a read fault maps the page writable but clean; rss MM_SHMEMPAGES', async () => {
    const m = smallMachine();
    const p = await m.createProcess();
    await p.mmap(BASE, 2 * PAGE_SIZE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    const c = await p.fork();
    expect(await p.read(BASE, 4)).toEqual(new Uint8Array(4));
    const e = pteAt(m, p.mm, BASE);
    expect([e.kind, e.write, e.dirty]).toEqual([PTE_PRESENT, true, false]);
    expect(e.pfn).not.toBe(ZERO_PFN);
    expect(p.mm.rss[MM_SHMEMPAGES]).toBe(1);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(0);
    await c.store32(BASE, 0x5a5a);
    expect(pteAt(m, c.mm, BASE).pfn).toBe(e.pfn);
    expect(await p.load32(BASE)).toBe(0x5a5a);
  });

  it('an access beyond the end of the file raises SIGBUS; the partial last page is accessible', async () => {
    const m = smallMachine();
    const p = await m.createProcess();
    const fd = await p.createTmpFile(PAGE_SIZE + 100);
    await p.mmap(BASE, 4 * PAGE_SIZE, RW, MAP_SHARED | MAP_FIXED, fd, 0);
    expect(await p.read(BASE + PAGE_SIZE + 200, 4)).toEqual(new Uint8Array(4));
    const err = await rejectionOf(p.read(BASE + 2 * PAGE_SIZE, 4));
    expect(err).toBeInstanceOf(BusError);
    expect((err as BusError).addr).toBe(BASE + 2 * PAGE_SIZE);
    const werr = await rejectionOf(p.write(BASE + 3 * PAGE_SIZE + 8, new Uint8Array([1])));
    expect(werr).toBeInstanceOf(BusError);
    expect(pteAt(m, p.mm, BASE + 2 * PAGE_SIZE).kind).toBe(PTE_NONE);
  });
});

describe('device-exclusive entries', () => {
  async function exclusiveSetup() {
    const { m, p, A } = await anonProcess();
    await p.write(A, pattern(100));
    const pfn = pteAt(m, p.mm, A).pfn;
    // What make_device_exclusive() leaves: the entry keeps the page's mapping and reference.
    setEntry(m, p.mm, A, PTE_DEVICE_EXCLUSIVE, pfn);
    return { m, p, A, pfn };
  }

  it('a CPU read restores the present PTE and raises EXCLUSIVE with owner NULL over the page', async () => {
    const { m, p, A, pfn } = await exclusiveSetup();
    const rec = recordInvalidations(m);
    expect(await p.read(A, 100)).toEqual(pattern(100));
    expect(rec.events).toEqual([
      { mm: p.mm.id, event: MMU_NOTIFY_EXCLUSIVE, start: A, end: A + PAGE_SIZE, owner: null },
    ]);
    const e = pteAt(m, p.mm, A);
    expect([e.kind, e.pfn, e.write]).toEqual([PTE_PRESENT, pfn, true]);
    expect(m.pm.refcount[pfn]).toBe(1);
    expect(m.pm.mapcount[pfn]).toBe(1);
    expect(pageLocked(m, pfn)).toBe(false);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
  });

  it('a CPU write goes to the same page after the entry is restored', async () => {
    const { m, p, A, pfn } = await exclusiveSetup();
    await p.store32(A, 0xcafe);
    expect(pteAt(m, p.mm, A).pfn).toBe(pfn);
    expect(await p.load32(A)).toBe(0xcafe);
  });

  it('waits while the page is locked, then retries', async () => {
    const { m, p, A, pfn } = await exclusiveSetup();
    expect(trylockPage(m, pfn)).toBe(true);
    const rec = recordInvalidations(m);
    const faulter = m.sched.spawn('cpu', () => faultAt(p.mm, A, false));
    const holder = m.sched.spawn('driver', () => {
      expect(faulter.state).toBe('blocked');
      expect(rec.events).toEqual([]);
      expect(m.pm.refcount[pfn]).toBe(1); // the waiter dropped its reference before sleeping
      unlockPage(m, pfn);
    });
    expect(await m.sched.join(faulter)).toBe(0);
    await m.sched.join(holder);
    expect(pteAt(m, p.mm, A).kind).toBe(PTE_DEVICE_EXCLUSIVE);
    expect(await faultAt(p.mm, A, false)).toBe(0);
    expect(pteAt(m, p.mm, A).kind).toBe(PTE_PRESENT);
    expect(rec.events.map((e) => e.event)).toEqual([MMU_NOTIFY_EXCLUSIVE]);
  });
});

describe('device-private entries', () => {
  interface MigrateCall {
    page: number;
    address: number;
    write: boolean;
    locked: boolean;
    refcount: number;
  }

  /** A fake pagemap whose migrate_to_ram copies the device page into a new anonymous page. */
  async function devicePrivateSetup(kind: number) {
    const { m, p, A } = await anonProcess();
    const first = m.pm.addFrames(8);
    const calls: MigrateCall[] = [];
    const freed: number[] = [];
    const hooks: DevPagemapHooks = {
      pfnFirst: first,
      nrPages: 8,
      isPrivate: true,
      owner: { name: 'fake device' },
      pageFree(pfn) {
        freed.push(pfn);
      },
      async migrateToRam(vmf) {
        calls.push({
          page: vmf.page,
          address: vmf.address,
          write: vmf.write,
          locked: pageLocked(m, vmf.page),
          refcount: m.pm.refcount[vmf.page]!,
        });
        const e = pteAt(m, vmf.vma.mm, vmf.address);
        const pfn = m.pm.allocPages(0);
        m.pm.copyPage(pfn, vmf.page);
        initAnonPage(vmf.vma, vmf.address, pfn);
        const writable = e.kind === PTE_DEVICE_PRIVATE_WRITE;
        setEntry(m, vmf.vma.mm, vmf.address, PTE_PRESENT | (writable ? PTE_WRITE | PTE_DIRTY : 0), pfn);
        m.pm.mapcount[vmf.page]!--;
        m.putPage(vmf.page);
        return 0;
      },
    };
    m.devPagemaps.push(hooks);
    // A device page holding A's data, as migrate_vma leaves it: one mapping, one reference.
    const d = first + 3;
    m.pm.flags[d] = PG_zone_device | PG_allocated | PG_anon | PG_anon_exclusive;
    m.pm.refcount[d] = 1;
    m.pm.mapcount[d] = 1;
    m.pm.writeBytes(d, 0, pattern(32, 5), 0, 32);
    setEntry(m, p.mm, A, kind, d);
    p.mm.rss[MM_ANONPAGES]!++; // device pages count as the anonymous pages they replace
    return { m, p, A, d, calls, freed };
  }

  it('a CPU read calls migrate_to_ram with the page locked and referenced, then unlocks and releases it', async () => {
    const { m, p, A, d, calls, freed } = await devicePrivateSetup(PTE_DEVICE_PRIVATE_WRITE);
    expect(await p.read(A, 32)).toEqual(pattern(32, 5));
    expect(calls).toEqual([{ page: d, address: A, write: false, locked: true, refcount: 2 }]);
    expect(pageLocked(m, d)).toBe(false);
    expect(freed).toEqual([d]);
    const e = pteAt(m, p.mm, A);
    expect([e.kind, e.write]).toEqual([PTE_PRESENT, true]);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
  });

  it('a CPU write on a read-only device-private entry faults it back, then breaks nothing else', async () => {
    const { m, p, A, d, calls } = await devicePrivateSetup(PTE_DEVICE_PRIVATE_READ);
    await p.write(A + 1, new Uint8Array([0x77]));
    expect(calls.map((c) => [c.page, c.write])).toEqual([[d, true]]);
    const e = pteAt(m, p.mm, A);
    expect([e.kind, e.write]).toEqual([PTE_PRESENT, true]);
    const want = pattern(32, 5);
    want[1] = 0x77;
    expect(await p.read(A, 32)).toEqual(want);
  });

  it('a fault on a locked device page waits for the unlock and retries without calling migrate_to_ram', async () => {
    const { m, p, A, d, calls } = await devicePrivateSetup(PTE_DEVICE_PRIVATE_WRITE);
    expect(trylockPage(m, d)).toBe(true);
    const faulter = m.sched.spawn('cpu', () => faultAt(p.mm, A, false));
    const migrator = m.sched.spawn('migrator', () => {
      expect(faulter.state).toBe('blocked');
      expect(m.pageWait.length).toBe(1);
      expect(m.pm.refcount[d]).toBe(1);
      unlockPage(m, d);
    });
    expect(await m.sched.join(faulter)).toBe(0);
    await m.sched.join(migrator);
    expect(calls).toEqual([]);
    expect(pteAt(m, p.mm, A).kind).toBe(PTE_DEVICE_PRIVATE_WRITE);
    expect(await faultAt(p.mm, A, false)).toBe(0);
    expect(calls.length).toBe(1);
  });
});

describe('migration entries', () => {
  for (const kind of [PTE_MIGRATION_READ, PTE_MIGRATION_READ_EXCLUSIVE, PTE_MIGRATION_WRITE]) {
    it(`a fault on a migration entry (kind ${kind}) sleeps until the page is unlocked`, async () => {
      const { m, p, A } = await anonProcess();
      await p.write(A, pattern(16, 2));
      const pfn = pteAt(m, p.mm, A).pfn;
      // try_to_migrate(): the page is locked and its PTE replaced by a migration entry.
      expect(trylockPage(m, pfn)).toBe(true);
      setEntry(m, p.mm, A, kind | PTE_DIRTY, pfn);
      const log: string[] = [];
      const reader = m.sched.spawn('reader', async () => {
        const data = await p.read(A, 16);
        log.push('read done');
        return data;
      });
      const migrator = m.sched.spawn('migrator', () => {
        log.push(`reader ${reader.state}`);
        expect(m.pageWait.length).toBe(1);
        // remove_migration_ptes(), then folio_unlock().
        setEntry(m, p.mm, A, PTE_PRESENT | PTE_WRITE | PTE_DIRTY, pfn);
        unlockPage(m, pfn);
        log.push('unlocked');
      });
      expect(await m.sched.join(reader)).toEqual(pattern(16, 2));
      await m.sched.join(migrator);
      expect(log).toEqual(['reader blocked', 'unlocked', 'read done']);
      expect(m.pm.refcount[pfn]).toBe(1);
      expect(m.pm.flags[pfn]! & PG_locked).toBe(0);
      expect(m.pt.words[pteAt(m, p.mm, A).off]! & PTE_KIND_MASK).toBe(PTE_PRESENT);
    });
  }
});

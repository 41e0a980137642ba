import { describe, expect, it } from 'vitest';
import {
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MM_ANONPAGES,
  MM_SWAPENTS,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../../../src/mm/constants.ts';
import { MMU_NOTIFY_CLEAR, MMU_NOTIFY_PROTECTION_VMA } from '../../../src/mm/mmu-notifier.ts';
import { PG_anon, PG_anon_exclusive } from '../../../src/mm/page-flags.ts';
import { PTE_PRESENT, PTE_SWAP } from '../../../src/mm/pte.ts';
import { SwapDevice } from '../../../src/mm/swap.ts';
import { faultAt, MiB, pattern, pteAt, recordInvalidations, smallMachine } from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
const A = 0x1000_0000;

describe('SwapDevice', () => {
  it('has one slot per page; slot 0 is never handed out', () => {
    const s = new SwapDevice(8 * PAGE_SIZE + 100);
    expect(s.nrSlots).toBe(8);
    const slots = new Set<number>();
    for (let i = 0; i < 8; i++) slots.add(s.allocSlot(null));
    expect([...slots].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(s.inUse).toBe(8);
    expect(s.allocSlot(null)).toBe(0); // full
    expect(new SwapDevice(0).allocSlot(null)).toBe(0); // no swap
  });

  it('stores contents only for slots given data; a slot given null reads as zeros (null)', () => {
    const s = new SwapDevice(4 * PAGE_SIZE);
    const data = pattern(PAGE_SIZE, 17);
    const a = s.allocSlot(data);
    const b = s.allocSlot(null);
    data.fill(0); // the slot holds a copy
    expect(s.read(a)).toEqual(pattern(PAGE_SIZE, 17));
    expect(s.read(b)).toBe(null);
    expect(s.swapOuts).toBe(2);
  });

  it('counts references: dup adds one, free drops one, the slot is released (and its data) at zero', () => {
    const s = new SwapDevice(2 * PAGE_SIZE);
    const a = s.allocSlot(pattern(PAGE_SIZE));
    s.dup(a);
    expect(s.swapMap[a]).toBe(2);
    s.free(a);
    expect(s.swapMap[a]).toBe(1);
    expect(s.inUse).toBe(1);
    s.free(a);
    expect(s.swapMap[a]).toBe(0);
    expect(s.inUse).toBe(0);
    expect(() => s.free(a)).toThrow(/freed twice/);
    // Reused for a page of zeros: the old contents are gone.
    expect(s.allocSlot(null)).toBe(a);
    expect(s.read(a)).toBe(null);
  });
});

async function swapProcess(prot = RW) {
  const m = smallMachine({ swap: MiB });
  const p = await m.createProcess();
  expect(await p.mmap(A, 4 * PAGE_SIZE, prot, ANON, -1, 0)).toBe(A);
  return { m, p };
}

describe('swap-out (MADV_PAGEOUT) and swap-in', () => {
  it('page-out replaces the PTE by a swap entry, frees the page and moves rss to MM_SWAPENTS', async () => {
    const { m, p } = await swapProcess();
    await p.write(A + PAGE_SIZE, pattern(PAGE_SIZE, 3));
    const pfn = pteAt(m, p.mm, A + PAGE_SIZE).pfn;
    const free = m.pm.freeFrames;
    const rec = recordInvalidations(m);
    expect(await p.madvise(A, 4 * PAGE_SIZE, MADV_PAGEOUT)).toBe(0);
    expect(rec.events).toEqual([
      { mm: p.mm.id, event: MMU_NOTIFY_CLEAR, start: A + PAGE_SIZE, end: A + 2 * PAGE_SIZE, owner: null },
    ]);
    const e = pteAt(m, p.mm, A + PAGE_SIZE);
    expect(e.kind).toBe(PTE_SWAP);
    expect(m.swap.swapMap[e.pfn]).toBe(1);
    expect(m.swap.read(e.pfn)).toEqual(pattern(PAGE_SIZE, 3));
    expect(m.pm.freeFrames).toBe(free + 1);
    expect(m.pm.refcount[pfn]).toBe(0);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(0);
    expect(p.mm.rss[MM_SWAPENTS]).toBe(1);
  });

  it('swap-in returns identical data, frees the slot and moves rss back, without invalidation', async () => {
    const { m, p } = await swapProcess();
    await p.write(A, pattern(PAGE_SIZE, 11));
    await p.madvise(A, PAGE_SIZE, MADV_PAGEOUT);
    const slot = pteAt(m, p.mm, A).pfn;
    const rec = recordInvalidations(m);
    expect(await p.read(A, PAGE_SIZE)).toEqual(pattern(PAGE_SIZE, 11));
    expect(rec.events).toEqual([]);
    const e = pteAt(m, p.mm, A);
    expect(e.kind).toBe(PTE_PRESENT);
    expect(m.swap.swapMap[slot]).toBe(0);
    expect(m.swap.inUse).toBe(0);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
    expect(p.mm.rss[MM_SWAPENTS]).toBe(0);
    expect(m.pm.flags[e.pfn]! & (PG_anon | PG_anon_exclusive)).toBe(PG_anon | PG_anon_exclusive);
    expect(m.pm.mapcount[e.pfn]).toBe(1);
    expect(m.pm.refcount[e.pfn]).toBe(1);
  });

  it('a read swap-in of an exclusive page in a writable VMA maps it writable but clean; a write then reuses it', async () => {
    const { m, p } = await swapProcess();
    await p.write(A, pattern(64));
    await p.madvise(A, PAGE_SIZE, MADV_PAGEOUT);
    expect(await faultAt(p.mm, A, false)).toBe(0);
    const e = pteAt(m, p.mm, A);
    expect([e.kind, e.write, e.dirty]).toEqual([PTE_PRESENT, true, false]);
    const rec = recordInvalidations(m);
    await p.write(A, new Uint8Array([0xab]));
    const w = pteAt(m, p.mm, A);
    expect([w.pfn, w.write, w.dirty]).toEqual([e.pfn, true, true]);
    expect(rec.events).toEqual([]);
  });

  it('a write swap-in maps the page writable and dirty', async () => {
    const { m, p } = await swapProcess();
    await p.write(A, pattern(64));
    await p.madvise(A, PAGE_SIZE, MADV_PAGEOUT);
    await p.write(A + 1, new Uint8Array([0]));
    const e = pteAt(m, p.mm, A);
    expect([e.kind, e.write, e.dirty]).toEqual([PTE_PRESENT, true, true]);
    const want = pattern(64);
    want[1] = 0;
    expect(await p.read(A, 64)).toEqual(want);
  });

  it('in a read-only VMA the swapped-in page is read-only; mprotect RW then makes it writable in place', async () => {
    const { m, p } = await swapProcess();
    await p.write(A, pattern(64));
    expect(await p.mprotect(A, 4 * PAGE_SIZE, PROT_READ)).toBe(0);
    await p.madvise(A, PAGE_SIZE, MADV_PAGEOUT);
    expect(await p.read(A, 64)).toEqual(pattern(64));
    const e = pteAt(m, p.mm, A);
    expect([e.kind, e.write]).toEqual([PTE_PRESENT, false]);
    const rec = recordInvalidations(m);
    expect(await p.mprotect(A, 4 * PAGE_SIZE, RW)).toBe(0);
    await p.write(A, new Uint8Array([5]));
    expect(pteAt(m, p.mm, A).pfn).toBe(e.pfn);
    expect(rec.events.map((x) => x.event)).toEqual([MMU_NOTIFY_PROTECTION_VMA]);
  });

  it('fork shares a swap entry (two references); each process swaps in the same data; the slot goes with the last', async () => {
    const { m, p } = await swapProcess();
    await p.write(A, pattern(128, 9));
    await p.madvise(A, PAGE_SIZE, MADV_PAGEOUT);
    const slot = pteAt(m, p.mm, A).pfn;
    const c = await p.fork();
    expect(pteAt(m, c.mm, A).kind).toBe(PTE_SWAP);
    expect(pteAt(m, c.mm, A).pfn).toBe(slot);
    expect(m.swap.swapMap[slot]).toBe(2);
    expect(c.mm.rss[MM_SWAPENTS]).toBe(1);
    expect(await p.read(A, 128)).toEqual(pattern(128, 9));
    expect(m.swap.swapMap[slot]).toBe(1);
    expect(p.mm.rss[MM_SWAPENTS]).toBe(0);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
    expect(await c.read(A, 128)).toEqual(pattern(128, 9));
    expect(m.swap.swapMap[slot]).toBe(0);
    expect(m.swap.inUse).toBe(0);
    expect(c.mm.rss[MM_SWAPENTS]).toBe(0);
    expect(c.mm.rss[MM_ANONPAGES]).toBe(1);
    // Writes after swap-in stay private.
    await c.write(A, new Uint8Array([0]));
    expect((await p.read(A, 1))[0]).toBe(pattern(1, 9)[0]);
  });

  it('munmap of a swap entry frees the slot and the MM_SWAPENTS count', async () => {
    const { m, p } = await swapProcess();
    await p.write(A, pattern(8));
    await p.madvise(A, PAGE_SIZE, MADV_PAGEOUT);
    expect(m.swap.inUse).toBe(1);
    expect(await p.munmap(A, 4 * PAGE_SIZE)).toBe(0);
    expect(m.swap.inUse).toBe(0);
    expect(p.mm.rss[MM_SWAPENTS]).toBe(0);
  });

  it('without a free slot, page-out leaves the page mapped', async () => {
    const m = smallMachine({ swap: PAGE_SIZE });
    const p = await m.createProcess();
    await p.mmap(A, 2 * PAGE_SIZE, RW, ANON, -1, 0);
    await p.write(A, pattern(2 * PAGE_SIZE));
    expect(await p.madvise(A, 2 * PAGE_SIZE, MADV_PAGEOUT)).toBe(0);
    expect(pteAt(m, p.mm, A).kind).toBe(PTE_SWAP);
    expect(pteAt(m, p.mm, A + PAGE_SIZE).kind).toBe(PTE_PRESENT);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
    expect(p.mm.rss[MM_SWAPENTS]).toBe(1);
    expect(await p.read(A, 2 * PAGE_SIZE)).toEqual(pattern(2 * PAGE_SIZE));
  });
});

import { describe, expect, it } from 'vitest';
import { Machine } from '../../../src/machine.ts';
import { translate } from '../../../src/mm/access.ts';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MM_ANONPAGES,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '../../../src/mm/constants.ts';
import {
  PTE_DIRTY,
  PTE_HWPOISON,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_WRITE,
  PTE_YOUNG,
} from '../../../src/mm/pte.ts';
import { BusError, OutOfMemoryKill, SegmentationFault } from '../../../src/mm/signals.ts';
import { RoundRobinPolicy } from '../../../src/sim/policy.ts';
import { leafAt, MiB, pattern, pteAt, rejectionOf, setEntry, smallMachine } from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
const A = 0x1000_0000;

describe('translate (the hardware walk)', () => {
  it('misses (-1) on a none entry and on a write to a read-only PTE; sets accessed and dirty bits', async () => {
    const m = smallMachine();
    const p = await m.createProcess();
    await p.mmap(A, 2 * PAGE_SIZE, RW, ANON, -1, 0);
    const vpn = A / PAGE_SIZE;
    expect(translate(p.mm, vpn, false)).toBe(-1);
    const pfn = m.pm.allocPages(0);
    setEntry(m, p.mm, A, PTE_PRESENT, pfn);
    expect(translate(p.mm, vpn, true)).toBe(-1);
    expect(translate(p.mm, vpn, false)).toBe(pfn);
    expect(pteAt(m, p.mm, A).lo).toBe(PTE_PRESENT | PTE_YOUNG);
    setEntry(m, p.mm, A, PTE_PRESENT | PTE_WRITE, pfn);
    expect(translate(p.mm, vpn, true)).toBe(pfn);
    expect(pteAt(m, p.mm, A).lo).toBe(PTE_PRESENT | PTE_WRITE | PTE_YOUNG | PTE_DIRTY);
    setEntry(m, p.mm, A, PTE_PRESENT | PTE_WRITE | PTE_PROTNONE, pfn);
    expect(translate(p.mm, vpn, false)).toBe(-1);
  });

  it('through a PMD leaf, returns the page of the folio at the offset', async () => {
    const m = smallMachine({ thp: 'always' });
    const p = await m.createProcess();
    const B = 0x4000_0000;
    await p.mmap(B, PMD_SIZE, RW, ANON, -1, 0);
    await p.write(B, new Uint8Array([1]));
    const head = leafAt(m, p.mm, B).pfn;
    expect(translate(p.mm, B / PAGE_SIZE + 300, true)).toBe(head + 300);
  });
});

describe('CPU accesses', () => {
  it('read and write across page boundaries, faulting each page in', async () => {
    const m = smallMachine();
    const p = await m.createProcess();
    await p.mmap(A, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    const data = pattern(2 * PAGE_SIZE, 6); // the end of page 0, page 1, most of page 2
    await p.write(A + PAGE_SIZE - 100, data);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(3);
    expect(await p.read(A + PAGE_SIZE - 100, data.length)).toEqual(data);
    expect(await p.read(A, 4)).toEqual(new Uint8Array(4));
    expect(pteAt(m, p.mm, A + 3 * PAGE_SIZE).kind).toBe(0);
  });

  it('load32/store32 are little-endian unsigned 32-bit', async () => {
    const m = smallMachine();
    const p = await m.createProcess();
    await p.mmap(A, PAGE_SIZE, RW, ANON, -1, 0);
    await p.store32(A + 8, -2);
    expect(Array.from(await p.read(A + 8, 4))).toEqual([0xfe, 0xff, 0xff, 0xff]);
    expect(await p.load32(A + 8)).toBe(0xfffffffe);
    await p.write(A + 16, new Uint8Array([0x78, 0x56, 0x34, 0x12]));
    expect(await p.load32(A + 16)).toBe(0x12345678);
  });

  it('a PROT_WRITE-only mapping can be read (x86 has no write-only pages)', async () => {
    const m = smallMachine();
    const p = await m.createProcess();
    await p.mmap(A, PAGE_SIZE, PROT_WRITE, ANON, -1, 0);
    expect(await p.load32(A)).toBe(0);
  });

  it('a NUMA-hinting protnone PTE faults and gets its access back, on the same page', async () => {
    const m = smallMachine();
    const p = await m.createProcess();
    await p.mmap(A, PAGE_SIZE, RW, ANON, -1, 0);
    await p.write(A, pattern(8));
    const e = pteAt(m, p.mm, A);
    m.pt.words[e.off] = e.lo | PTE_PROTNONE;
    expect(await p.read(A, 8)).toEqual(pattern(8));
    const after = pteAt(m, p.mm, A);
    expect([after.protnone, after.pfn, after.write]).toEqual([false, e.pfn, true]);
  });
});

describe('signals', () => {
  it('SIGSEGV for an address without a VMA, with the address; the mmap lock is released', async () => {
    const m = smallMachine();
    const p = await m.createProcess();
    await p.mmap(A, PAGE_SIZE, RW, ANON, -1, 0);
    const err = await rejectionOf(p.read(A + PAGE_SIZE + 12, 4));
    expect(err).toBeInstanceOf(SegmentationFault);
    expect((err as SegmentationFault).addr).toBe(A + PAGE_SIZE + 12);
    expect((err as SegmentationFault).write).toBe(false);
    expect(p.mm.mmapLock.downWriteTrylock()).toBe(true);
    p.mm.mmapLock.upWrite();
  });

  it('an access running off the end of a VMA writes the mapped part, then SIGSEGV at the first unmapped byte', async () => {
    const m = smallMachine();
    const p = await m.createProcess();
    await p.mmap(A, PAGE_SIZE, RW, ANON, -1, 0);
    const err = await rejectionOf(p.write(A + PAGE_SIZE - 4, pattern(8)));
    expect(err).toBeInstanceOf(SegmentationFault);
    expect((err as SegmentationFault).addr).toBe(A + PAGE_SIZE);
    expect(await p.read(A + PAGE_SIZE - 4, 4)).toEqual(pattern(4));
  });

  it('SIGSEGV for a write to a read-only VMA and for any access to PROT_NONE; nothing gets mapped', async () => {
    const m = smallMachine();
    const p = await m.createProcess();
    await p.mmap(A, PAGE_SIZE, PROT_READ, ANON, -1, 0);
    await p.mmap(A + PAGE_SIZE, PAGE_SIZE, PROT_NONE, ANON, -1, 0);
    const w = await rejectionOf(p.store32(A, 1));
    expect(w).toBeInstanceOf(SegmentationFault);
    expect((w as SegmentationFault).write).toBe(true);
    expect(leafAt(m, p.mm, A).kind).toBe(0);
    expect(await rejectionOf(p.read(A + PAGE_SIZE, 1))).toBeInstanceOf(SegmentationFault);
    expect(await rejectionOf(p.write(A + PAGE_SIZE, new Uint8Array(1)))).toBeInstanceOf(SegmentationFault);
    expect(leafAt(m, p.mm, A + PAGE_SIZE).kind).toBe(0);
  });

  it('SIGBUS on a hardware-poisoned entry', async () => {
    const m = smallMachine();
    const p = await m.createProcess();
    await p.mmap(A, PAGE_SIZE, RW, ANON, -1, 0);
    setEntry(m, p.mm, A, PTE_HWPOISON, 0);
    const err = await rejectionOf(p.read(A, 1));
    expect(err).toBeInstanceOf(BusError);
    expect(err.message).toMatch(/poison/);
  });

  it('an OOM kill once the last free page is used', async () => {
    const m = new Machine({ memory: 8 * MiB, hugetlbPages: 0 });
    const p = await m.createProcess();
    const frames = m.pm.freeFrames;
    await p.mmap(A, (frames + 1) * PAGE_SIZE, RW, ANON, -1, 0);
    for (let i = 0; i < frames; i++) await p.store32(A + i * PAGE_SIZE, i);
    expect(m.pm.freeFrames).toBe(0);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(frames);
    const err = await rejectionOf(p.store32(A + frames * PAGE_SIZE, 1));
    expect(err).toBeInstanceOf(OutOfMemoryKill);
    expect((err as OutOfMemoryKill).addr).toBe(A + frames * PAGE_SIZE);
    // Reads still work: the zero page costs nothing.
    expect(await p.load32(A + frames * PAGE_SIZE)).toBe(0);
    expect(await p.load32(A + 77 * PAGE_SIZE)).toBe(77);
  });
});

describe('accesses that wait for nothing run without promises, with the same steps', () => {
  it('store32 / load32 pass the same preemption points as a 4-byte write / read, faults included', async () => {
    const m = smallMachine();
    const p = await m.createProcess();
    await p.mmap(A, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    let s0 = m.sched.steps;
    await p.write(A, new Uint8Array([7, 0, 0, 0]));
    const writeSteps = m.sched.steps - s0;
    s0 = m.sched.steps;
    await p.store32(A + PAGE_SIZE, 7);
    expect(m.sched.steps - s0).toBe(writeSteps);
    s0 = m.sched.steps;
    await p.read(A + 2 * PAGE_SIZE, 4);
    const readSteps = m.sched.steps - s0;
    s0 = m.sched.steps;
    await p.load32(A + 3 * PAGE_SIZE);
    expect(m.sched.steps - s0).toBe(readSteps);
    expect(writeSteps).toBeGreaterThanOrEqual(3); // cpu write, handle_mm_fault, cpu write again
    expect(await p.load32(A + PAGE_SIZE)).toBe(7);
  });

  it('with another thread runnable at every point, faults take the waiting path and land the same', async () => {
    const m = smallMachine({ scheduler: { policy: new RoundRobinPolicy() } });
    const p = await m.createProcess();
    await p.mmap(A, 8 * PAGE_SIZE, RW, ANON, -1, 0);
    const store = (from: number) => async () => {
      for (let i = from; i < from + 4; i++) await p.store32(A + i * PAGE_SIZE, i + 1);
    };
    const t1 = m.sched.spawn('t1', store(0));
    const t2 = m.sched.spawn('t2', store(4));
    await m.sched.join(t1);
    await m.sched.join(t2);
    expect(m.sched.switches).toBeGreaterThan(8);
    for (let i = 0; i < 8; i++) expect(await p.load32(A + i * PAGE_SIZE)).toBe(i + 1);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(8);
  });
});

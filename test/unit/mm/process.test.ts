/** Process: CPU accesses (page crossings, signals) and misuse of the TypeScript API. */
import { describe, expect, it } from 'vitest';
import {
  BusError,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  SegmentationFault,
  UsageError,
} from '../../../src/index.ts';
import { diffAt, zeros } from './bytes.ts';
import { leafAt, MiB, pattern, rejectionOf } from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const FIXED = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
const P = PAGE_SIZE;
const A = 0x4000_0000;

async function boot() {
  const m = new Machine({ memory: 32 * MiB, hugetlbPages: 0 });
  const p = await m.createProcess();
  return { m, p };
}

describe('CPU accesses', () => {
  it('read and write across page boundaries', async () => {
    const { m, p } = await boot();
    expect(await p.mmap(A, 3 * P, RW, FIXED, -1, 0)).toBe(A);
    const data = pattern(P + 20, 9);
    await p.write(A + P - 10, data); // touches all three pages
    for (const i of [0, 1, 2]) expect(leafAt(m, p.mm, A + i * P).write).toBe(true);
    expect(diffAt(await p.read(A + P - 10, P + 20), data)).toBe(-1);
    expect(diffAt(await p.read(A + P - 12, 2), zeros(2))).toBe(-1);
    expect(
      diffAt(
        await p.read(A, 3 * P),
        new Uint8Array([...new Uint8Array(P - 10), ...data, ...new Uint8Array(P - 10)]),
      ),
    ).toBe(-1);
    expect(diffAt(await p.read(A, 0), zeros(0))).toBe(-1);
  });

  it('load32 / store32 are little-endian and may straddle two pages', async () => {
    const { p } = await boot();
    expect(await p.mmap(A, 2 * P, RW, FIXED, -1, 0)).toBe(A);
    await p.store32(A + P - 2, 0xdeadbeef);
    expect(diffAt(await p.read(A + P - 2, 4), new Uint8Array([0xef, 0xbe, 0xad, 0xde]))).toBe(-1);
    expect(await p.load32(A + P - 2)).toBe(0xdeadbeef);
    await p.store32(A, -1); // stored as the 32-bit pattern, loaded unsigned
    expect(await p.load32(A)).toBe(0xffffffff);
    // A value wider than 32 bits is a usage error, not a silent C-style truncation.
    await expect(p.store32(A + 8, 2 ** 32 + 5)).rejects.toThrow(/store32\(value\): must fit in 32 bits/);
    expect(await p.load32(A + 8)).toBe(0);
  });

  it('SIGSEGV carries the faulting address: no mapping, an access past the end, a forbidden write', async () => {
    const { p } = await boot();
    expect(await p.mmap(A, P, PROT_READ, FIXED, -1, 0)).toBe(A);
    let err = await rejectionOf(p.read(A - 3, 1));
    expect(err).toBeInstanceOf(SegmentationFault);
    expect([(err as SegmentationFault).addr, (err as SegmentationFault).write]).toEqual([A - 3, false]);
    err = await rejectionOf(p.load32(A + P - 2)); // the second half is unmapped
    expect(err).toBeInstanceOf(SegmentationFault);
    expect((err as SegmentationFault).addr).toBe(A + P);
    err = await rejectionOf(p.store32(A + 12, 1));
    expect(err).toBeInstanceOf(SegmentationFault);
    expect([(err as SegmentationFault).addr, (err as SegmentationFault).write]).toEqual([A + 12, true]);
  });

  it('SIGBUS for an access to a file mapping beyond the last page of the file', async () => {
    const { p } = await boot();
    const fd = await p.createTmpFile(P + 100);
    const a = await p.mmap(0, 3 * P, RW, MAP_SHARED, fd, 0);
    // The partial last page is accessible, zero-filled past the end of the file.
    expect(diffAt(await p.read(a + P + 50, 100), zeros(100))).toBe(-1);
    await p.store32(a + 2 * P - 4, 1);
    let err = await rejectionOf(p.read(a + 2 * P, 1));
    expect(err).toBeInstanceOf(BusError);
    expect((err as BusError).addr).toBe(a + 2 * P);
    const b = await p.mmap(0, 3 * P, RW, MAP_PRIVATE, fd, 0);
    err = await rejectionOf(p.store32(b + 2 * P + 8, 1));
    expect(err).toBeInstanceOf(BusError);
    expect([(err as BusError).addr, (err as BusError).write]).toEqual([b + 2 * P + 8, true]);
    // An offset mapping: the file ends one page into it.
    const c = await p.mmap(0, 2 * P, PROT_READ, MAP_SHARED, fd, P);
    expect(await p.load32(c)).toBe(0);
    expect(await rejectionOf(p.load32(c + P))).toBeInstanceOf(BusError);
  });
});

describe('API misuse', () => {
  it('non-integer arguments throw UsageError naming the argument', async () => {
    const { p } = await boot();
    expect(await p.mmap(A, P, RW, FIXED, -1, 0)).toBe(A);
    const cases: [() => Promise<unknown>, string][] = [
      [() => p.mmap(1.5, P, RW, FIXED, -1, 0), 'mmap(addr)'],
      [() => p.mmap(A, Number.NaN, RW, FIXED, -1, 0), 'mmap(length)'],
      [() => p.mmap(A, P, RW, FIXED, -1, Number.POSITIVE_INFINITY), 'mmap(offset)'],
      [() => p.munmap(A, 0.5), 'munmap(length)'],
      [() => p.mprotect(A, P, 1.1), 'mprotect(prot)'],
      [() => p.madvise(A, P, '4' as unknown as number), 'madvise(advice)'],
      [() => p.mremap(A, P, P, 0, 0.1), 'mremap(newAddr)'],
      [() => p.read(A, 1.5), 'read(length)'],
      [() => p.read(A + 0.5, 1), 'read(addr)'],
      [() => p.write(A + 0.5, new Uint8Array(1)), 'write(addr)'],
      [() => p.write(A, [1, 2] as unknown as Uint8Array), 'write(data)'],
      [() => p.load32(Number.NaN), 'load32(addr)'],
      [() => p.store32(A, 1.5), 'store32(value)'],
      [() => p.createTmpFile(0.5), 'createTmpFile(size)'],
    ];
    for (const [call, what] of cases) {
      const err = await rejectionOf(call());
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).what).toBe(what);
    }
    expect(p.mm.vmas).toHaveLength(1);
  });

  it('every call after exit throws UsageError', async () => {
    const { p } = await boot();
    await p.exit();
    const calls: (() => Promise<unknown>)[] = [
      () => p.mmap(0, P, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
      () => p.munmap(A, P),
      () => p.mprotect(A, P, PROT_READ),
      () => p.madvise(A, P, 4),
      () => p.mremap(A, P, P, 0),
      () => p.fork(),
      () => p.exit(),
      () => p.createTmpFile(P),
      () => p.read(A, 1),
      () => p.write(A, new Uint8Array(1)),
      () => p.load32(A),
      () => p.store32(A, 1),
    ];
    for (const call of calls) expect(await rejectionOf(call())).toBeInstanceOf(UsageError);
  });
});

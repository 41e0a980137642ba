/**
 * `struct hmm_buffer` of the kernel's HMM self-tests (tools/testing/selftests/mm/hmm-tests.c), the
 * sizes the tests use, and the int-array views the C tests get for free (`int *ptr` over a
 * mapping or over the mirror buffer).
 * @module
 */
import type { Process } from '../../mm/index.ts';
import { PAGE_SIZE } from '../../mm/index.ts';
import { expect } from '../expect.ts';

/** `HMM_BUFFER_SIZE`: 4 MiB, 1024 pages. */
export const HMM_BUFFER_SIZE = 1024 << 12;
/** `NTIMES`: repetitions of the *_multiple and teardown tests. */
export const NTIMES = 10;
/** `ONEKB`. */
export const ONEKB = 1 << 10;
/** `ONEMEG`. */
export const ONEMEG = 1 << 20;
/** `TWOMEG`. */
export const TWOMEG = 1 << 21;

/** `ALIGN(x, a)` for a power-of-two `a`. */
export function ALIGN(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/** `struct hmm_buffer`. `ptr` 0 stands for NULL. */
export interface HmmBuffer {
  /** The CPU mapping (0 when there is none). */
  ptr: number;
  /** The host buffer: what the device read or writes, or one snapshot byte per page. */
  mirror: Uint8Array;
  /** Bytes to munmap on free. */
  size: number;
  /** Backing file, or -1. */
  fd: number;
  /** Copied from the command on success only. */
  cpages: number;
  /** Copied from the command on success only. */
  faults: number;
}

/** A buffer with a mirror of `mirrorSize` bytes (`malloc(sizeof(*buffer))` + `malloc(mirror)`). */
export function hmmBufferAlloc(size: number, mirrorSize = size): HmmBuffer {
  return { ptr: 0, mirror: new Uint8Array(mirrorSize), size, fd: -1, cpages: 0, faults: 0 };
}

/** `hmm_buffer_free`: munmaps the mapping if there still is one; the mirror goes with the object. */
export async function hmmBufferFree(process: Process, buffer: HmmBuffer): Promise<void> {
  if (buffer.ptr !== 0) {
    await process.munmap(buffer.ptr, buffer.size);
    buffer.ptr = 0;
  }
}

/** `ptr[i] = f(i)` for i in [from, to) over the CPU mapping at `addr`, as the CPU writes. */
export async function cpuFillInts(
  process: Process,
  addr: number,
  from: number,
  to: number,
  f: (i: number) => number,
): Promise<void> {
  const ints = new Int32Array(to - from);
  for (let i = from; i < to; i++) ints[i - from] = f(i);
  await process.write(addr + from * 4, new Uint8Array(ints.buffer));
}

/** The ints [from, to) of the CPU mapping at `addr`, as the CPU reads them; index i at [i - from]. */
export async function cpuReadInts(
  process: Process,
  addr: number,
  from: number,
  to: number,
): Promise<Int32Array> {
  const bytes = await process.read(addr + from * 4, (to - from) * 4);
  return new Int32Array(bytes.buffer, bytes.byteOffset, to - from);
}

/**
 * `for (i = from; i < to; ++i) ASSERT_EQ(ptr[i]++, f(i))` over the CPU mapping at `addr`: page by
 * page, the CPU loads the ints (checking each old value) and stores them incremented, so each
 * page takes a read access and then a write access like the C loop's.
 */
export async function cpuIncrementInts(
  process: Process,
  addr: number,
  from: number,
  to: number,
  f: (i: number) => number,
): Promise<void> {
  const perPage = PAGE_SIZE / 4;
  for (let first = from; first < to; first = Math.min(to, (Math.floor(first / perPage) + 1) * perPage)) {
    const last = Math.min(to, (Math.floor(first / perPage) + 1) * perPage);
    const ints = (await cpuReadInts(process, addr, first, last)).slice();
    assertInts('ptr', ints, first, last, f);
    for (let j = 0; j < ints.length; j++) ints[j] = (ints[j]! + 1) | 0;
    await process.write(addr + first * 4, new Uint8Array(ints.buffer));
  }
}

/** The mirror as an int array. */
export function mirrorInts(buffer: HmmBuffer): Int32Array {
  const m = buffer.mirror;
  return new Int32Array(m.buffer, m.byteOffset, m.length >>> 2);
}

/** `mirror[i] = f(i)` for i in [0, count). */
export function fillMirror(buffer: HmmBuffer, count: number, f: (i: number) => number): void {
  const ints = mirrorInts(buffer);
  for (let i = 0; i < count; i++) ints[i] = f(i);
}

/**
 * `for (i = from; i < to; ++i) ASSERT_EQ(ints[i - offset], f(i))`: every element is checked and
 * the first mismatch fails the test, naming the index.
 */
export function assertInts(
  what: string,
  ints: Int32Array,
  from: number,
  to: number,
  f: (i: number) => number,
  offset = from,
): void {
  for (let i = from; i < to; i++) {
    const want = f(i) | 0;
    if (ints[i - offset] !== want) expect(ints[i - offset], `${what}[${i}]`).toBe(want);
  }
}

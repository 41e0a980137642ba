/**
 * The small system helpers of the kernel's HMM self-tests (a temporary file, random numbers,
 * nanosleep, the huge page sizes), on the simulated machine.
 * @module
 */
import type { Machine } from '../../machine.ts';
import type { Process } from '../../mm/index.ts';
import { Prng } from '../../sim/prng.ts';
import { TWOMEG } from './buffer.ts';

/** `hmm_create_file`: an unnamed temporary file of `size` bytes; its fd. */
export async function hmmCreateFile(process: Process, size: number): Promise<number> {
  return process.createTmpFile(size);
}

/** `hmm_random`: a random u32 (from a seeded generator, so runs repeat). */
export function hmmRandomSource(seed: number): () => number {
  const prng = new Prng(seed);
  return () => prng.nextU32();
}

/**
 * `hmm_nanosleep(n)`: sleeps `n` ns of virtual time. The scheduler wakes the sleeper as soon as
 * the clock (advanced by the other threads' work, e.g. HMM walks) passes the deadline, so the
 * sleep stays concurrent with the racing command.
 */
export async function hmmNanosleep(machine: Machine, n: number): Promise<void> {
  await machine.sched.sleep(n);
}

/** `read_pmd_pagesize()`: the THP size of the machine. */
export function readPmdPagesize(): number {
  return TWOMEG;
}

/** `default_huge_page_size()`: the hugetlb default size of the machine. */
export function defaultHugePageSize(): number {
  return TWOMEG;
}

/** `hugetlb_free_default_pages()`. */
export function hugetlbFreeDefaultPages(machine: Machine): number {
  return machine.hugetlb.freeHugePages;
}

/**
 * What the mutants' kill scenarios share: the small machine they run on, a written anonymous
 * buffer, reading page words back, and CPU threads that load one word.
 * @module
 */
import type { MachineOptions } from '../../machine.ts';
import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../../mm/constants.ts';
import type { Process } from '../../mm/process.ts';
import type { ScenarioThread } from '../types.ts';

/** The machine of every mutant scenario: small, so that a schedule is cheap. */
export const MUTANT_SCENARIO_MACHINE: MachineOptions = { memory: 16 * 1024 * 1024, hugetlbPages: 0 };

/** Device memory per dmirror chunk in these scenarios (one 2 MiB chunk is plenty). */
export const SCENARIO_CHUNK_SIZE = PMD_SIZE;

/**
 * An anonymous private read-write mapping of `npages` pages; with `value`, page `i` starts with
 * the 32-bit word `value(i)` (written by the CPU, so every page is faulted in).
 */
export async function anonBuffer(
  process: Process,
  npages: number,
  value?: (i: number) => number,
): Promise<number> {
  const addr = await process.mmap(
    0,
    npages * PAGE_SIZE,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS,
    -1,
    0,
  );
  if (value !== undefined)
    for (let i = 0; i < npages; i++) await process.store32(addr + i * PAGE_SIZE, value(i));
  return addr;
}

/** The first 32-bit word of every page of `data` (what a device command copied out). */
export function firstWords(data: Uint8Array, npages: number): number[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: number[] = [];
  for (let i = 0; i < npages; i++) out.push(view.getUint32(i * PAGE_SIZE, true));
  return out;
}

/** `n` in hexadecimal, for messages. */
export const hex = (n: number): string => `0x${n.toString(16)}`;

/** The state CPU load threads write into: the buffer and what each thread loaded. */
export interface LoadState {
  /** The process the threads belong to. */
  readonly process: Process;
  /** The word every thread loads. */
  readonly addr: number;
  /** Values loaded, by thread name. */
  readonly loaded: Record<string, number>;
}

/** Threads named `names`, each loading the word at `s.addr` into `s.loaded[name]`. */
export function cpuLoadThreads<S extends LoadState>(
  names: readonly string[],
): Record<string, ScenarioThread<S>> {
  const threads: Record<string, ScenarioThread<S>> = {};
  for (const name of names)
    threads[name] = async (s) => {
      s.loaded[name] = await s.process.load32(s.addr);
    };
  return threads;
}

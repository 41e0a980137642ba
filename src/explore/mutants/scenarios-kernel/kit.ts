/**
 * What the kernel-side mutants' scenarios share: their machine, the words written in setup, and
 * the one-process, one-device state most of them start from.
 * @module
 */
import type { DmirrorFile } from '../../../devices/dmirror/file.ts';
import type { Machine, MachineOptions } from '../../../machine.ts';
import { PAGE_SIZE } from '../../../mm/constants.ts';
import type { MmStruct } from '../../../mm/mm-struct.ts';
import { findEntry } from '../../../mm/page-table.ts';
import type { Process } from '../../../mm/process.ts';
import { PTE_KIND_MASK } from '../../../mm/pte.ts';
import {
  anonBuffer,
  firstWords,
  hex,
  MUTANT_SCENARIO_MACHINE,
  SCENARIO_CHUNK_SIZE,
} from '../scenario-kit.ts';

/** The machine of every kernel scenario. */
export const KERNEL_SCENARIO_MACHINE: MachineOptions = MUTANT_SCENARIO_MACHINE;

/** Device memory per dmirror chunk in these scenarios. */
export const CHUNK = SCENARIO_CHUNK_SIZE;

/** The 32-bit word written at the start of page `i` in setup. */
export function kernelPageValue(i: number): number {
  return 0xc0de_0000 + i;
}

/** The word a thread writes over page 0 during the race. */
export const NEW_VALUE = 0x0bad_cafe;

/** `anonBuffer` written with `kernelPageValue` (unless `touch` is false). */
export function kernelBuffer(process: Process, npages: number, touch = true): Promise<number> {
  return anonBuffer(process, npages, touch ? kernelPageValue : undefined);
}

/** The kind of the PTE mapping `addr` in `mm` (PTE_KIND_MASK bits), or -1 without a page table. */
export function pteKind(machine: Machine, mm: MmStruct, addr: number): number {
  const off = findEntry(machine.pt, mm.pgd, addr / PAGE_SIZE, 1);
  return off < 0 ? -1 : machine.pt.words[off]! & PTE_KIND_MASK;
}

/** A process, its buffer and one dmirror file. */
export interface DeviceState {
  /** The process whose address space the device mirrors. */
  readonly process: Process;
  /** Its open dmirror file (device-private device, minor 0). */
  readonly file: DmirrorFile;
  /** Start of the buffer (anonymous, private, read-write); page `i` starts with `kernelPageValue(i)`. */
  readonly addr: number;
  /** Pages in the buffer. */
  readonly npages: number;
  /** The command's result (errno), once returned. */
  ret: number | null;
  /** First word of each page read, or the snapshot bytes. */
  got: number[];
}

/** A new process with a `kernelBuffer` of `npages` pages, mirrored by a new dmirror device. */
export async function deviceSetup(machine: Machine, npages: number): Promise<DeviceState> {
  const process = await machine.createProcess();
  const addr = await kernelBuffer(process, npages);
  const file = await machine.addDmirrorDevice({ chunkSize: CHUNK }).open(process);
  return { process, file, addr, npages, ret: null, got: [] };
}

/** A device READ of the whole buffer through `file`; its result and the first words in `s`. */
export async function deviceRead(s: DeviceState, file: DmirrorFile = s.file): Promise<void> {
  const r = await file.read(s.addr, s.npages);
  s.ret = r.ret;
  if (r.ret === 0) s.got = firstWords(r.data, s.npages);
}

/** A successful READ returned the words written in setup. */
export function checkWords(s: DeviceState): void {
  for (let i = 0; i < s.npages; i++) {
    if (s.got[i] !== kernelPageValue(i))
      throw new Error(
        `device READ of page ${i} returned ${hex(s.got[i] ?? 0)}, expected ${hex(kernelPageValue(i))}`,
      );
  }
}

/** Device 0 migrates the buffer into its memory (its result is not judged: it may race). */
export async function migrateToDevice(s: DeviceState): Promise<void> {
  await s.file.migrateToDev(s.addr, s.npages);
}

/** Shared fixtures of the mm unit tests: small machines, page-table inspection, invalidation capture. */
import { Machine, type MachineOptions } from '../../../src/machine.ts';
import { FAULT_FLAG_WRITE, PAGE_SIZE } from '../../../src/mm/constants.ts';
import { handleMmFault } from '../../../src/mm/fault.ts';
import type { Kernel } from '../../../src/mm/kernel.ts';
import type { MmStruct } from '../../../src/mm/mm-struct.ts';
import {
  ensureEntry,
  findEntry,
  leafLevel,
  leafOffset,
  type PtLevel,
  walkLeaf,
} from '../../../src/mm/page-table.ts';
import {
  PTE_DIRTY,
  PTE_KIND_MASK,
  PTE_LEAF,
  PTE_PROTNONE,
  PTE_SPECIAL,
  PTE_WRITE,
} from '../../../src/mm/pte.ts';

export const KiB = 1024;
export const MiB = 1024 * 1024;

/** A small machine (16 MiB, no hugetlb pool unless asked). */
export function smallMachine(options: MachineOptions = {}): Machine {
  return new Machine({ memory: 16 * MiB, hugetlbPages: 0, ...options });
}

/** What one page-table entry holds, decoded. */
export interface EntryView {
  /** Word offset in the pool. */
  off: number;
  /** 1 = PTE, 2 = PMD, 3 = PUD, 4 = PGD. */
  level: PtLevel;
  /** PTE_* kind. */
  kind: number;
  /** Raw low word. */
  lo: number;
  /** Payload: pfn, swap slot or table. */
  pfn: number;
  write: boolean;
  dirty: boolean;
  special: boolean;
  leaf: boolean;
  protnone: boolean;
}

function view(k: Kernel, off: number, level: PtLevel): EntryView {
  const lo = k.pt.words[off]!;
  return {
    off,
    level,
    kind: lo & PTE_KIND_MASK,
    lo,
    pfn: k.pt.words[off + 1]!,
    write: (lo & PTE_WRITE) !== 0,
    dirty: (lo & PTE_DIRTY) !== 0,
    special: (lo & PTE_SPECIAL) !== 0,
    leaf: (lo & PTE_LEAF) !== 0,
    protnone: (lo & PTE_PROTNONE) !== 0,
  };
}

/** The entry where a hardware walk of `addr` stops (a PTE, a huge leaf, or a none upper entry). */
export function leafAt(k: Kernel, mm: MmStruct, addr: number): EntryView {
  const leaf = walkLeaf(k.pt, mm.pgd, Math.floor(addr / PAGE_SIZE));
  return view(k, leafOffset(leaf), leafLevel(leaf));
}

/** The entry of `addr` at `level`, or null when a table above it is missing or a leaf is in the way. */
export function entryAt(k: Kernel, mm: MmStruct, addr: number, level: PtLevel = 1): EntryView | null {
  const off = findEntry(k.pt, mm.pgd, Math.floor(addr / PAGE_SIZE), level);
  return off < 0 ? null : view(k, off, level);
}

/** Like {@link entryAt} but fails the test when the entry does not exist. */
export function pteAt(k: Kernel, mm: MmStruct, addr: number, level: PtLevel = 1): EntryView {
  const e = entryAt(k, mm, addr, level);
  if (e === null) throw new Error(`no level-${level} entry for 0x${addr.toString(16)}`);
  return e;
}

/** Writes a raw entry for `addr` at `level`, allocating the tables above it. */
export function setEntry(
  k: Kernel,
  mm: MmStruct,
  addr: number,
  lo: number,
  hi: number,
  level: PtLevel = 1,
): void {
  const off = ensureEntry(k.pt, mm.pgd, Math.floor(addr / PAGE_SIZE), level);
  if (off < 0) throw new Error(`a huge entry is in the way of 0x${addr.toString(16)}`);
  k.pt.words[off] = lo;
  k.pt.words[off + 1] = hi;
}

/** One `invalidate_start` seen on the bus. */
export interface SeenInvalidation {
  mm: number;
  event: number;
  start: number;
  end: number;
  owner: unknown;
}

/** Collects every `invalidate_start` on the machine's bus until `stop()`. */
export function recordInvalidations(k: Kernel): { events: SeenInvalidation[]; stop: () => void } {
  const events: SeenInvalidation[] = [];
  const stop = k.bus.subscribe((e) => {
    if (e.type === 'invalidate_start')
      events.push({
        mm: e.range.mm.id,
        event: e.range.event,
        start: e.range.start,
        end: e.range.end,
        owner: e.range.owner,
      });
  });
  return { events, stop };
}

/** `handle_mm_fault` at `addr` of `mm` as a kernel caller does it: under the mmap read lock. */
export async function faultAt(mm: MmStruct, addr: number, write: boolean): Promise<number> {
  await mm.mmapLock.downRead();
  try {
    const vma = mm.vmaLookup(addr);
    if (vma === null) throw new Error(`no VMA at 0x${addr.toString(16)}`);
    return await handleMmFault(vma, addr, write ? FAULT_FLAG_WRITE : 0);
  } finally {
    mm.mmapLock.upRead();
  }
}

/** `n` bytes counting up from `seed` (mod 256). */
export function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed + i) & 0xff;
  return b;
}

/** The rejection of `p` (fails when it resolves). */
export async function rejectionOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

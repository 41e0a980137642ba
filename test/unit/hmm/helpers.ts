/**
 * Shared fixtures of the hmm_range_fault unit tests: a machine with one process whose whole user
 * address space is covered by one interval notifier (the callback records every invalidation and
 * calls set_seq, like a driver), a caller of `hmmRangeFault` following the documented pattern
 * (read_begin, mmap read lock, call, unlock) that also records every `handle_mm_fault` made during
 * the call, raw page-table access, and a fake device-private pagemap.
 */
import { expect } from 'vitest';
import { HMM_PFN_ORDER_SHIFT } from '../../../src/hmm/hmm-pfn.ts';
import type { HmmRange } from '../../../src/hmm/hmm-range.ts';
import { hmmRangeFault } from '../../../src/hmm/hmm-range-fault.ts';
import { Machine, type MachineOptions } from '../../../src/machine.ts';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  TASK_SIZE,
  VM_WRITE,
} from '../../../src/mm/constants.ts';
import { initAnonPage } from '../../../src/mm/fault.ts';
import type { DevPagemapHooks } from '../../../src/mm/kernel.ts';
import type { MmStruct } from '../../../src/mm/mm-struct.ts';
import { mmapReadLock, mmapReadUnlock } from '../../../src/mm/mmap-lock.ts';
import { PG_anon, PG_anon_exclusive, PG_zone_device } from '../../../src/mm/page-flags.ts';
import { ensureEntry, findEntry, type PtLevel } from '../../../src/mm/page-table.ts';
import type { Process } from '../../../src/mm/process.ts';
import {
  PTE_DEVICE_PRIVATE_WRITE,
  PTE_DIRTY,
  PTE_KIND_MASK,
  PTE_LEAF,
  PTE_PRESENT,
  PTE_WRITE,
  PTE_YOUNG,
} from '../../../src/mm/pte.ts';
import type { Vma } from '../../../src/mm/vma.ts';
import {
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalReadBegin,
  mmuIntervalSetSeq,
} from '../../../src/notifier/interval-notifier.ts';

/** 1 GiB aligned: the PMD (2 MiB) and PUD (1 GiB) boundaries of test mappings are known. */
export const BASE = 0x4000_0000;
/** One base page. */
export const P = PAGE_SIZE;
/** Pages per PMD. */
export const PMD_PAGES = 512;
/** Order bits of a PMD-sized mapping (order 9) in an hmm_pfns word. */
export const ORDER_PMD = 9n << BigInt(HMM_PFN_ORDER_SHIFT);
/** Order bits of a PUD-sized mapping (order 18). */
export const ORDER_PUD = 18n << BigInt(HMM_PFN_ORDER_SHIFT);

/** One invalidation delivered to the test's interval. */
export interface SeenInvalidation {
  event: number;
  start: number;
  end: number;
  owner: unknown;
}

/** A machine, a process and an interval notifier over its address space. */
export interface Env {
  machine: Machine;
  proc: Process;
  mm: MmStruct;
  sub: MmuIntervalNotifier;
  /** Every invalidation the callback received, in order. */
  invalidations: SeenInvalidation[];
}

/** Options of {@link setupEnv}. */
export interface EnvOptions extends MachineOptions {
  /** The notifier's interval (default: the whole user address space). */
  interval?: { start: number; length: number };
}

/** Builds a 64 MiB machine (no hugetlb pool unless asked), a process and its notifier. */
export async function setupEnv(options: EnvOptions = {}): Promise<Env> {
  const { interval, ...machineOptions } = options;
  // A step budget turns a livelock (a fault that never resolves, re-walked forever) into a failure.
  const machine = new Machine({
    memory: 64 * 1024 * 1024,
    hugetlbPages: 0,
    scheduler: { stepBudget: 1_000_000 },
    ...machineOptions,
  });
  const proc = await machine.createProcess();
  const sub = new MmuIntervalNotifier();
  const invalidations: SeenInvalidation[] = [];
  const ops = {
    invalidate(
      s: MmuIntervalNotifier,
      range: { start: number; end: number; event: number; owner: unknown },
      cur: number,
    ) {
      invalidations.push({ event: range.event, start: range.start, end: range.end, owner: range.owner });
      mmuIntervalSetSeq(s, cur);
      return true;
    },
  };
  const start = interval?.start ?? 0;
  const length = interval?.length ?? TASK_SIZE;
  expect(await mmuIntervalNotifierInsert(sub, proc.mm, start, length, ops)).toBe(0);
  return { machine, proc, mm: proc.mm, sub, invalidations };
}

/** mmap(MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | extra) at `addr`; fails the test on error. */
export async function mapAnon(
  env: Env,
  addr: number,
  length: number,
  prot = PROT_READ | PROT_WRITE,
  extraFlags = 0,
): Promise<void> {
  expect(
    await env.proc.mmap(addr, length, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | extraFlags, -1, 0),
  ).toBe(addr);
}

/** One `handle_mm_fault` seen during a call. */
export interface SeenFault {
  addr: number;
  write: boolean;
}

/** What one call of {@link callRangeFault} observed. */
export interface FaultCall {
  ret: number;
  pfns: BigUint64Array;
  /** Faults of this mm handled during the call, in order. */
  faults: SeenFault[];
  range: HmmRange;
}

/** Request of one call. */
export interface Request {
  defaultFlags?: bigint;
  pfnFlagsMask?: bigint;
  /** Input words (default all 0). */
  input?: readonly bigint[];
  devPrivateOwner?: unknown;
  /** Use this sequence number instead of a fresh `mmuIntervalReadBegin`. */
  notifierSeq?: number;
}

/** `hmm_range_fault` over `npages` pages from `start`, as a driver calls it. */
export async function callRangeFault(
  env: Env,
  start: number,
  npages: number,
  req: Request = {},
): Promise<FaultCall> {
  const pfns = new BigUint64Array(npages);
  if (req.input) pfns.set(req.input);
  const range: HmmRange = {
    notifier: env.sub,
    notifierSeq: req.notifierSeq ?? (await mmuIntervalReadBegin(env.sub)),
    start,
    end: start + npages * P,
    hmmPfns: pfns,
    defaultFlags: req.defaultFlags ?? 0n,
    pfnFlagsMask: req.pfnFlagsMask ?? 0n,
    devPrivateOwner: req.devPrivateOwner ?? null,
  };
  const faults: SeenFault[] = [];
  const k = env.machine;
  const stop = k.bus.subscribe((e) => {
    if (e.type === 'fault' && e.mm === env.mm.id) faults.push({ addr: e.addr, write: e.write });
  });
  await mmapReadLock(env.mm);
  let ret: number;
  try {
    ret = await hmmRangeFault(range);
  } finally {
    mmapReadUnlock(env.mm);
    stop();
  }
  return { ret, pfns, faults, range };
}

/** The words of a call as a plain array (readable diffs on failure). */
export function words(pfns: BigUint64Array): bigint[] {
  return [...pfns];
}

/** `n` copies of `w`. */
export function repeat(w: bigint, n: number): bigint[] {
  return new Array<bigint>(n).fill(w);
}

/** Words `pfn + i | flags` for i in [0, n). */
export function consecutive(pfn: number, flags: bigint, n: number): bigint[] {
  return Array.from({ length: n }, (_, i) => BigInt(pfn + i) | flags);
}

/** Faults at `n` consecutive pages from `addr`. */
export function faultsFrom(addr: number, n: number, write: boolean): SeenFault[] {
  return Array.from({ length: n }, (_, i) => ({ addr: addr + i * P, write }));
}

/** A decoded page-table entry. */
export interface RawEntry {
  off: number;
  lo: number;
  kind: number;
  /** Payload: pfn, swap slot or table. */
  hi: number;
}

/** The entry of `addr` at `level`, or null if a table is missing or a leaf is in the way. */
export function entryOf(env: Env, addr: number, level: PtLevel = 1): RawEntry | null {
  const k = env.machine;
  const off = findEntry(k.pt, env.mm.pgd, addr / P, level);
  if (off < 0) return null;
  const lo = k.pt.words[off]!;
  return { off, lo, kind: lo & PTE_KIND_MASK, hi: k.pt.words[off + 1]! };
}

/** Like {@link entryOf}, failing the test when there is no such entry. */
export function mustEntry(env: Env, addr: number, level: PtLevel = 1): RawEntry {
  const e = entryOf(env, addr, level);
  if (e === null) throw new Error(`no level-${level} entry for 0x${addr.toString(16)}`);
  return e;
}

/**
 * The head pfn of the huge page mapped at `addr` by a present leaf at `level` (2: PMD, 3: PUD),
 * writable or not as `writable` says; fails the test otherwise.
 */
export function hugeLeafHead(env: Env, addr: number, level: PtLevel, writable: boolean): number {
  const e = mustEntry(env, addr, level);
  expect(e.kind).toBe(PTE_PRESENT);
  expect(e.lo & (PTE_LEAF | PTE_WRITE)).toBe(PTE_LEAF | (writable ? PTE_WRITE : 0));
  return e.hi;
}

/** Writes a raw entry for `addr` at `level`, allocating the tables above it. */
export function setEntry(env: Env, addr: number, lo: number, hi: number, level: PtLevel = 1): void {
  const k = env.machine;
  const off = ensureEntry(k.pt, env.mm.pgd, addr / P, level);
  if (off < 0) throw new Error(`a huge entry is in the way of 0x${addr.toString(16)}`);
  k.pt.words[off] = lo;
  k.pt.words[off + 1] = hi;
}

/** Writes one byte at each page of `[addr, addr + n pages)` (the CPU faults them in writable). */
export async function touch(env: Env, addr: number, n: number, value = 0x5a): Promise<void> {
  for (let i = 0; i < n; i++) await env.proc.write(addr + i * P, new Uint8Array([value]));
}

/** Reads one byte at each page (anonymous pages map the zero page). */
export async function readPages(env: Env, addr: number, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await env.proc.read(addr + i * P, 1);
}

/** One `migrate_to_ram` call a fake pagemap received. */
export interface MigrateCall {
  address: number;
  page: number;
  write: boolean;
}

/** A fake MEMORY_DEVICE_PRIVATE pagemap registered on the machine. */
export interface FakePgmap {
  hooks: DevPagemapHooks;
  /** First device pfn (2 MiB aligned). */
  first: number;
  calls: MigrateCall[];
  /** RAM pfns the fake migrated to, by call. */
  migratedTo: number[];
}

/**
 * Registers `nrPages` device-private frames owned by `owner`. Each device page holds one
 * reference (the mapping's). `migrateToRam` copies nothing but replaces the faulting entry by a
 * new anonymous page (a whole new THP for a device-private PMD entry), writable when the device
 * entry was, without notifying anyone — the simplest driver that brings a page back.
 */
export function addFakeDevicePrivate(env: Env, owner: unknown, nrPages = 1024): FakePgmap {
  const k = env.machine;
  const first = k.pm.addFrames(nrPages);
  for (let p = first; p < first + nrPages; p++) {
    k.pm.flags[p]! |= PG_zone_device;
    k.pm.refcount[p] = 1;
  }
  const fake: FakePgmap = {
    hooks: undefined as unknown as DevPagemapHooks,
    first,
    calls: [],
    migratedTo: [],
  };
  fake.hooks = {
    pfnFirst: first,
    nrPages,
    isPrivate: true,
    owner,
    pageFree(): void {},
    async migrateToRam(vmf: { vma: Vma; address: number; page: number; write: boolean }): Promise<number> {
      fake.calls.push({ address: vmf.address, page: vmf.page, write: vmf.write });
      const mm = vmf.vma.mm;
      const pteOff = findEntry(k.pt, mm.pgd, vmf.address / P, 1);
      if (pteOff >= 0) {
        const writable = (k.pt.words[pteOff]! & PTE_KIND_MASK) === PTE_DEVICE_PRIVATE_WRITE;
        const pfn = k.pm.allocPages(0);
        initAnonPage(vmf.vma, vmf.address, pfn);
        k.pt.words[pteOff] = PTE_PRESENT | PTE_YOUNG | (writable ? PTE_WRITE | PTE_DIRTY : 0);
        k.pt.words[pteOff + 1] = pfn;
        mm.rss[1]!++;
        fake.migratedTo.push(pfn);
        return 0;
      }
      const pmdOff = findEntry(k.pt, mm.pgd, vmf.address / P, 2);
      const writable = (k.pt.words[pmdOff]! & PTE_KIND_MASK) === PTE_DEVICE_PRIVATE_WRITE;
      const head = k.pm.allocPages(9);
      for (let i = 0; i < PMD_PAGES; i++) k.pm.flags[head + i]! |= PG_anon | PG_anon_exclusive;
      k.pm.entireMapcount[head] = 1;
      k.pt.words[pmdOff] =
        PTE_PRESENT |
        PTE_LEAF |
        PTE_YOUNG |
        (writable && (vmf.vma.flags & VM_WRITE) !== 0 ? PTE_WRITE | PTE_DIRTY : 0);
      k.pt.words[pmdOff + 1] = head;
      mm.rss[1]! += PMD_PAGES;
      fake.migratedTo.push(head);
      return 0;
    },
  };
  k.devPagemaps.push(fake.hooks);
  return fake;
}

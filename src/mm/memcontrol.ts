/**
 * Memory cgroups (mm/memcontrol.c, cgroup v2), as much as Documentation/mm/hmm.rst's section on
 * them needs: a process's address space belongs to a group with a limit (`memory.max`); each new
 * folio a fault, a copy-on-write, a swap-in, the page cache or a migration into a hole brings in
 * is charged to the group of the mm it is for (`mem_cgroup_charge`), and uncharged when it is
 * freed; a migration moves the charge from the old folio to the new one without checking the
 * limit (`mem_cgroup_migrate`), so device-private pages are charged as the system pages they
 * replace and migrating back can never fail on the limit.
 *
 * The charge owner of each folio lives in two typed arrays indexed by pfn, created with the first
 * group; with no group the charge sites cost one branch.
 * @module
 */
import { ENOMEM } from '../sim/errno.ts';
import { UsageError } from '../sim/errors.ts';
import { PAGE_SIZE } from './constants.ts';
import type { Kernel } from './kernel.ts';
import type { MmStruct } from './mm-struct.ts';

/** What a charged folio is counted as in `memory.stat`. */
export const MEMCG_ANON = 1;
/** @see MEMCG_ANON — page cache of a regular file. */
export const MEMCG_FILE = 2;
/** @see MEMCG_ANON — shmem (tmpfs, shared anonymous memory); counted in `file` too. */
export const MEMCG_SHMEM = 3;

/** `memory.events` counters of a group. */
export interface MemCgroupEvents {
  /** Charges that hit `memory.max`. */
  max: number;
  /** Times the group's OOM path was entered (a charge that may OOM failed). */
  oom: number;
  /** Processes the group's OOM killer killed (the faulting process, in hmmsim). */
  oomKill: number;
}

/** `memory.stat` of a group, in bytes. */
export interface MemCgroupStat {
  /** Anonymous memory, device-private pages included. */
  anon: number;
  /** Page cache, shmem included. */
  file: number;
  /** shmem. */
  shmem: number;
}

/** Options of `Machine.createMemCgroup`. */
export interface MemCgroupOptions {
  /** `memory.max` in bytes (rounded down to pages); default no limit. */
  max?: number;
}

/** A memory cgroup (cgroup v2 `memory` controller). */
export class MemCgroup {
  /** Pages charged (`memory.current` / PAGE_SIZE). */
  usagePages = 0;
  /** Limit in pages (`memory.max` / PAGE_SIZE); Infinity for "max". */
  maxPages: number;
  /** `memory.events`. */
  readonly events: MemCgroupEvents = { max: 0, oom: 0, oomKill: 0 };
  /** Pages charged per kind, indexed by MEMCG_ANON / MEMCG_FILE / MEMCG_SHMEM. */
  readonly statPages = [0, 0, 0, 0];

  /** Index in the machine's group table (1-based). */
  readonly id: number;
  /** The group's name (its directory). */
  readonly name: string;

  /**
   * @param id index in the machine's group table (1-based)
   * @param name the group's name (its directory)
   * @param maxPages limit in pages
   */
  constructor(id: number, name: string, maxPages: number) {
    this.id = id;
    this.name = name;
    this.maxPages = maxPages;
  }

  /** `memory.current`: bytes charged. */
  get current(): number {
    return this.usagePages * PAGE_SIZE;
  }

  /** `memory.max` in bytes (Infinity for "max"). */
  get max(): number {
    return this.maxPages * PAGE_SIZE;
  }

  /** Sets `memory.max` (bytes). Usage above it stays (hmmsim reclaims nothing); new charges fail. */
  set max(bytes: number) {
    this.maxPages = checkMax(bytes);
  }

  /** `memory.stat`: anon, file and shmem in bytes. */
  get stat(): MemCgroupStat {
    const s = this.statPages;
    return {
      anon: s[MEMCG_ANON]! * PAGE_SIZE,
      file: (s[MEMCG_FILE]! + s[MEMCG_SHMEM]!) * PAGE_SIZE,
      shmem: s[MEMCG_SHMEM]! * PAGE_SIZE,
    };
  }
}

/** The machine's memory cgroups and each folio's charge owner. */
export class MemcgState {
  /** Groups by id (index 0 unused: "not charged"). */
  readonly groups: (MemCgroup | undefined)[] = [undefined];
  /** Group id charged for the folio headed by each pfn (0 = none). */
  owner: Uint16Array;
  /** MEMCG_* kind of the charge, per pfn. */
  kind: Uint8Array;

  /** @param nrFrames frames to cover (more are added as device memory appears) */
  constructor(nrFrames: number) {
    this.owner = new Uint16Array(nrFrames);
    this.kind = new Uint8Array(nrFrames);
  }

  /** Makes the arrays cover `nrFrames` frames. */
  cover(nrFrames: number): void {
    if (this.owner.length >= nrFrames) return;
    const o = new Uint16Array(nrFrames);
    o.set(this.owner);
    const k = new Uint8Array(nrFrames);
    k.set(this.kind);
    this.owner = o;
    this.kind = k;
  }
}

function checkMax(bytes: number): number {
  if (bytes === Infinity) return Infinity;
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0)
    throw new UsageError(
      'memory.max',
      `must be a non-negative number of bytes or Infinity, got ${String(bytes)}`,
    );
  return Math.floor(bytes / PAGE_SIZE);
}

/** Creates a memory cgroup on the machine (mkdir in the cgroup tree). */
export function createMemCgroup(k: Kernel, name: string, options: MemCgroupOptions = {}): MemCgroup {
  if (typeof name !== 'string' || name.length === 0)
    throw new UsageError('createMemCgroup(name)', 'must be a non-empty string');
  let state = k.memcg;
  if (state === null) {
    state = new MemcgState(k.pm.nrFrames);
    k.memcg = state;
  }
  if (state.groups.some((g) => g?.name === name))
    throw new UsageError('createMemCgroup(name)', `a group named ${name} exists already`);
  if (state.groups.length > 0xffff) throw new UsageError('createMemCgroup', 'too many groups');
  const g = new MemCgroup(state.groups.length, name, checkMax(options.max ?? Infinity));
  state.groups.push(g);
  return g;
}

/**
 * `mem_cgroup_charge(folio, mm)`: charges the folio headed by `head` (just allocated, not yet
 * visible) to `mm`'s group as `kind`. 0, or -ENOMEM when the group is at its limit (reclaim would
 * run here in the kernel; hmmsim has nothing it would reclaim, see docs/semantics.md). `mayOom`:
 * an order-0 charge of a fault, which enters the group's OOM path (`memory.events` oom, oom_kill:
 * the faulting process is the victim) before failing.
 */
export function memCgroupCharge(
  k: Kernel,
  mm: MmStruct | null,
  head: number,
  kind: number,
  mayOom: boolean,
): number {
  const g = mm?.memcg ?? null;
  if (g === null) return 0;
  const state = k.memcg!;
  const nr = k.pm.folioNrPages(head);
  if (g.usagePages + nr > g.maxPages) {
    g.events.max++;
    // mem_cgroup_oom declines costly orders (THP): the charge just fails and the caller falls back.
    if (mayOom && nr === 1) {
      g.events.oom++;
      g.events.oomKill++;
    }
    return -ENOMEM;
  }
  state.cover(k.pm.nrFrames);
  g.usagePages += nr;
  g.statPages[kind]! += nr;
  state.owner[head] = g.id;
  state.kind[head] = kind;
  if (k.bus.on) traceMemcg(k, g);
  return 0;
}

/** `mem_cgroup_uncharge`: the folio headed by `head` is being freed. */
export function memCgroupUncharge(k: Kernel, head: number): void {
  const state = k.memcg;
  if (state === null || head >= state.owner.length) return;
  const id = state.owner[head]!;
  if (id === 0) return;
  const g = state.groups[id]!;
  const nr = k.pm.folioNrPages(head);
  g.usagePages -= nr;
  g.statPages[state.kind[head]!]! -= nr;
  state.owner[head] = 0;
  state.kind[head] = 0;
  if (k.bus.on) traceMemcg(k, g);
}

/**
 * `mem_cgroup_migrate(old, new)` (since 6.8 a transfer, not a second charge): the new folio takes
 * the old one's charge; the limit is not checked. Either may be a device-private page.
 */
export function memCgroupMigrate(k: Kernel, oldHead: number, newHead: number): void {
  const state = k.memcg;
  if (state === null || oldHead >= state.owner.length) return;
  const id = state.owner[oldHead]!;
  if (id === 0) return;
  state.cover(k.pm.nrFrames);
  state.owner[newHead] = id;
  state.kind[newHead] = state.kind[oldHead]!;
  state.owner[oldHead] = 0;
  state.kind[oldHead] = 0;
}

/** `split_page_memcg`: the pages of a split folio each carry its charge. */
export function memCgroupSplit(k: Kernel, head: number, nr: number): void {
  const state = k.memcg;
  if (state === null || head >= state.owner.length) return;
  const id = state.owner[head]!;
  if (id === 0) return;
  state.owner.fill(id, head, head + nr);
  state.kind.fill(state.kind[head]!, head, head + nr);
}

function traceMemcg(k: Kernel, g: MemCgroup): void {
  k.bus.emit({ type: 'counter', time: k.sched.clock.now, name: `memcg ${g.name} current`, value: g.current });
}

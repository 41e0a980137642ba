/**
 * The simulated machine's memory-management state (what the kernel keeps globally): the
 * scheduler, physical memory, page-table pool, swap, hugetlb pool, THP setting, the registry of
 * reverse-map owners (anon_vma families and files), and the hooks that ZONE_DEVICE memory
 * installs. `Machine` (src/machine.ts) builds on it.
 * @module
 */

import { kernelBug, UsageError } from '../sim/errors.ts';
import { EventBus } from '../sim/event-bus.ts';
import type { Mutex } from '../sim/mutex.ts';
import { Prng } from '../sim/prng.ts';
import { Scheduler, type SchedulerOptions } from '../sim/scheduler.ts';
import { suggest } from '../sim/suggest.ts';
import { WaitQueue } from '../sim/wait-queue.ts';
import { AnonVma } from './anon-vma.ts';
import type { BufferPool } from './buffer-pool.ts';
import {
  HPAGE_PMD_ORDER,
  HPAGE_PUD_ORDER,
  MM_ANONPAGES,
  MM_FILEPAGES,
  MM_SHMEMPAGES,
  PAGE_SIZE,
} from './constants.ts';
import {
  checkKernelCosts,
  DEFAULT_KERNEL_COSTS,
  type KernelCostHooks,
  type KernelWorkCounts,
  newKernelWork,
} from './costs.ts';
import type { DeviceMirror } from './device-mirror.ts';
import type { MmEvent } from './events.ts';
import { SimFile } from './file.ts';
import { HugetlbPool, hstateOrder } from './hugetlb.ts';
import {
  createMemCgroup,
  type MemCgroup,
  type MemCgroupOptions,
  type MemcgState,
  memCgroupUncharge,
} from './memcontrol.ts';
import { MmStruct } from './mm-struct.ts';
import { ThpSizeSettings } from './mthp.ts';
import { isMutantId, MUTANT_IDS, type MutantId } from './mutant.ts';
import type { MmObserver } from './observer.ts';
import {
  PG_anon,
  PG_hugetlb,
  PG_partially_mapped,
  PG_reserved,
  PG_swapbacked,
  PG_zone_device,
} from './page-flags.ts';
import { PageTablePool } from './page-table.ts';
import { MAX_MEMORY, maxHugetlbPages, PhysMem } from './physmem.ts';
import type { Process } from './process.ts';
import { type KernelQuirks, kernelQuirks } from './quirks.ts';
import type { RmapHint } from './rmap.ts';
import { type KernelStats, newKernelStats } from './stats.ts';
import { SwapDevice } from './swap.ts';

/** THP policy (/sys/kernel/mm/transparent_hugepage/enabled). */
export type ThpMode = 'always' | 'madvise' | 'never';

/**
 * Which kernel's behaviour the machine follows where it changed since 6.12 (each difference is
 * listed with its upstream commit in docs/semantics.md): `'mainline'` (the default) or `'6.12'`.
 */
export type KernelVersion = 'mainline' | '6.12';

/** The kernel versions {@link KernelOptions.kernelVersion} accepts. */
export const KERNEL_VERSIONS: readonly KernelVersion[] = ['mainline', '6.12'];

/** Options of a simulated machine. */
export interface KernelOptions {
  /** Bytes of RAM (default 256 MiB). */
  memory?: number;
  /** Bytes of swap (default 0: none). */
  swap?: number;
  /** 2 MiB huge pages reserved for MAP_HUGETLB (default 2). */
  hugetlbPages?: number;
  /**
   * 1 GiB (gigantic) huge pages reserved at boot, as `hugepagesz=1G hugepages=N` on the kernel
   * command line (default 0). Each takes a 1 GiB-aligned gigantic run of free memory; the first
   * GiB never qualifies (it holds the zero pages), so N pages need at least N + 1 GiB of memory.
   */
  giganticPages?: number;
  /** THP policy (default 'madvise'). */
  thp?: ThpMode;
  /** Seed of everything random in the run (default 1). */
  seed?: number;
  /** Scheduler options (policy, step budget, host hooks). */
  scheduler?: SchedulerOptions;
  /** A deliberate mistake to switch on (race-explorer mutants; see `MUTANT_IDS`). Default none. */
  mutant?: MutantId | null;
  /**
   * CPU-side costs of the kernel's work in virtual ns (see {@link KernelCostHooks}); the fields not
   * given keep their defaults ({@link DEFAULT_KERNEL_COSTS}: zero but the hmm_range_fault walk).
   */
  costs?: Partial<KernelCostHooks>;
  /** The kernel whose behaviour differences to follow (default `'mainline'`). */
  kernelVersion?: KernelVersion;
  /**
   * Where the machine takes its typed arrays from and gives them back on `dispose()` (machines
   * built one after another, like the explorer's, share one). Default none: arrays are
   * allocated afresh. Has no effect on behaviour.
   */
  bufferPool?: BufferPool | null;
  /**
   * Bytes of device memory (ZONE_DEVICE chunks, e.g. one dmirror device's 256 MiB) the machine
   * is expected to add: the frame metadata arrays are laid out for RAM plus this much from boot,
   * so that adding the chunks makes longer views of them instead of new arrays and a copy of
   * every frame's metadata. Default 0. A sizing hint only: it has no effect on behaviour (pfns
   * and everything else are the same with or without it, and more device memory than this can
   * still be added).
   */
  deviceMemory?: number;
}

/**
 * What ZONE_DEVICE memory registers for its pfns (`struct dev_pagemap` as the core mm sees it).
 * `src/devmem` implements it; the fault handler and the page freeing path call it.
 */
export interface DevPagemapHooks {
  /** First device pfn and number of pages. */
  readonly pfnFirst: number;
  /** @see pfnFirst */
  readonly nrPages: number;
  /** True for MEMORY_DEVICE_PRIVATE (not CPU addressable). */
  readonly isPrivate: boolean;
  /** The owner cookie. */
  readonly owner: unknown;
  /** `page_free`: the last reference to a device page went away. */
  pageFree(pfn: number): void;
  /**
   * `migrate_to_ram`: a CPU fault hit a device-private entry. Called with the page locked and
   * referenced; returns 0 or VM_FAULT_* bits.
   */
  migrateToRam(vmf: {
    vma: import('./vma.ts').Vma;
    address: number;
    page: number;
    write: boolean;
  }): Promise<number>;
  /** The core split a large device folio headed by `head` into small pages (the driver follows). */
  folioSplit?(head: number): void;
}

/**
 * Moves the device-coherent page `pfn`, mapped at `addr` in `mm`, to system memory
 * (`migrate_device_coherent_folio`) for a long-term pin; 0 or -EBUSY. Installed by `src/devmem`.
 */
export type CoherentMigrator = (mm: MmStruct, addr: number, pfn: number) => Promise<number>;

/** Default RAM size when none is given. */
export const DEFAULT_MEMORY = 256 * 1024 * 1024;

/**
 * The largest swap device: 64 GiB. A simulation limit: the swap map is allocated up front, one
 * slot per page.
 */
export const MAX_SWAP = 64 * 1024 ** 3;

/** The names of {@link KernelOptions}, to reject a mistyped one (`memroy`) instead of ignoring it. */
const KERNEL_OPTION_NAMES: readonly string[] = Object.keys({
  memory: true,
  swap: true,
  hugetlbPages: true,
  giganticPages: true,
  thp: true,
  seed: true,
  scheduler: true,
  mutant: true,
  costs: true,
  kernelVersion: true,
  bufferPool: true,
  deviceMemory: true,
} satisfies Record<keyof KernelOptions, true>);

/** Global memory-management state of one simulated machine. */
export class Kernel {
  /** Runs the simulated threads; owns virtual time. */
  readonly sched: Scheduler;
  /** Physical frames and their metadata. */
  readonly pm: PhysMem;
  /** Page-table pages. */
  readonly pt: PageTablePool;
  /** Swap space. */
  readonly swap: SwapDevice;
  /** hugetlb pool of the default size, 2 MiB. */
  readonly hugetlb: HugetlbPool;
  /** hugetlb pool of 1 GiB (gigantic) pages, mapped by PUD leaves. */
  readonly hugetlbGigantic: HugetlbPool;
  /** THP policy. */
  thp: ThpMode;
  /** Per-size THP policy (`hugepages-<size>kB/enabled`; multi-size THP, src/mm/mthp.ts). */
  readonly thpSizes = new ThpSizeSettings();
  /** The kernel followed where behaviour changed since 6.12 (see {@link KernelVersion}). */
  readonly kernelVersion: KernelVersion;
  /** The run's seeded random source. */
  readonly prng: Prng;
  /** Trace events (free when nobody listens). */
  readonly bus = new EventBus<MmEvent>();
  /** Reverse-map owners by mapping id (index 0 unused). */
  readonly mappings: (AnonVma | SimFile | undefined)[] = [undefined];
  /** ZONE_DEVICE ranges. */
  readonly devPagemaps: DevPagemapHooks[] = [];
  /** Wait queue of page locks (folio_wait_bit). */
  readonly pageWait: WaitQueue;
  /** FOLL_LONGTERM's way to move device-coherent pages out (set when coherent memory exists). */
  coherentMigrator: CoherentMigrator | null = null;
  /** Live address spaces. */
  readonly mms = new Set<MmStruct>();
  /**
   * The deferred-split queue (`ds_queue->split_queue`, one per node and memory cgroup in Linux):
   * heads of partly unmapped large anonymous folios, oldest first, waiting for the shrinker
   * (src/mm/deferred-split.ts).
   */
  readonly deferredSplitQueue = new Set<number>();

  /**
   * `copy_process` putting the new task on the task list: `fork` calls it with the child once
   * the child's address space is built. The {@link Machine} keeps its process list with it.
   */
  taskForked(_child: Process): void {}
  /** Memory cgroups and folio charges; null until the first group is created. */
  memcg: MemcgState | null = null;
  /**
   * The deliberate mistake active on this machine (a race-explorer mutant), or null for the
   * kernel's behaviour. Chosen when the machine is built; the code reads {@link quirks} (and
   * dmirror its device's), never the id.
   */
  readonly mutant: MutantId | null;
  /** The kernel-side failpoints {@link mutant} turns on (`./quirks.ts`); all false without one. */
  readonly quirks: KernelQuirks;
  /**
   * Hooks of the race explorer's oracles (null when nobody checks). Producers test it first, so
   * an unobserved machine pays one branch per hook site.
   */
  observer: MmObserver | null = null;
  /**
   * The device mirrors registered by drivers (`deviceMirrorRegister`), in registration order:
   * what every device can reach, for the oracles.
   */
  readonly deviceMirrors: DeviceMirror[] = [];
  /**
   * What the kernel's CPU-side work costs on this machine's clock (read at each charging site;
   * change it with {@link setCosts}).
   */
  readonly costs: KernelCostHooks = { ...DEFAULT_KERNEL_COSTS };
  /** How often each cost was incurred since boot (counted even when the cost is zero). */
  readonly work: KernelWorkCounts = newKernelWork();
  /** What this kernel counted since boot: faults by outcome, hmm_range_fault walks. */
  readonly stats: KernelStats = newKernelStats();
  /**
   * Locks that exist only in mutated drivers (race-explorer mutants; e.g. M9's driver-wide lock
   * in dmirror), by name, made on first use. Empty on a machine without such a mutant.
   */
  readonly mutantLocks = new Map<string, Mutex>();
  /**
   * The rmap hint (`RmapHint` of rmap.ts) `migrate_vma_finalize` reuses from one call to the
   * next (null while a call holds it). One object for the machine's life instead of one per call: when every
   * instance of a class has died, a full collection frees its hidden class too and the optimized
   * code of the loops that used it is thrown away, to be recompiled on the next migration.
   */
  rmapHint: RmapHint | null = null;
  private nextMmId = 1;
  private isDisposed = false;

  /** Builds the machine. Invalid options throw a {@link UsageError} naming the option. */
  constructor(options: KernelOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new UsageError('options', 'must be an object');
    for (const key of Object.keys(options)) {
      if (!KERNEL_OPTION_NAMES.includes(key)) {
        const s = suggest(key, KERNEL_OPTION_NAMES);
        throw new UsageError(
          key,
          `unknown Machine option${s ? ` (did you mean ${s}?)` : ''}; known: ${KERNEL_OPTION_NAMES.join(', ')}`,
        );
      }
    }
    const memory = options.memory ?? DEFAULT_MEMORY;
    checkNonNegativeInteger('memory', memory);
    const swap = options.swap ?? 0;
    checkNonNegativeInteger('swap', swap);
    if (swap > MAX_SWAP)
      throw new UsageError('swap', `must be at most ${MAX_SWAP} bytes (64 GiB), got ${swap}`);
    const hugetlbPages = options.hugetlbPages ?? 2;
    checkNonNegativeInteger('hugetlbPages', hugetlbPages);
    const giganticPages = options.giganticPages ?? 0;
    checkNonNegativeInteger('giganticPages', giganticPages);
    const thp = options.thp ?? 'madvise';
    if (thp !== 'always' && thp !== 'madvise' && thp !== 'never') {
      throw new UsageError('thp', `must be 'always', 'madvise' or 'never', got ${String(thp)}`);
    }
    const seed = options.seed ?? 1;
    checkNonNegativeInteger('seed', seed);
    const deviceMemory = options.deviceMemory ?? 0;
    checkNonNegativeInteger('deviceMemory', deviceMemory);
    if (deviceMemory > MAX_MEMORY)
      throw new UsageError(
        'deviceMemory',
        `must be at most ${MAX_MEMORY} bytes (256 GiB), got ${deviceMemory}`,
      );
    this.sched = new Scheduler(options.scheduler);
    this.pageWait = new WaitQueue(this.sched, 'page lock');
    const pool = options.bufferPool ?? null;
    this.pm = new PhysMem(memory, pool, Math.ceil(deviceMemory / PAGE_SIZE));
    this.pt = new PageTablePool(undefined, pool);
    this.swap = new SwapDevice(swap);
    // Gigantic pages first: boot reserves them from memblock before anything else is allocated.
    this.hugetlbGigantic = new HugetlbPool(this.pm, giganticPages, HPAGE_PUD_ORDER);
    if (this.hugetlbGigantic.nrHugePages < giganticPages)
      throw new UsageError(
        'giganticPages',
        `${giganticPages} 1 GiB pages do not fit in ${memory} bytes of memory (each needs a free 1 GiB-aligned GiB; the first holds the zero pages)`,
      );
    this.hugetlb = new HugetlbPool(this.pm, hugetlbPages);
    if (this.hugetlb.nrHugePages < hugetlbPages) {
      throw new UsageError(
        'hugetlbPages',
        `${hugetlbPages} huge pages do not fit in ${memory} bytes of memory (at most ${maxHugetlbPages(memory)}: two 2 MiB blocks hold the zero pages)`,
      );
    }
    this.thp = thp;
    this.prng = new Prng(seed);
    const mutant = options.mutant ?? null;
    if (mutant !== null && !isMutantId(mutant))
      throw new UsageError('mutant', `unknown mutant ${String(mutant)}; known: ${MUTANT_IDS.join(', ')}`);
    this.mutant = mutant;
    this.quirks = kernelQuirks(mutant);
    const kernelVersion = options.kernelVersion ?? 'mainline';
    if (!KERNEL_VERSIONS.includes(kernelVersion))
      throw new UsageError(
        'kernelVersion',
        `must be ${KERNEL_VERSIONS.map((v) => `'${v}'`).join(' or ')}, got ${String(kernelVersion)}`,
      );
    this.kernelVersion = kernelVersion;
    if (options.costs !== undefined) this.setCosts(options.costs);
  }

  /**
   * Sets some CPU-side costs (the others keep their values). A key that is not a cost, or a
   * value that is not a finite non-negative number, is a {@link UsageError} and changes nothing.
   */
  setCosts(costs: Partial<KernelCostHooks>): void {
    checkKernelCosts('costs', costs);
    Object.assign(this.costs, costs);
  }

  /** One TLB flush (of a range or of the address space): counted and charged. */
  chargeTlbShootdown(): void {
    this.work.tlbShootdowns++;
    this.sched.clock.advance(this.costs.tlbShootdownNs);
  }

  /** True once {@link dispose} gave the machine's memory arrays back. */
  get disposed(): boolean {
    return this.isDisposed;
  }

  /**
   * Ends the machine's life: its typed arrays (frame metadata, allocator, page tables, page
   * contents) go back to a pool that later machines take from (the race explorer builds one per
   * schedule), and the machine is left with empty arrays — it must not be used any more. Done
   * only when no simulated thread but main is unfinished (a parked thread could still touch the
   * arrays): otherwise nothing is given back and the result is false.
   */
  dispose(): boolean {
    if (this.isDisposed) return true;
    const sched = this.sched;
    const threads = sched.threads;
    if (sched.current !== sched.main) return false;
    for (let i = 0; i < threads.length; i++) {
      const t = threads[i]!;
      if (t !== sched.main && t.state !== 'done') return false;
    }
    this.isDisposed = true;
    this.pm.dispose();
    this.pt.dispose();
    return true;
  }

  /** Creates an empty address space with one user and one structure reference. */
  newMm(): MmStruct {
    const mm = new MmStruct(this, this.nextMmId++, this.pt.alloc());
    this.mms.add(mm);
    return mm;
  }

  /** A new anonymous reverse-map family. */
  newAnonVma(): AnonVma {
    const a = new AnonVma(this.mappings.length);
    this.mappings.push(a);
    return a;
  }

  /** A new file (`shmem` for tmpfs / shared anonymous memory, `hugetlb` for hugetlbfs). */
  newFile(size: number, shmem: boolean, hugetlb = false, hugetlbOrder = HPAGE_PMD_ORDER): SimFile {
    const f = new SimFile(this.mappings.length, size, shmem, hugetlb, hugetlbOrder);
    this.mappings.push(f);
    return f;
  }

  /** The ZONE_DEVICE range containing `pfn`, or null for RAM. */
  pgmapOf(pfn: number): DevPagemapHooks | null {
    if (pfn < this.pm.ramFrames) return null;
    for (const p of this.devPagemaps) if (pfn >= p.pfnFirst && pfn < p.pfnFirst + p.nrPages) return p;
    return null;
  }

  /** `folio_get`: one more reference to the folio of `pfn`. */
  getPage(pfn: number): void {
    this.pm.refcount[this.pm.folioHead(pfn)]!++;
  }

  /** `folio_put`: drops a reference; the folio is freed with its last one. */
  putPage(pfn: number): void {
    const pm = this.pm;
    const head = pm.folioHead(pfn);
    const f = pm.flags[head]!;
    if ((f & PG_reserved) !== 0) return;
    const r = --pm.refcount[head]!;
    if (r > 0) return;
    if (r < 0) kernelBug(`refcount underflow on pfn ${head}`);
    this.freeFolio(head);
  }

  /** Frees a folio whose refcount reached zero, to its allocator. */
  freeFolio(head: number): void {
    if (this.memcg !== null) memCgroupUncharge(this, head);
    const f = this.pm.flags[head]!;
    // folio_unqueue_deferred_split, as the last reference goes.
    if ((f & PG_partially_mapped) !== 0) this.deferredSplitQueue.delete(head);
    if ((f & PG_zone_device) !== 0) {
      const pgmap = this.pgmapOf(head);
      if (pgmap === null) kernelBug(`device pfn ${head} has no pagemap`);
      pgmap.pageFree(head);
    } else if ((f & PG_hugetlb) !== 0) hstateOrder(this, this.pm.order[head]!).release(head);
    else this.pm.freePages(head);
    const o = this.observer;
    if (o?.pageFreed) o.pageFreed(head);
  }

  /** The rss counter a page is accounted in (`mm_counter`). */
  mmCounterOf(pfn: number): number {
    const f = this.pm.flags[pfn]!;
    if ((f & (PG_anon | PG_zone_device)) !== 0) return MM_ANONPAGES;
    if ((f & PG_swapbacked) !== 0) return MM_SHMEMPAGES;
    return MM_FILEPAGES;
  }

  /**
   * Creates a memory cgroup (`mkdir /sys/fs/cgroup/<name>`, then `memory.max`); processes join it
   * with `Process.joinMemCgroup`.
   */
  createMemCgroup(name: string, options: MemCgroupOptions = {}): MemCgroup {
    return createMemCgroup(this, name, options);
  }

  /** Bytes of RAM. */
  get memoryBytes(): number {
    return this.pm.ramFrames * PAGE_SIZE;
  }
}

function checkNonNegativeInteger(name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new UsageError(name, `must be a non-negative integer, got ${String(v)}`);
  }
}

/**
 * A reference SVM driver in the style of `drm_gpusvm` (drivers/gpu/drm/drm_gpusvm.c, the layer
 * new SVM drivers build on, and Documentation/gpu/rfc/gpusvm.rst): the GPU's address space is
 * the process's, mirrored through
 *
 * - **notifiers sized by a parameter**: one `mmu_interval_notifier` per aligned
 *   `notifierSize` block that holds a range, made on the first fault in the block and removed
 *   when its last range goes;
 * - **ranges of the largest chunk that fits**: a fault makes a range of the largest of
 *   `chunkSizes` (2 MiB, 64 KiB, 4 KiB) whose aligned span around the fault lies within the VMA,
 *   the notifier and the GPU VA window and overlaps no other range;
 * - **one notifier lock** (a rw-semaphore: read on the fault side, write in the invalidate
 *   callback) that protects only the range tree, each range's "pages valid" state and sequence
 *   number, and the GPU page-table entries — every other race is handled by a big retry loop;
 * - **garbage collection**: an UNMAP invalidation marks the ranges it touches unmapped and
 *   queues them; the collector (run by the fault handler before it faults, as xe does) removes
 *   them — and their notifier when it is left empty — outside the callback;
 * - **no physical-to-virtual back-pointers**: a range knows its pages, a page never knows the
 *   range or address that maps it; the invalidation carries the virtual addresses.
 *
 * - **device memory** (with `vramPages`): a GPU fault first migrates the range to VRAM
 *   (migrate.ts; at most {@link GPUSVM_MIGRATE_TRIES} attempts per fault, falling back to system
 *   memory when VRAM cannot be had or not every page could be collected), then learns the range's
 *   pages — VRAM or system, whatever the core says now — from `hmm_range_fault`; the garbage
 *   collector moves a partially unmapped range's VRAM pages back before it removes the range;
 *   a CPU touch of a VRAM page runs `migrate_to_ram`; {@link GpuSvm.evict} gives VRAM back.
 *
 * The GPU page table implements the device-mirror contract, so the race explorer's oracles
 * check it; every GPU page-table write and GPU access passes a preemption point.
 * @module
 */
import {
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmmPfnToPfn,
} from '../../hmm/hmm-pfn.ts';
import type { HmmRange } from '../../hmm/hmm-range.ts';
import { hmmRangeFault } from '../../hmm/hmm-range-fault.ts';
import { RetryDeadline } from '../../hmm/retry-deadline.ts';
import { PAGE_SIZE, PMD_SIZE } from '../../mm/constants.ts';
import {
  DEVICE_ACCESS_WRITE,
  type DeviceMirror,
  deviceMirrorRegister,
  deviceMirrorUnregister,
  deviceMirrorUpdated,
  deviceRead,
  deviceWrite,
} from '../../mm/device-mirror.ts';
import { mmgetNotZero, mmput } from '../../mm/exit.ts';
import type { Kernel } from '../../mm/kernel.ts';
import type { MmStruct } from '../../mm/mm-struct.ts';
import { mmapReadLock, mmapReadUnlock } from '../../mm/mmap-lock.ts';
import { MMU_NOTIFY_UNMAP, type MmuNotifierRange } from '../../mm/mmu-notifier.ts';
import { condResched } from '../../mm/resched.ts';
import {
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
} from '../../notifier/interval-notifier.ts';
import { mmuNotifierRangeBlockable } from '../../notifier/subscriptions.ts';
import { EAGAIN, EBUSY, EFAULT, ENOENT, EOPNOTSUPP, EPERM } from '../../sim/errno.ts';
import { UsageError } from '../../sim/errors.ts';
import { RwSemaphore } from '../../sim/rw-semaphore.ts';
import { gpusvmEvict, gpusvmMigrateToRam, gpusvmMigrateToVram } from './migrate.ts';
import { type GpuSvmAllocation, GpuSvmVram } from './vram.ts';

/** The chunk sizes of xe: 2 MiB, 64 KiB, 4 KiB (largest first). */
export const GPUSVM_CHUNK_SIZES: readonly number[] = [PMD_SIZE, 64 * 1024, PAGE_SIZE];
/** xe's notifier size: 512 MiB. */
export const GPUSVM_NOTIFIER_SIZE = 512 * 1024 * 1024;
/** Virtual ns of one GPU page-table write. */
export const GPUSVM_PTE_WRITE_NS = 100;
/** Attempts to migrate a range to VRAM in one GPU fault before it goes on in system memory (xe: 3). */
export const GPUSVM_MIGRATE_TRIES = 3;

/** A deliberate mistake of the fault side (tests of the design principles), or null. */
export type GpuSvmMistake =
  /** The GPU PTEs committed without checking, under the notifier lock, that the pages are still valid. */
  | 'bind without pages valid'
  /** `get_pages` stores the pages without `mmu_interval_read_retry` under the notifier lock. */
  | 'no read retry'
  /** The invalidate callback zaps only the part of a range the UNMAP covers, and keeps the range. */
  | 'no garbage collection'
  /** After a migration to VRAM the range is bound to the new pages without asking hmm_range_fault. */
  | 'assume range migrated'
  /** A failed migration to VRAM (no VRAM, a page not collected) fails the GPU fault. */
  | 'no devmem fallback'
  /** `migrate_to_ram` takes the notifier lock, a driver lock, around the core's migration. */
  | 'driver lock in migrate_to_ram'
  /** Eviction migrates through the address the allocation was migrated to (a back-pointer). */
  | 'evict by virtual address'
  | null;

/** `struct drm_gpusvm_notifier`: one interval notifier over an aligned block of notifierSize. */
export class GpuSvmNotifier {
  /** First address of the block it covers. */
  readonly start: number;
  /** End of the block (exclusive). */
  readonly end: number;
  /** The interval subscription over the block. */
  readonly notifier = new MmuIntervalNotifier();
  /** Its ranges, by start address. */
  readonly ranges = new Map<number, GpuSvmRange>();

  constructor(start: number, end: number) {
    this.start = start;
    this.end = end;
  }
}

/** `struct drm_gpusvm_range`: a chunk of the address space with its pages and GPU binding. */
export class GpuSvmRange {
  /** First address (aligned to the range's size). */
  readonly start: number;
  /** End address (exclusive). */
  readonly end: number;
  /** The notifier whose block holds the range. */
  readonly notifier: GpuSvmNotifier;
  /** The pfn of each page (valid while {@link pagesValid}; 0: no GPU translation for it). */
  readonly pfns: Float64Array;
  /** Per page: writable by the GPU. */
  readonly writable: Uint8Array;
  /** `flags.has_dma_mapping`: the pages were got and not invalidated since. */
  pagesValid = false;
  /** `flags.unmapped`: part of the range was unmapped; it waits for the garbage collector. */
  unmapped = false;
  /** The GPU page-table entries are written. */
  bound = false;
  /** The notifier sequence the pages were got under. */
  notifierSeq = 0;
  /** `flags.has_devmem_pages`: the last get_pages found only VRAM pages of this GPU. */
  inVram = false;

  constructor(notifier: GpuSvmNotifier, start: number, end: number) {
    this.notifier = notifier;
    this.start = start;
    this.end = end;
    const n = (end - start) / PAGE_SIZE;
    this.pfns = new Float64Array(n);
    this.writable = new Uint8Array(n);
  }

  /** Pages in the range. */
  get npages(): number {
    return this.pfns.length;
  }
}

/** Options of a {@link GpuSvm}. */
export interface GpuSvmOptions {
  /** Bytes each notifier covers (a power-of-two multiple of the largest chunk; default 512 MiB). */
  readonly notifierSize?: number;
  /** Chunk sizes, largest first, each a power-of-two multiple of PAGE_SIZE (default 2M, 64K, 4K). */
  readonly chunkSizes?: readonly number[];
  /** A deliberate mistake (tests only). */
  readonly mistake?: GpuSvmMistake;
  /** Name in reports (default 'gpusvm'). */
  readonly name?: string;
  /**
   * Pages of VRAM (device-private memory) the GPU has; GPU faults migrate ranges there (the
   * policy of xe for a VRAM-preferred range). Default: none, system memory only.
   */
  readonly vramPages?: number;
}

function isPow2Multiple(n: number, of: number): boolean {
  if (!Number.isSafeInteger(n) || n < of || n % of !== 0) return false;
  const r = n / of;
  return (r & (r - 1)) === 0;
}

/** `struct drm_gpusvm` for one mm, with the GPU page table of one device. */
export class GpuSvm implements DeviceMirror {
  /** How reports name this GPU's mirror. */
  readonly name: string;
  /** The mirrored address space. */
  readonly mm: MmStruct;
  /** The machine. */
  readonly kernel: Kernel;
  /** Bytes each notifier covers. */
  readonly notifierSize: number;
  /** Chunk sizes of ranges, largest first. */
  readonly chunkSizes: readonly number[];
  /** The mistake switched on (tests), or null. */
  readonly mistake: GpuSvmMistake;
  /** `notifier_lock`. */
  readonly notifierLock: RwSemaphore;
  /** Notifiers by start address. */
  readonly notifiers = new Map<number, GpuSvmNotifier>();
  /** Ranges waiting for the garbage collector. */
  readonly garbage: GpuSvmRange[] = [];
  readonly reportsUpdates = true;
  /** The GPU's VRAM, or null without `vramPages`. */
  readonly vram: GpuSvmVram | null;
  /** The owner of its device-private pages (`device_private_page_owner`): the SVM itself. */
  readonly owner: unknown = this;
  private closed = false;

  constructor(kernel: Kernel, mm: MmStruct, options: GpuSvmOptions = {}) {
    const chunks = options.chunkSizes ?? GPUSVM_CHUNK_SIZES;
    if (!Array.isArray(chunks) || chunks.length === 0 || chunks[chunks.length - 1] !== PAGE_SIZE)
      throw new UsageError(
        'GpuSvm(options.chunkSizes)',
        'must be a list of sizes, largest first, ending with PAGE_SIZE',
      );
    for (let i = 0; i < chunks.length; i++)
      if (!isPow2Multiple(chunks[i]!, PAGE_SIZE) || (i > 0 && chunks[i]! >= chunks[i - 1]!))
        throw new UsageError(
          'GpuSvm(options.chunkSizes)',
          `bad size ${chunks[i]} (power-of-two pages, decreasing)`,
        );
    const notifierSize = options.notifierSize ?? GPUSVM_NOTIFIER_SIZE;
    if (!isPow2Multiple(notifierSize, chunks[0]!))
      throw new UsageError(
        'GpuSvm(options.notifierSize)',
        `must be a power-of-two multiple of the largest chunk (${chunks[0]}), got ${notifierSize}`,
      );
    this.kernel = kernel;
    this.mm = mm;
    this.chunkSizes = chunks;
    this.notifierSize = notifierSize;
    this.mistake = options.mistake ?? null;
    this.name = options.name ?? 'gpusvm';
    this.notifierLock = new RwSemaphore(kernel.sched, `${this.name} notifier_lock`);
    this.vram =
      options.vramPages === undefined
        ? null
        : new GpuSvmVram(kernel, this, options.vramPages, (vmf) => gpusvmMigrateToRam(this, vmf));
    deviceMirrorRegister(kernel, this);
  }

  /** Every GPU page-table entry: the pages of every bound range (DeviceMirror contract). */
  forEachTranslation(visit: (vpn: number, pfn: number, access: number) => void): void {
    for (const n of this.notifiers.values())
      for (const r of n.ranges.values()) {
        if (!r.bound) continue;
        const first = r.start / PAGE_SIZE;
        for (let i = 0; i < r.npages; i++)
          if (r.pfns[i] !== 0) visit(first + i, r.pfns[i]!, r.writable[i] ? DEVICE_ACCESS_WRITE : 0);
      }
  }

  /** The range containing `addr`, or null. */
  rangeAt(addr: number): GpuSvmRange | null {
    const n = this.notifiers.get(Math.floor(addr / this.notifierSize) * this.notifierSize);
    if (n === undefined) return null;
    for (const r of n.ranges.values()) if (addr >= r.start && addr < r.end) return r;
    return null;
  }

  /** Every range, in no particular order. */
  ranges(): GpuSvmRange[] {
    const out: GpuSvmRange[] = [];
    for (const n of this.notifiers.values()) for (const r of n.ranges.values()) out.push(r);
    return out;
  }

  /**
   * `drm_gpusvm_range_chunk_size`: the span of the largest chunk around `addr` that lies in
   * `[lo, hi)` (the VMA, the notifier and the GPU VA window intersected) and overlaps no range of
   * `notifier`; null when not even a page fits.
   */
  chunkFor(
    addr: number,
    lo: number,
    hi: number,
    notifier: GpuSvmNotifier | undefined,
  ): [number, number] | null {
    for (const size of this.chunkSizes) {
      const start = Math.floor(addr / size) * size;
      const end = start + size;
      if (start < lo || end > hi) continue;
      let overlaps = false;
      if (notifier !== undefined)
        for (const r of notifier.ranges.values())
          if (r.start < end && start < r.end) {
            overlaps = true;
            break;
          }
      if (!overlaps) return [start, end];
    }
    return null;
  }

  /**
   * `drm_gpusvm_range_find_or_insert`: the range holding `addr`, made (with its notifier) when
   * there is none. Called with the mmap lock held for reading. -EFAULT without a VMA there,
   * -EAGAIN when the range found waits for the garbage collector.
   */
  async findOrInsert(addr: number, vaStart: number, vaEnd: number): Promise<GpuSvmRange | number> {
    const vma = this.mm.vmaLookup(addr);
    if (vma === null || addr < vma.start) return -EFAULT;
    const nStart = Math.floor(addr / this.notifierSize) * this.notifierSize;
    const notifier = this.notifiers.get(nStart);
    if (notifier !== undefined) {
      for (const r of notifier.ranges.values())
        if (addr >= r.start && addr < r.end) return r.unmapped ? -EAGAIN : r;
    }
    if (notifier === undefined) {
      const n = new GpuSvmNotifier(nStart, nStart + this.notifierSize);
      // mmu_interval_notifier_insert may take the mmap lock for writing: drop the read lock
      // around it, and start over afterwards (the VMA may have changed meanwhile).
      mmapReadUnlock(this.mm);
      const ret = await mmuIntervalNotifierInsert(n.notifier, this.mm, n.start, this.notifierSize, {
        invalidate: (_sub, range, curSeq) => this.invalidate(n, range, curSeq),
      });
      if (ret === 0 && !this.notifiers.has(nStart)) this.notifiers.set(nStart, n);
      else if (ret === 0) await mmuIntervalNotifierRemove(n.notifier); // another fault made it first
      await mmapReadLock(this.mm);
      return ret === 0 ? -EAGAIN : ret;
    }
    const lo = Math.max(vma.start, nStart, vaStart);
    const hi = Math.min(vma.end, nStart + this.notifierSize, vaEnd);
    const span = this.chunkFor(addr, lo, hi, notifier);
    if (span === null) return -EFAULT;
    await this.notifierLock.downWrite();
    const range = new GpuSvmRange(notifier, span[0], span[1]);
    notifier.ranges.set(range.start, range);
    this.notifierLock.upWrite();
    return range;
  }

  /**
   * `drm_gpusvm_range_get_pages`: faults the range's pages in (for writing when `write`) with
   * the big retry loop, and stores them under the notifier lock with their sequence number.
   * 0, -EBUSY at HMM_RANGE_DEFAULT_TIMEOUT, or hmm_range_fault's error.
   */
  async getPages(range: GpuSvmRange, write: boolean): Promise<number> {
    const hmm: HmmRange = {
      notifier: range.notifier.notifier,
      notifierSeq: 0,
      start: range.start,
      end: range.end,
      hmmPfns: new BigUint64Array(range.npages),
      defaultFlags: HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0n),
      pfnFlagsMask: 0n,
      devPrivateOwner: this,
    };
    const deadline = new RetryDeadline(
      this.kernel,
      `${this.name} get_pages [0x${range.start.toString(16)}, 0x${range.end.toString(16)})`,
    );
    if (!mmgetNotZero(this.mm)) return -EFAULT;
    try {
      for (;;) {
        if (deadline.expired()) return -EBUSY;
        hmm.notifierSeq = await mmuIntervalReadBegin(hmm.notifier);
        await mmapReadLock(this.mm);
        const ret = await hmmRangeFault(hmm);
        mmapReadUnlock(this.mm);
        if (ret === -EBUSY) continue;
        if (ret !== 0) return ret;
        await this.notifierLock.downRead();
        if (this.mistake !== 'no read retry' && mmuIntervalReadRetry(hmm.notifier, hmm.notifierSeq)) {
          this.notifierLock.upRead();
          continue;
        }
        if (range.unmapped) {
          this.notifierLock.upRead();
          return -EAGAIN;
        }
        // VRAM pages of two allocations in one range: the caller evicts the range and retries.
        let allocation: GpuSvmAllocation | null = null;
        let devicePages = 0;
        for (let i = 0; i < range.npages; i++) {
          const w = hmm.hmmPfns[i]!;
          const a = (w & HMM_PFN_VALID) !== 0n ? (this.vram?.allocationOf(hmmPfnToPfn(w)) ?? null) : null;
          if (a === null) continue;
          if (allocation !== null && a !== allocation) {
            this.notifierLock.upRead();
            return -EOPNOTSUPP;
          }
          allocation = a;
          devicePages++;
        }
        for (let i = 0; i < range.npages; i++) {
          const w = hmm.hmmPfns[i]!;
          range.pfns[i] = (w & HMM_PFN_VALID) !== 0n ? hmmPfnToPfn(w) : 0;
          range.writable[i] = (w & HMM_PFN_WRITE) !== 0n ? 1 : 0;
        }
        range.inVram = devicePages === range.npages;
        range.notifierSeq = hmm.notifierSeq;
        range.pagesValid = true;
        this.notifierLock.upRead();
        return 0;
      }
    } finally {
      await mmput(this.mm);
    }
  }

  /**
   * The GPU fault handler (xe_svm_handle_pagefault's shape): run the garbage collector, find or
   * make the range, get its pages, then bind the GPU page table under the notifier lock if the
   * pages are still valid — retrying the whole thing otherwise. 0 or -errno.
   */
  async handleFault(addr: number, write: boolean, vaStart = 0, vaEnd = 2 ** 47): Promise<number> {
    if (this.closed) return -ENOENT;
    const deadline = new RetryDeadline(this.kernel, `${this.name} fault at 0x${addr.toString(16)}`);
    let migrateTries = GPUSVM_MIGRATE_TRIES;
    for (;;) {
      if (deadline.expired()) return -EBUSY;
      await this.garbageCollect();
      await mmapReadLock(this.mm);
      const found = await this.findOrInsert(addr, vaStart, vaEnd);
      mmapReadUnlock(this.mm);
      if (found === -EAGAIN) continue;
      if (typeof found === 'number') return found;
      const range = found;
      if (this.vram !== null && !range.inVram && migrateTries > 0) {
        migrateTries--;
        const m = await gpusvmMigrateToVram(this, range);
        if (m.ret !== 0) {
          if (this.mistake === 'no devmem fallback') return m.ret;
          // VRAM could not be had, or the CPU mappings changed: try again, and after the last
          // attempt go on in system memory.
          continue;
        }
        if (this.mistake === 'assume range migrated' && m.allocation !== null) {
          // The mistake: every page taken to be in the new block, as if all of them had moved.
          await this.notifierLock.downRead();
          for (let i = 0; i < range.npages; i++) {
            range.pfns[i] = m.allocation.pfnFirst + i;
            range.writable[i] = 1;
          }
          range.pagesValid = !range.unmapped;
          range.inVram = true;
          this.notifierLock.upRead();
          const bound = await this.bind(range, addr, write);
          if (bound === -EAGAIN) continue;
          return bound;
        }
      }
      const ret = await this.getPages(range, write);
      if (ret === -EOPNOTSUPP) {
        // VRAM pages of two allocations: move the range back to system memory and start over.
        await this.evictRange(range);
        continue;
      }
      // -EFAULT / -EPERM: the CPU mappings changed under the range (a munmap whose UNMAP
      // invalidation has not come yet, an mprotect): start over; the retry finds the range
      // unmapped and collected, or no VMA at all.
      if (ret === -EAGAIN || ret === -EFAULT || ret === -EPERM) continue;
      if (ret !== 0) return ret;
      const bound = await this.bind(range, addr, write);
      if (bound === -EAGAIN) continue;
      return bound;
    }
  }

  /**
   * Binds `range` in the GPU page table under the notifier lock, only if its pages are still
   * valid (drm_gpusvm_range_pages_valid: the flags an invalidation clears); -EAGAIN otherwise.
   */
  private async bind(range: GpuSvmRange, addr: number, write: boolean): Promise<number> {
    await this.notifierLock.downRead();
    const valid = range.pagesValid && !range.unmapped;
    if (!valid && this.mistake !== 'bind without pages valid') {
      this.notifierLock.upRead();
      return -EAGAIN;
    }
    if (write && !range.writable[Math.floor((addr - range.start) / PAGE_SIZE)]) {
      this.notifierLock.upRead();
      return -EFAULT;
    }
    // The GPU page-table writes: the hardware sees the entries as they are written.
    this.kernel.sched.clock.advance(GPUSVM_PTE_WRITE_NS * range.npages);
    await condResched(this.kernel, `${this.name} GPU page-table write`);
    range.bound = true;
    deviceMirrorUpdated(this.kernel, this);
    this.notifierLock.upRead();
    return 0;
  }

  /**
   * `drm_gpusvm_range_evict`: faults every page of `range` in without a device-private owner, so
   * the core migrates its VRAM pages back (`migrate_to_ram`), retrying while the notifier says
   * the CPU page table changed, until HMM_RANGE_DEFAULT_TIMEOUT.
   */
  async evictRange(range: GpuSvmRange): Promise<number> {
    const hmm: HmmRange = {
      notifier: range.notifier.notifier,
      notifierSeq: 0,
      start: range.start,
      end: range.end,
      hmmPfns: new BigUint64Array(range.npages),
      defaultFlags: HMM_PFN_REQ_FAULT,
      pfnFlagsMask: 0n,
      devPrivateOwner: null,
    };
    const deadline = new RetryDeadline(this.kernel, `${this.name} range evict`);
    if (!mmgetNotZero(this.mm)) return -EFAULT;
    try {
      await mmapReadLock(this.mm);
      let ret = -EBUSY;
      while (ret === -EBUSY && !deadline.expired()) {
        hmm.notifierSeq = await mmuIntervalReadBegin(hmm.notifier);
        ret = await hmmRangeFault(hmm);
      }
      mmapReadUnlock(this.mm);
      return ret;
    } finally {
      await mmput(this.mm);
    }
  }

  /**
   * Gives VRAM back (`drm_pagemap_evict_to_ram` of every allocation, as under memory pressure):
   * 0, or -EBUSY when some page was still held after the last pass. No-op without VRAM.
   */
  async evict(): Promise<number> {
    if (this.vram === null) return 0;
    let ret = 0;
    for (const a of [...this.vram.allocations.values()]) {
      const r = await gpusvmEvict(this, a);
      if (r !== 0) ret = r;
    }
    return ret;
  }

  /**
   * The invalidate callback (`drm_gpusvm_notifier_invalidate` + the driver's `invalidate`):
   * under the notifier lock for writing, set the sequence, zap the GPU entries of every range the
   * invalidation touches, mark their pages invalid, and on UNMAP mark them unmapped for the
   * garbage collector.
   */
  private invalidate(n: GpuSvmNotifier, range: MmuNotifierRange, curSeq: number): boolean | Promise<boolean> {
    if (!mmuNotifierRangeBlockable(range)) return false;
    return (async () => {
      await this.notifierLock.downWrite();
      mmuIntervalSetSeq(n.notifier, curSeq);
      let changed = false;
      for (const r of n.ranges.values()) {
        if (r.end <= range.start || r.start >= range.end) continue;
        if (this.mistake === 'no garbage collection' && range.event === MMU_NOTIFY_UNMAP) {
          // The mistake: only the unmapped part is zapped, and the range stays valid and bound.
          for (let i = 0; i < r.npages; i++) {
            const a = r.start + i * PAGE_SIZE;
            if (a >= range.start && a < range.end) r.pfns[i] = 0;
          }
          changed = true;
          continue;
        }
        r.bound = false;
        r.pagesValid = false;
        r.inVram = false;
        changed = true;
        if (range.event === MMU_NOTIFY_UNMAP && !r.unmapped) {
          r.unmapped = true;
          this.garbage.push(r);
        }
      }
      if (changed) deviceMirrorUpdated(this.kernel, this);
      this.notifierLock.upWrite();
      return true;
    })();
  }

  /**
   * The garbage collector: removes every unmapped range, and a notifier left without ranges
   * (`mmu_interval_notifier_remove` outside the notifier lock).
   */
  async garbageCollect(): Promise<void> {
    while (this.garbage.length > 0) {
      const r = this.garbage.shift()!;
      // Partial unmap: the pages still mapped go back to system memory before the range goes
      // (no range splitting: the next fault makes a range that fits the new VMA).
      if (this.vram !== null && this.hasVramPages(r)) await this.evictRange(r);
      await this.notifierLock.downWrite();
      r.notifier.ranges.delete(r.start);
      const empty = r.notifier.ranges.size === 0 && this.notifiers.get(r.notifier.start) === r.notifier;
      if (empty) this.notifiers.delete(r.notifier.start);
      this.notifierLock.upWrite();
      if (empty) await mmuIntervalNotifierRemove(r.notifier.notifier);
    }
  }

  /** True when the last get_pages of `range` found some VRAM page of this GPU. */
  private hasVramPages(range: GpuSvmRange): boolean {
    for (let i = 0; i < range.npages; i++)
      if (range.pfns[i] !== 0 && this.vram!.allocationOf(range.pfns[i]!) !== null) return true;
    return false;
  }

  /**
   * The GPU reads 4 bytes at `addr` through its page table (null: no translation, a GPU fault
   * would be raised). The preemption point comes first: lookup and access are one step.
   */
  async gpuLoad32(addr: number): Promise<number | null> {
    await condResched(this.kernel, `${this.name} GPU load`);
    const pfn = this.translation(addr, false);
    if (pfn === 0) return null;
    const bytes = new Uint8Array(4);
    deviceRead(this.kernel, this, addr, pfn, bytes);
    return new DataView(bytes.buffer).getUint32(0, true);
  }

  /** The GPU writes 4 bytes at `addr` through a writable translation; false when it has none. */
  async gpuStore32(addr: number, value: number): Promise<boolean> {
    await condResched(this.kernel, `${this.name} GPU store`);
    const pfn = this.translation(addr, true);
    if (pfn === 0) return false;
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, value, true);
    deviceWrite(this.kernel, this, addr, pfn, bytes);
    return true;
  }

  /** The frame the GPU page table maps at `addr` (writable when `write`), or 0. */
  private translation(addr: number, write: boolean): number {
    const r = this.rangeAt(addr);
    if (r === null || !r.bound) return 0;
    const i = Math.floor((addr - r.start) / PAGE_SIZE);
    if (write && !r.writable[i]) return 0;
    return r.pfns[i]!;
  }

  /** `drm_gpusvm_fini`: every range and notifier goes, then the mirror is unregistered. */
  async fini(): Promise<void> {
    this.closed = true;
    const notifiers = [...this.notifiers.values()];
    await this.notifierLock.downWrite();
    this.notifiers.clear();
    this.garbage.length = 0;
    for (const n of notifiers) n.ranges.clear();
    deviceMirrorUpdated(this.kernel, this);
    this.notifierLock.upWrite();
    for (const n of notifiers) await mmuIntervalNotifierRemove(n.notifier);
    deviceMirrorUnregister(this.kernel, this);
  }
}

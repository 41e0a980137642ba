/**
 * `hmm_range_fault` (mm/hmm.c): describe the CPU page tables of a range in `hmm_pfns` words, and
 * fault in what the request asks for. The walk mirrors the kernel's page-walk callbacks: a hole
 * without a VMA, the per-VMA test, holes in the tables, PMD leaves and absent PMD entries, PTEs,
 * PUD leaves and hugetlb. Every callback that returns -EBUSY first sets `last` to the first
 * address whose word it has not written, and the next pass resumes there.
 * @module
 */
import {
  FAULT_FLAG_ALLOW_RETRY,
  FAULT_FLAG_KILLABLE,
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_WRITE,
  HPAGE_PMD_NR,
  HPAGE_PMD_ORDER,
  PAGE_SIZE,
  PTRS_PER_TABLE,
  VM_FAULT_COMPLETED,
  VM_FAULT_ERROR,
  VM_FAULT_OOM,
  VM_FAULT_RETRY,
  VM_READ,
  VM_WRITE,
} from '../mm/constants.ts';
import { DEFAULT_KERNEL_COSTS } from '../mm/costs.ts';
import { handleMmFault } from '../mm/fault.ts';
import { hstateVma } from '../mm/hugetlb.ts';
import type { Kernel } from '../mm/kernel.ts';
import type { MmStruct } from '../mm/mm-struct.ts';
import { waitOnPageLocked } from '../mm/page-lock.ts';
import { findEntry, LEVEL_PAGES, type PtLevel } from '../mm/page-table.ts';
import type { PtWasm } from '../mm/pt-wasm/pt-walk.ts';
import {
  isDevicePrivateKind,
  isMigrationKind,
  PTE_DEVICE_EXCLUSIVE,
  PTE_KIND_MASK,
  PTE_LEAF,
  PTE_MARKER,
  PTE_NONE,
  PTE_PRESENT,
  PTE_SPECIAL,
  PTE_SWAP,
  PTE_TABLE,
} from '../mm/pte.ts';
import type { Vma } from '../mm/vma.ts';
import { mmuIntervalCheckRetry } from '../notifier/interval-notifier.ts';
import { EBUSY, EFAULT, EINTR, EINVAL, ENOMEM, EPERM } from '../sim/errno.ts';
import { UsageError } from '../sim/errors.ts';
import { HI_ERROR, HI_INOUT, HI_VALID, HI_WRITE, hiHalf, LITTLE_ENDIAN } from './hmm-pfn.ts';
import {
  devicePrivateToHmmPfnFlags,
  HMM_NEED_WRITE_FAULT,
  hmmPfnFlagsOrder,
  hmmPteNeedFault,
  hmmRangeNeedFault,
  pmdToHmmPfnFlags,
  pteToHmmPfnFlags,
  pudToHmmPfnFlags,
} from './hmm-pfn-flags.ts';
import type { HmmRange } from './hmm-range.ts';

/**
 * Internal: `handle_mm_fault` dropped the mmap lock (VM_FAULT_RETRY / VM_FAULT_COMPLETED) during
 * a walk that allows it (HMM_FAULT_UNLOCKED, -ENOLCK in the series); never returned to callers.
 */
const HMM_FAULT_UNLOCKED = -37;

/** The caller's lock state during {@link hmmRangeFaultLocked} (`bool *locked`). */
export interface HmmLocked {
  /** True while the mmap read lock is held; the walk clears it when a fault dropped the lock. */
  value: boolean;
}

/**
 * Default virtual time charged per walk pass and per page described; a machine's own values are
 * `kernel.costs.hmmRangeFaultPassNs` / `hmmRangeFaultPageNs`.
 */
export const HMM_WALK_PASS_NS = DEFAULT_KERNEL_COSTS.hmmRangeFaultPassNs;
/** @see HMM_WALK_PASS_NS */
export const HMM_WALK_PAGE_NS = DEFAULT_KERNEL_COSTS.hmmRangeFaultPageNs;

/**
 * `hmm_range_fault(range)`: 0 when every word of `range.hmmPfns` describes its page, or -EBUSY
 * (the interval was invalidated: restart from `mmuIntervalReadBegin`), -EFAULT (a requested page
 * cannot be made valid), -EPERM (a write fault is required on a VMA without VM_WRITE), -EINVAL
 * (`start >= end`). The caller holds the mmap lock of the notifier's mm.
 */
export async function hmmRangeFault(range: HmmRange): Promise<number> {
  return hmmRangeFaultLocked(range, null);
}

/**
 * The common implementation (`hmm_range_fault_locked` of the lock-drop series): with `locked`
 * (the unlocked entry point) faults may drop the mmap lock — `locked.value` becomes false and
 * the call returns -EBUSY (or -EINTR with a fatal signal pending); without it, as before.
 */
export async function hmmRangeFaultLocked(range: HmmRange, locked: HmmLocked | null): Promise<number> {
  const walk = new HmmVmaWalk(range, locked);
  walk.k.stats.hmm.calls++;
  const sched = walk.k.sched;
  if (walk.k.bus.on) traceHmmRangeFault(walk.k, 'B', range, 0);
  for (;;) {
    walk.k.stats.hmm.passes++;
    const p = sched.point('hmm_range_fault');
    if (p) await p;
    const c = walk.k.costs;
    const pages = (range.end - walk.last) / PAGE_SIZE;
    walk.k.work.hmmPasses++;
    walk.k.work.hmmPages += pages;
    sched.clock.advance(c.hmmRangeFaultPassNs + c.hmmRangeFaultPageNs * pages);
    if (mmuIntervalCheckRetry(range.notifier, range.notifierSeq)) {
      walk.k.stats.hmm.ebusy++;
      if (walk.k.bus.on) traceHmmRangeFault(walk.k, 'E', range, -EBUSY);
      return -EBUSY;
    }
    const passStart = walk.last;
    walk.faultedAt = -1;
    // The walk is synchronous until a fault or a wait must sleep; only then is there a promise.
    const r = walk.walkRange(walk.last, range.end);
    let ret = typeof r === 'number' ? r : await r;
    if (ret === HMM_FAULT_UNLOCKED) {
      ret = sched.current.fatalSignalPending ? -EINTR : -EBUSY;
      if (walk.k.bus.on) traceHmmRangeFault(walk.k, 'E', range, ret);
      return ret;
    }
    if (ret === -EBUSY && walk.k.observer !== null) checkRestart(walk, passStart);
    if (ret !== -EBUSY) {
      if (walk.k.bus.on) traceHmmRangeFault(walk.k, 'E', range, ret);
      return ret;
    }
  }
}

/**
 * The restart invariant of `hmm_range_fault` (checked for an observer): a pass that returns
 * -EBUSY after faulting or waiting at some address has set `hmm_vma_walk->last` to it, so the
 * next pass resumes there and never reads the words it already wrote as requests; `last` never
 * moves backwards.
 */
function checkRestart(walk: HmmVmaWalk, passStart: number): void {
  const o = walk.k.observer;
  if (o === null || !o.kernelAssert) return;
  const hex = (n: number): string => `0x${n.toString(16)}`;
  if (walk.last < passStart)
    o.kernelAssert(
      `hmm_range_fault: hmm_vma_walk->last moved back from ${hex(passStart)} to ${hex(walk.last)} (mm ${walk.mm.id})`,
    );
  else if (walk.faultedAt >= 0 && walk.last !== walk.faultedAt)
    o.kernelAssert(
      `hmm_range_fault: -EBUSY after faulting at ${hex(walk.faultedAt)} but hmm_vma_walk->last is ${hex(walk.last)}: the restart would not begin where the walk stopped (mm ${walk.mm.id}, range [${hex(walk.range.start)}, ${hex(walk.range.end)}))`,
    );
}

/** The span of one `hmm_range_fault` call on the calling thread (B: the range; E: the result). */
function traceHmmRangeFault(k: Kernel, phase: 'B' | 'E', range: HmmRange, result: number): void {
  k.bus.emit({
    type: 'span',
    time: k.sched.clock.now,
    thread: k.sched.current.name,
    phase,
    name: 'hmm_range_fault',
    args:
      phase === 'B'
        ? { start: range.start, end: range.end, npages: (range.end - range.start) / PAGE_SIZE }
        : { result },
  });
}

/** `struct hmm_vma_walk` plus the walk itself. */
class HmmVmaWalk {
  readonly range: HmmRange;
  readonly mm: MmStruct;
  readonly k: Kernel;
  /** The words as 32-bit halves: `w32[2i]` low (pfn), `w32[2i + 1]` high (flags). */
  readonly w32: Uint32Array;
  /** First address whose word has not been written in this call. */
  last: number;
  /** Where the current pass faulted or waited before returning -EBUSY (-1: nowhere); for the restart check. */
  faultedAt = -1;
  private readonly startPage: number;
  private readonly maskHi: number;
  private readonly defaultHi: number;
  /** Whether any page can require a fault (the hmm_range_need_fault short-cut). */
  private readonly mayFault: boolean;
  /** The caller's lock state when faults may drop the mmap lock, else null. */
  private readonly locked: HmmLocked | null;

  constructor(range: HmmRange, locked: HmmLocked | null = null) {
    checkRange(range);
    const mm = range.notifier.mm!;
    if (!mm.mmapLock.heldByCurrent()) {
      // mmap_assert_locked
      const o = mm.kernel.observer;
      if (o?.kernelAssert)
        o.kernelAssert(
          `hmm_range_fault: mmap_assert_locked failed: the mmap lock of mm ${mm.id} is not held`,
        );
      throw new UsageError(
        'hmmRangeFault',
        `the caller must hold the mmap lock of mm ${mm.id} (mmapReadLock before the call)`,
      );
    }
    this.range = range;
    this.locked = locked;
    this.mm = mm;
    this.k = mm.kernel;
    const a = range.hmmPfns;
    this.w32 = new Uint32Array(a.buffer, a.byteOffset, a.length * 2);
    this.last = range.start;
    this.startPage = range.start / PAGE_SIZE;
    this.maskHi = hiHalf(range.pfnFlagsMask) & (HI_VALID | HI_WRITE);
    this.defaultHi = hiHalf(range.defaultFlags) & (HI_VALID | HI_WRITE);
    this.mayFault = ((this.maskHi | this.defaultHi) & HI_VALID) !== 0;
  }

  /** {@link hmmPteNeedFault} with this range's mask and defaults. */
  private pteNeedFault(inHi: number, cpuHi: number): number {
    return hmmPteNeedFault(inHi, this.maskHi, this.defaultHi, cpuHi);
  }

  /** {@link hmmRangeNeedFault} over the words of `[addr, end)`. */
  private rangeNeedFault(addr: number, end: number, cpuHi: number): number {
    if (!this.mayFault) return 0;
    const first = addr / PAGE_SIZE - this.startPage;
    return hmmRangeNeedFault(this.w32, first, (end - addr) / PAGE_SIZE, this.maskHi, this.defaultHi, cpuHi);
  }

  /** hmm_pfns_fill: every word of `[addr, end)` gets `hi` flags and pfn 0, sticky bits kept. */
  private pfnsFill(addr: number, end: number, hi: number): number {
    const w = this.w32;
    for (let i = addr / PAGE_SIZE - this.startPage, n = i + (end - addr) / PAGE_SIZE; i < n; i++) {
      w[2 * i] = 0;
      w[2 * i + 1] = ((w[2 * i + 1]! & HI_INOUT) | hi) >>> 0;
    }
    return 0;
  }

  /** Fills `[addr, end)` with consecutive pfns from `pfn`, all with `cpuHi`. */
  private pfnsFillPfn(addr: number, end: number, pfn: number, cpuHi: number): void {
    const w = this.w32;
    const n = ((end - addr) / PAGE_SIZE) | 0;
    for (let j = 0, i = 2 * (((addr - this.range.start) / PAGE_SIZE) | 0); j < n; j++, i += 2) {
      w[i] = pfn + j;
      w[i + 1] = ((w[i + 1]! & HI_INOUT) | cpuHi) >>> 0;
    }
  }

  /**
   * hmm_vma_fault: faults every page of `[addr, end)` (remote, write if required) and returns
   * -EBUSY so the next pass re-reads the tables from `addr`.
   */
  private async vmaFault(addr: number, end: number, required: number, vma: Vma): Promise<number> {
    const quirks = this.k.quirks;
    this.faultedAt = addr;
    // Failpoint H1 (docs/mutants.md#hmm_range_fault-core; fixed by be957c886d92): `last` not
    // set before -EBUSY, so the restart re-reads words already written by this call as requests.
    if (!quirks.walkLastNotSet) this.last = addr;
    // Failpoint H2 (docs/mutants.md#hmm_range_fault-core; "do not unconditionally set pfns
    // when returning EBUSY", 5.7): the words of [addr, end) set to HMM_PFN_NONE before faulting,
    // destroying their requests.
    if (quirks.pfnsClearedBeforeFault) this.pfnsFill(addr, end, 0);
    let flags = FAULT_FLAG_REMOTE;
    if (this.locked !== null) flags |= FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE;
    if ((required & HMM_NEED_WRITE_FAULT) !== 0) {
      if ((vma.flags & VM_WRITE) === 0) return -EPERM;
      flags |= FAULT_FLAG_WRITE;
    }
    for (; addr < end; addr += PAGE_SIZE) {
      this.k.stats.hmm.faults++;
      const r = await handleMmFault(vma, addr, flags);
      if ((r & (VM_FAULT_RETRY | VM_FAULT_COMPLETED)) !== 0) {
        this.locked!.value = false;
        return HMM_FAULT_UNLOCKED;
      }
      // vm_fault_to_errno (the lock-drop series, both entry points): OOM is -ENOMEM; 6.12: -EFAULT.
      if ((r & VM_FAULT_ERROR) !== 0)
        return (r & VM_FAULT_OOM) !== 0 && this.k.kernelVersion !== '6.12' ? -ENOMEM : -EFAULT;
    }
    return -EBUSY;
  }

  /** walk_page_range over `[start, end)`: holes without a VMA, then each VMA. */
  walkRange(start: number, end: number): number | Promise<number> {
    // walk_page_range rejects a degenerate range; the sequence check of the pass came first.
    if (start >= end) return -EINVAL;
    let addr = start;
    while (addr < end) {
      const vma = this.mm.findVma(addr);
      if (vma === null || vma.start >= end) return this.walkHole(addr, end, null);
      if (vma.start > addr) {
        const r = this.walkHole(addr, vma.start, null);
        if (r !== 0) return r;
        addr = vma.start;
      }
      const vend = Math.min(vma.end, end);
      const r = this.walkVma(vma, addr, vend);
      if (r !== 0) return r;
      addr = vend;
    }
    return 0;
  }

  /** hmm_vma_walk_hole: no VMA (ERROR or -EFAULT), or missing tables in a VMA (0 or fault). */
  private walkHole(addr: number, end: number, vma: Vma | null): number | Promise<number> {
    const required = this.rangeNeedFault(addr, end, 0);
    if (vma === null) {
      if (required !== 0) return -EFAULT;
      // Failpoint H8 (docs/mutants.md#hmm_range_fault-core; "mm/hmm: return error for
      // non-vma snapshots", 5.7): a snapshot of a hole without a VMA reads as HMM_PFN_NONE.
      if (this.k.quirks.holeWithoutVmaReadsNone) return this.pfnsFill(addr, end, 0);
      return this.pfnsFill(addr, end, HI_ERROR);
    }
    if (required !== 0) return this.vmaFault(addr, end, required, vma);
    return this.pfnsFill(addr, end, 0);
  }

  private walkVma(vma: Vma, addr: number, end: number): number | Promise<number> {
    // hmm_vma_walk_test: VMAs without struct pages behind them, or unreadable, are errors.
    if (vma.isIoOrPfnmap || (vma.flags & VM_READ) === 0) {
      const quirks = this.k.quirks;
      // Failpoint H5 (docs/mutants.md#hmm_range_fault-core; "add missing call to
      // hmm_range_need_fault() before returning EFAULT", 5.7): an unreadable VMA fails the call
      // whether or not a page of it was requested.
      if (quirks.unreadableVmaAlwaysFaults && (vma.flags & VM_READ) === 0) return -EFAULT;
      // Failpoint H3 (docs/mutants.md#hmm_range_fault-core; "return -EFAULT when setting
      // HMM_PFN_ERROR on requested valid pages", 5.7): ERROR set on requested pages and 0 returned.
      if (quirks.errorOnRequestedPages) return this.pfnsFill(addr, end, HI_ERROR);
      if (this.rangeNeedFault(addr, end, 0) !== 0) return -EFAULT;
      this.pfnsFill(addr, end, HI_ERROR);
      return 0;
    }
    if (vma.isHugetlb) return this.walkHugetlb(vma, addr, end);
    return this.walkLevel(vma, this.mm.pgd, 4, 0, addr, end);
  }

  /**
   * walk_pgd_range … walk_pmd_range: one entry at a time, holes for missing tables. A callee
   * returns a promise only when it faulted or waited, and then the pass ends with its result
   * (-EBUSY or an error), so a promise is passed up as it is: nothing awaits while nothing sleeps.
   */
  private walkLevel(
    vma: Vma,
    table: number,
    level: PtLevel,
    baseVpn: number,
    addr: number,
    end: number,
  ): number | Promise<number> {
    const span = LEVEL_PAGES[level];
    const spanBytes = span * PAGE_SIZE;
    while (addr < end) {
      const vpn = addr / PAGE_SIZE;
      const idx = Math.floor((vpn - baseVpn) / span);
      const entryStart = (baseVpn + idx * span) * PAGE_SIZE;
      const next = Math.min(entryStart + spanBytes, end);
      const off = (table * PTRS_PER_TABLE + idx) * 2;
      if (level === 2 && !this.mayFault) {
        // A snapshot into an array of hmmPfnsAlloc: the wasm walk takes the run of PTE tables
        // from here to the first entry it does not describe, in one call.
        const wasm = this.k.pt.wasm;
        const pfns = this.range.hmmPfns;
        if (wasm !== null && pfns.buffer === wasm.buffer) {
          const i = (addr - this.range.start) / PAGE_SIZE;
          const done = wasm.snapshotPmds(
            off * 4,
            vpn % PTRS_PER_TABLE,
            (end - addr) / PAGE_SIZE,
            pfns.byteOffset + 8 * i,
          );
          if (done > 0) {
            addr += done * PAGE_SIZE;
            continue;
          }
        }
      }
      let r: number | Promise<number>;
      if (level === 2) r = this.walkPmd(vma, off, addr, next);
      else {
        const lo = this.k.pt.words[off]!;
        const kind = lo & PTE_KIND_MASK;
        if (kind === PTE_NONE) r = this.walkHole(addr, next, vma);
        else if (kind === PTE_TABLE)
          r = this.walkLevel(
            vma,
            this.k.pt.words[off + 1]!,
            (level - 1) as PtLevel,
            baseVpn + idx * span,
            addr,
            next,
          );
        else if (level === 3 && (lo & PTE_LEAF) !== 0) r = this.walkPud(vma, off, addr, next);
        else r = this.walkHole(addr, next, vma);
      }
      if (r !== 0) return r;
      addr = next;
    }
    return 0;
  }

  /** hmm_vma_walk_pud for a PUD leaf: like a PMD leaf, with order 18. */
  private walkPud(vma: Vma, off: number, addr: number, end: number): number | Promise<number> {
    const lo = this.k.pt.words[off]!;
    if ((lo & PTE_KIND_MASK) !== PTE_PRESENT) return this.walkHole(addr, end, vma);
    const cpuHi = pudToHmmPfnFlags(lo);
    const required = this.rangeNeedFault(addr, end, cpuHi);
    if (required !== 0) return this.vmaFault(addr, end, required, vma);
    const first = this.k.pt.words[off + 1]! + ((addr / PAGE_SIZE) % LEVEL_PAGES[3]);
    this.pfnsFillPfn(addr, end, first, cpuHi);
    return 0;
  }

  /** hmm_vma_walk_pmd for `[start, end)` inside one PMD entry. */
  private walkPmd(vma: Vma, pmdOff: number, start: number, end: number): number | Promise<number> {
    const k = this.k;
    const lo = k.pt.words[pmdOff]!;
    const kind = lo & PTE_KIND_MASK;
    if (kind === PTE_NONE) return this.walkHole(start, end, vma);
    if ((lo & PTE_LEAF) !== 0) {
      const head = k.pt.words[pmdOff + 1]!;
      if (isMigrationKind(kind)) {
        // A THP under migration: wait for it, then resume here.
        if (this.rangeNeedFault(start, end, 0) !== 0) return this.migrationWait(start, head);
        return this.pfnsFill(start, end, 0);
      }
      if (kind === PTE_PRESENT) return this.handlePmd(vma, start, end, lo, head);
      return this.handleAbsentPmd(vma, start, end, kind, head);
    }
    if (kind !== PTE_TABLE) {
      // pmd_bad
      if (this.rangeNeedFault(start, end, 0) !== 0) return -EFAULT;
      return this.pfnsFill(start, end, HI_ERROR);
    }
    const t = k.pt.words[pmdOff + 1]!;
    const first = ((start / PAGE_SIZE) % PTRS_PER_TABLE) | 0;
    const base = t * PTRS_PER_TABLE * 2;
    if (!this.mayFault) {
      const wasm = k.pt.wasm;
      return wasm !== null
        ? this.snapshotPtesWasm(wasm, vma, base, first, start, end)
        : this.snapshotPtes(vma, base, first, start, end);
    }
    for (let addr = start, off = base + 2 * first; addr < end; addr += PAGE_SIZE, off += 2) {
      const r = this.handlePte(vma, off, addr, end);
      if (r !== 0) return r;
    }
    return 0;
  }

  /**
   * The PTE loop when no page can require a fault (a snapshot): present, accessible, normal
   * pages are described inline; every other entry goes through {@link handlePte}, which then
   * never faults or sleeps. The masks are literals on purpose: V8 re-reads an imported binding
   * on every iteration, and this loop runs once per page (test/unit/hmm/hmm-pfn-flags.test.ts
   * checks that the literals equal the named constants).
   */
  private snapshotPtes(vma: Vma, base: number, first: number, start: number, end: number): number {
    const words = this.k.pt.words;
    const w = this.w32;
    const n = ((end - start) / PAGE_SIZE) | 0;
    let i = ((start - this.range.start) / PAGE_SIZE) | 0;
    let off = base + 2 * first;
    for (let j = 0; j < n; j++, i++, off += 2) {
      const lo = words[off]!;
      // (PTE_KIND_MASK | PTE_PROTNONE | PTE_SPECIAL) === PTE_PRESENT
      if ((lo & 0x18f) === 2) {
        w[2 * i] = words[off + 1]!;
        // (inHi & HI_INOUT) | HI_VALID | (PTE_WRITE ? HI_WRITE : 0); PTE_WRITE (bit 4) << 26 is HI_WRITE
        w[2 * i + 1] = ((w[2 * i + 1]! & 0x1c00_0000) | 0x8000_0000 | ((lo & 0x10) << 26)) >>> 0;
      } else {
        const r = this.handlePte(vma, off, start + j * PAGE_SIZE, end);
        if (r !== 0) return r as number;
      }
    }
    return 0;
  }

  /**
   * {@link snapshotPtes} through the pool's WebAssembly walk (tables in WebAssembly memory): the
   * words of the run are written in place when `hmmPfns` came from `hmmPfnsAlloc` (it lives in
   * the same memory), else they pass through the memory's scratch area, their sticky bits in and
   * their descriptions out. The wasm loop describes present, accessible, normal pages exactly as
   * the JS loop does. From the first PTE it does not describe, the JS loop takes the rest of the
   * table (a table of mixed entries is not worth copying twice).
   */
  private snapshotPtesWasm(
    wasm: PtWasm,
    vma: Vma,
    base: number,
    first: number,
    start: number,
    end: number,
  ): number {
    const n = ((end - start) / PAGE_SIZE) | 0;
    const i = ((start - this.range.start) / PAGE_SIZE) | 0;
    const pfns = this.range.hmmPfns;
    let done: number;
    if (pfns.buffer === wasm.buffer) {
      // An array of allocHmmPfns in this memory: written in place.
      done = wasm.snapshot((base + 2 * first) * 4, pfns.byteOffset + 8 * i, n);
    } else {
      const w = this.w32;
      wasm.scratch.set(w.subarray(2 * i, 2 * (i + n)));
      done = wasm.snapshot((base + 2 * first) * 4, wasm.scratchByte, n);
      w.set(wasm.scratch.subarray(0, 2 * done), 2 * i);
    }
    if (done === n) return 0;
    return this.snapshotPtes(vma, base, first + done, start + done * PAGE_SIZE, end);
  }

  /** hmm_vma_handle_pmd: a present PMD leaf (THP or the huge zero page). */
  private handlePmd(
    vma: Vma,
    start: number,
    end: number,
    lo: number,
    head: number,
  ): number | Promise<number> {
    const cpuHi = pmdToHmmPfnFlags(lo);
    const required = this.rangeNeedFault(start, end, cpuHi);
    if (required !== 0) return this.vmaFault(start, end, required, vma);
    this.pfnsFillPfn(start, end, head + ((start / PAGE_SIZE) % HPAGE_PMD_NR), cpuHi);
    return 0;
  }

  /** hmm_vma_handle_absent_pmd: a device-private PMD entry (owned: reported; else faulted), or an error. */
  private handleAbsentPmd(
    vma: Vma,
    start: number,
    end: number,
    kind: number,
    head: number,
  ): number | Promise<number> {
    const devPrivate = isDevicePrivateKind(kind);
    if (devPrivate && this.ownsDevicePrivate(head)) {
      const cpuHi = (devicePrivateToHmmPfnFlags(kind) | hmmPfnFlagsOrder(HPAGE_PMD_ORDER)) >>> 0;
      this.pfnsFillPfn(start, end, head + ((start / PAGE_SIZE) % HPAGE_PMD_NR), cpuHi);
      return 0;
    }
    const required = this.rangeNeedFault(start, end, 0);
    if (required !== 0) return devPrivate ? this.vmaFault(start, end, required, vma) : -EFAULT;
    return this.pfnsFill(start, end, HI_ERROR);
  }

  /** hmm_vma_handle_pte: one PTE at word offset `off`; faults run from `addr` to `end`. */
  private handlePte(vma: Vma, off: number, addr: number, end: number): number | Promise<number> {
    const k = this.k;
    const words = k.pt.words;
    const lo = words[off]!;
    const kind = lo & PTE_KIND_MASK;
    const i = addr / PAGE_SIZE - this.startPage;
    const w = this.w32;
    const inHi = w[2 * i + 1]!;
    let newLo = 0;
    let newHi = 0;
    if (kind === PTE_PRESENT) {
      const pfn = words[off + 1]!;
      const cpuHi = pteToHmmPfnFlags(lo);
      if (this.mayFault) {
        const required = this.pteNeedFault(inHi, cpuHi);
        if (required !== 0) return this.vmaFault(addr, end, required, vma);
      }
      if ((lo & PTE_SPECIAL) !== 0 && !k.pm.isZeroPfn(pfn)) {
        // No struct page behind it (vm_normal_page() is NULL): an error, or -EFAULT if requested.
        // Failpoint H4 (docs/mutants.md#hmm_range_fault-core; "add missing call to
        // hmm_pte_need_fault in HMM_PFN_SPECIAL handling", 5.7): -EFAULT at once, requested or not.
        if (k.quirks.specialPteAlwaysFaults) return -EFAULT;
        if (this.mayFault && this.pteNeedFault(inHi, 0) !== 0) return -EFAULT;
        newHi = HI_ERROR;
      } else {
        newLo = pfn;
        newHi = cpuHi;
      }
    } else if (kind === PTE_NONE || kind === PTE_MARKER) {
      if (this.mayFault) {
        const required = this.pteNeedFault(inHi, 0);
        if (required !== 0) return this.vmaFault(addr, end, required, vma);
      }
    } else {
      const pfn = words[off + 1]!;
      if (isDevicePrivateKind(kind) && this.ownsDevicePrivate(pfn)) {
        // Device-private pages of the caller's own device are reported, never faulted.
        newLo = pfn;
        newHi = devicePrivateToHmmPfnFlags(kind);
      } else {
        const required = this.mayFault ? this.pteNeedFault(inHi, 0) : 0;
        if (required !== 0) {
          // Failpoint H10 (docs/mutants.md#hmm_range_fault-core; "mm/hmm: fault non-owner
          // device private entries", 2022): another owner's device-private entry answered with
          // -EFAULT instead of migrate_to_ram.
          if (k.quirks.foreignDevicePrivateNotFaulted && isDevicePrivateKind(kind)) return -EFAULT;
          if (kind === PTE_SWAP || isDevicePrivateKind(kind) || kind === PTE_DEVICE_EXCLUSIVE)
            return this.vmaFault(addr, end, required, vma);
          if (isMigrationKind(kind)) return this.migrationWait(addr, pfn);
          return -EFAULT;
        }
      }
    }
    w[2 * i] = newLo;
    w[2 * i + 1] = ((inHi & HI_INOUT) | newHi) >>> 0;
    return 0;
  }

  /**
   * Whether device page `pfn` belongs to the caller's device (`pgmap->owner ==
   * range->dev_private_owner`): such pages are reported, never faulted.
   */
  private ownsDevicePrivate(pfn: number): boolean {
    // Failpoint H9 (docs/mutants.md#hmm_range_fault-core; fixed by 08ddddda667b): the owner
    // check dropped, every device's private pages reported as the caller's own.
    if (this.k.quirks.devicePrivateOwnerIgnored) return true;
    return this.k.pgmapOf(pfn)?.owner === this.range.devPrivateOwner;
  }

  /** A PTE under migration: wait for it (migration_entry_wait), then resume at `addr`. */
  private async migrationWait(addr: number, pfn: number): Promise<number> {
    this.faultedAt = addr;
    this.last = addr;
    await waitOnPageLocked(this.k, pfn);
    return -EBUSY;
  }

  /**
   * hmm_vma_walk_hugetlb_entry, one huge page at a time. Only the first page's request word is
   * consulted (a kernel quirk kept on purpose); a non-present huge entry yields pfns with the
   * order but without VALID.
   */
  private walkHugetlb(vma: Vma, addr: number, end: number): number | Promise<number> {
    const k = this.k;
    // walk_hugetlb_range steps by the VMA's huge page size; the entry is a PMD leaf (2 MiB) or
    // a PUD leaf (1 GiB), and the order reported is huge_page_order(hstate_vma(vma)): 9 or 18.
    const h = hstateVma(vma);
    while (addr < end) {
      const next = Math.min((Math.floor(addr / h.size) + 1) * h.size, end);
      const pmdOff = findEntry(k.pt, this.mm.pgd, addr / PAGE_SIZE, h.level);
      let r: number | Promise<number>;
      if (pmdOff < 0) r = this.walkHole(addr, next, vma);
      else {
        const lo = k.pt.words[pmdOff]!;
        // hmm_vma_walk_hugetlb_entry: pte_to_hmm_pfn_flags of the huge entry, with its order.
        const cpuHi = (pteToHmmPfnFlags(lo) | hmmPfnFlagsOrder(h.order)) >>> 0;
        const i = addr / PAGE_SIZE - this.startPage;
        const required = this.mayFault ? this.pteNeedFault(this.w32[2 * i + 1]!, cpuHi) : 0;
        if (required !== 0) r = this.vmaFault(addr, next, required, vma);
        else {
          const base = (lo & PTE_KIND_MASK) === PTE_PRESENT ? k.pt.words[pmdOff + 1]! : 0;
          this.pfnsFillPfn(addr, next, base + ((addr / PAGE_SIZE) % h.pagesPerHugePage), cpuHi);
          r = 0;
        }
      }
      if (r !== 0) return r;
      addr = next;
    }
    return 0;
  }
}

function checkRange(range: HmmRange): void {
  if (typeof range !== 'object' || range === null)
    throw new UsageError('hmmRangeFault(range)', 'must be an HmmRange object');
  const sub = range.notifier;
  if (typeof sub !== 'object' || sub === null || sub.mm === null || sub.mm === undefined) {
    throw new UsageError('range.notifier', 'must be an inserted MmuIntervalNotifier');
  }
  if (sub.state === 'idle') {
    // After mmu_interval_notifier_remove the kernel's walk would use an mm the subscription
    // no longer holds (its mmgrab was dropped): undefined behaviour, not an errno.
    throw new UsageError(
      'range.notifier',
      'was removed (mmuIntervalNotifierRemove): insert it again before hmmRangeFault',
    );
  }
  if (
    !Number.isInteger(range.start) ||
    !Number.isInteger(range.end) ||
    range.start % PAGE_SIZE !== 0 ||
    range.end % PAGE_SIZE !== 0
  ) {
    throw new UsageError(
      'range.start/end',
      `must be page-aligned integers, got [${range.start}, ${range.end})`,
    );
  }
  if (!(range.hmmPfns instanceof BigUint64Array))
    throw new UsageError('range.hmmPfns', 'must be a BigUint64Array');
  const npages = Math.max(0, (range.end - range.start) / PAGE_SIZE);
  if (range.hmmPfns.length < npages) {
    throw new UsageError(
      'range.hmmPfns',
      `holds ${range.hmmPfns.length} words but the range has ${npages} pages`,
    );
  }
  if (typeof range.defaultFlags !== 'bigint' || typeof range.pfnFlagsMask !== 'bigint') {
    throw new UsageError('range.defaultFlags/pfnFlagsMask', 'must be bigint');
  }
  if (typeof range.notifierSeq !== 'number')
    throw new UsageError('range.notifierSeq', 'must be the number from mmuIntervalReadBegin');
  if (!LITTLE_ENDIAN) throw new UsageError('hmmRangeFault', 'hmmsim needs a little-endian host');
  const end = sub.last + 1;
  if (range.start < sub.start || range.end > end) {
    throw new UsageError('range', `[${range.start}, ${range.end}) is not inside the notifier's interval`);
  }
}

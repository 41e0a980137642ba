/**
 * The functional tier's residency: a GPU built like the kernel's test driver — it is a dmirror
 * device — on a simulated machine, so that every residency change goes through the real kernel:
 * migrations through `migrate_vma_setup/pages/finalize` into device-private chunks (MIGRATE_TO_DEV,
 * MIGRATE_TO_SYS), the GPU's first touch of a block through `hmm_range_fault` (SNAPSHOT: the
 * driver mirrors the block's CPU mappings), CPU accesses through real page faults (a fault on a
 * device-private page runs the driver's `migrate_to_ram`), and every change the CPU makes reaches
 * the GPU's mirror through its interval notifier. The bitmaps are read back from the CPU page
 * tables after each operation (present: CPU-mapped; device-private: GPU-resident), never
 * computed; the kernel's work is read from `kernel.work`, its time from the machine's clock.
 *
 * The kernel is asynchronous (simulated threads), so the operations return promises: this is the
 * asynchronous form of the engine's {@link ResidencyBackend} ({@link AsyncResidencyBackend}).
 * @module
 */
import type { DmirrorFile } from '../../devices/dmirror/file.ts';
import type { Oracle, OracleInstance } from '../../explore/oracle.ts';
import { Machine } from '../../machine.ts';
import {
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
  VM_WRITE,
} from '../../mm/constants.ts';
import type { KernelWorkCounts } from '../../mm/costs.ts';
import type { MmuNotifierRange } from '../../mm/mmu-notifier.ts';
import { findEntry } from '../../mm/page-table.ts';
import type { Process } from '../../mm/process.ts';
import { isDevicePrivateKind, PTE_KIND_MASK, PTE_LEAF, PTE_PRESENT } from '../../mm/pte.ts';
import {
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
} from '../../notifier/interval-notifier.ts';
import type { PlatformParams } from '../cost/platform.ts';
import type {
  BackendCounters,
  Collapse,
  CpuAccess,
  CpuDuplication,
  Eviction,
  FirstTouch,
  GpuMigration,
  KernelWork,
  MigrationCause,
  ResidencyBackend,
} from '../engine/backend.ts';
import { BLOCK_PAGES, BLOCK_WORDS, popcount32 as popcount } from '../units.ts';
import { machineCosts } from './machine-costs.ts';

/** {@link ResidencyBackend} with operations that take simulated time on a real kernel. */
export interface AsyncResidencyBackend
  extends Omit<
    ResidencyBackend,
    | 'migrateToGpu'
    | 'evictToCpu'
    | 'cpuAccess'
    | 'duplicateToGpu'
    | 'collapseOnGpu'
    | 'duplicateToCpu'
    | 'gpuFirstTouch'
  > {
  /** @see ResidencyBackend.gpuFirstTouch */
  gpuFirstTouch(block: number): Promise<FirstTouch>;
  /** @see ResidencyBackend.duplicateToCpu */
  duplicateToCpu(block: number, mask: Uint32Array, maskOff: number): Promise<CpuDuplication>;
  /** @see ResidencyBackend.duplicateToGpu */
  duplicateToGpu(block: number, mask: Uint32Array, maskOff: number): Promise<GpuMigration>;
  /** @see ResidencyBackend.collapseOnGpu */
  collapseOnGpu(block: number, mask: Uint32Array, maskOff: number): Promise<Collapse>;
  /** @see ResidencyBackend.migrateToGpu */
  migrateToGpu(
    block: number,
    mask: Uint32Array,
    maskOff: number,
    cause: MigrationCause,
  ): Promise<GpuMigration>;
  /** @see ResidencyBackend.evictToCpu */
  evictToCpu(block: number, mask: Uint32Array, maskOff: number): Promise<Eviction>;
  /** @see ResidencyBackend.cpuAccess */
  cpuAccess(block: number, mask: Uint32Array, maskOff: number, write: boolean): Promise<CpuAccess>;
}

/**
 * The largest footprint the functional tier takes: the machine holds the footprint twice (system
 * pages and the device's backing pages), every page with data, in the host's memory.
 */
export const FUNCTIONAL_MAX_BYTES = 256 * 1024 * 1024;

/** Options of {@link FunctionalBackend.create}. */
export interface FunctionalBackendOptions {
  /** Pages of the footprint (base pages; at most {@link FUNCTIONAL_MAX_BYTES} worth). */
  readonly pageCount: number;
  /** The platform whose kernel and device costs the machine takes. */
  readonly platform: PlatformParams;
  /** Seed of the machine (default 1). */
  readonly seed?: number;
  /**
   * The race explorer's oracles to watch the run (mirror, use-after-free, lost-data, balance…):
   * attached before the process exists; their violations collect in
   * {@link FunctionalBackend.violations}.
   */
  readonly oracles?: readonly Oracle[];
}

/** A violation an oracle reported during a functional run. */
export interface FunctionalViolation {
  readonly oracle: string;
  readonly message: string;
  /** Virtual time (ns). */
  readonly time: number;
}

/** Page states read from the CPU page table. */
const NONE = 0;
const CPU = 1;
const GPU = 2;
const OTHER = 3;

/** The functional tier's backend. */
export class FunctionalBackend implements AsyncResidencyBackend {
  readonly tier = 'functional';
  readonly blockCount: number;
  readonly gpuResident: Uint32Array;
  readonly cpuMapped: Uint32Array;
  readonly populated: Uint32Array;
  readonly gpuTouched: Uint8Array;
  /**
   * Read-duplicated pages: the device copies the driver holds. The driver watches each with an
   * interval notifier of its own (one page each, {@link dupWatch}): any invalidation of the page
   * — whatever changes the CPU's mapping, a write-protection lift included — drops the copy in
   * the callback.
   */
  readonly readDuplicated: Uint32Array;
  /** The interval notifiers watching read-duplicated pages, by page number of the footprint. */
  private readonly dupWatch = new Map<number, MmuIntervalNotifier>();
  /** CPU-mapped pages whose VMA the driver write-protected (read from the VMAs). */
  readonly cpuReadOnly: Uint32Array;
  readonly counters: BackendCounters = { invalidations: 0, ebusyRetries: 0 };
  /** What the attached oracles reported, in order. */
  readonly violations: FunctionalViolation[];
  /** The attached oracles (started after set-up, checked and detached at {@link close}). */
  private oracleInstances: OracleInstance[] = [];
  /** Start address of the footprint in the process (2 MiB aligned). */
  readonly base: number;
  private readonly tmp = new Uint32Array(BLOCK_WORDS);
  private readonly state = new Uint8Array(BLOCK_PAGES);

  private constructor(
    readonly machine: Machine,
    readonly process: Process,
    readonly file: DmirrorFile,
    readonly pageCount: number,
    base: number,
    violations: FunctionalViolation[],
  ) {
    this.base = base;
    this.violations = violations;
    this.blockCount = Math.ceil(pageCount / BLOCK_PAGES);
    const words = this.blockCount * BLOCK_WORDS;
    this.gpuResident = new Uint32Array(words);
    this.cpuMapped = new Uint32Array(words);
    this.populated = new Uint32Array(words);
    this.gpuTouched = new Uint8Array(this.blockCount);
    this.readDuplicated = new Uint32Array(words);
    this.cpuReadOnly = new Uint32Array(words);
  }

  /**
   * Builds the machine (RAM for the footprint twice over, the platform's kernel and device
   * costs), the process with the footprint mapped (2 MiB aligned, anonymous, no THP: the workload
   * model counts base pages), and the GPU (a device-private dmirror device opened by the process).
   */
  static async create(options: FunctionalBackendOptions): Promise<FunctionalBackend> {
    const bytes = options.pageCount * PAGE_SIZE;
    if (!Number.isSafeInteger(options.pageCount) || options.pageCount <= 0)
      throw new RangeError(
        `functional tier: the footprint must be a positive number of pages, got ${options.pageCount}`,
      );
    if (bytes > FUNCTIONAL_MAX_BYTES)
      throw new RangeError(
        `functional tier: a footprint of ${bytes} bytes is above its limit of ${FUNCTIONAL_MAX_BYTES} bytes (256 MiB); use the fast tier`,
      );
    const span = Math.ceil(bytes / PMD_SIZE) * PMD_SIZE;
    const costs = machineCosts(options.platform);
    const machine = new Machine({
      memory: 2 * span + 64 * 1024 * 1024,
      hugetlbPages: 0,
      seed: options.seed ?? 1,
      costs: costs.kernel,
    });
    const violations: FunctionalViolation[] = [];
    const ctx = {
      machine,
      violate: (oracle: string, message: string): void => {
        violations.push({ oracle, message, time: machine.sched.clock.now });
      },
    };
    const instances = (options.oracles ?? []).map((o) => o(ctx));
    const device = machine.addDmirrorDevice({ costs: costs.device });
    const process = await machine.createProcess();
    const raw = await process.mmap(
      0,
      span + PMD_SIZE,
      PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS,
      -1,
      0,
    );
    if (raw < 0) throw new Error(`functional tier: mmap of the footprint failed (${raw})`);
    const base = Math.ceil(raw / PMD_SIZE) * PMD_SIZE;
    if (base > raw) await process.munmap(raw, base - raw);
    if (raw + span + PMD_SIZE > base + span) await process.munmap(base + span, raw + PMD_SIZE - base);
    const r = await process.madvise(base, span, MADV_NOHUGEPAGE);
    if (r !== 0) throw new Error(`functional tier: madvise failed (${r})`);
    const file = await device.open(process);
    const backend = new FunctionalBackend(machine, process, file, options.pageCount, base, violations);
    backend.oracleInstances = instances;
    for (const o of instances) o.started?.();
    return backend;
  }

  /** Address of page `p` of block `block`. */
  private addr(block: number, p: number): number {
    return this.base + (block * BLOCK_PAGES + p) * PAGE_SIZE;
  }

  /** Pages of block `b` inside the footprint. */
  blockPages(b: number): number {
    return Math.min(BLOCK_PAGES, this.pageCount - b * BLOCK_PAGES);
  }

  /** Reads the state of every page of `block` from the CPU page table into `this.state`. */
  private readBlock(block: number): void {
    const k = this.machine;
    const mm = this.process.mm;
    const w = k.pt.words;
    const n = this.blockPages(block);
    const vpn0 = this.addr(block, 0) / PAGE_SIZE;
    const pmd = findEntry(k.pt, mm.pgd, vpn0, 2);
    const pmdLo = pmd >= 0 ? w[pmd]! : 0;
    for (let p = 0; p < n; p++) {
      let lo: number;
      if ((pmdLo & PTE_LEAF) !== 0) lo = pmdLo;
      else {
        const off = findEntry(k.pt, mm.pgd, vpn0 + p, 1);
        lo = off >= 0 ? w[off]! : 0;
      }
      const kind = lo & PTE_KIND_MASK;
      this.state[p] = lo === 0 ? NONE : kind === PTE_PRESENT ? CPU : isDevicePrivateKind(kind) ? GPU : OTHER;
    }
    this.state.fill(NONE, n);
  }

  /** Rewrites the bitmaps of `block` from the page table, the VMAs and the device's mirror. */
  private syncBlock(block: number): void {
    this.readBlock(block);
    const base = block * BLOCK_WORDS;
    const mm = this.process.mm;
    let vmaEnd = -1;
    let writable = true;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      let gpu = 0;
      let cpu = 0;
      let pop = 0;
      let ro = 0;
      let dup = 0;
      const had = this.readDuplicated[base + i]!;
      for (let b = 0; b < 32; b++) {
        const p = i * 32 + b;
        const s = this.state[p]!;
        if (s === GPU) gpu |= 1 << b;
        if (s === CPU) {
          cpu |= 1 << b;
          const a = this.addr(block, p);
          if (a >= vmaEnd) {
            const vma = mm.vmaLookup(a);
            vmaEnd = vma === null ? a + PAGE_SIZE : vma.end;
            writable = vma !== null && (vma.flags & VM_WRITE) !== 0;
          }
          if (!writable) ro |= 1 << b;
          if (((had >>> b) & 1) === 1) dup |= 1 << b;
        }
        if (s !== NONE) pop |= 1 << b;
      }
      this.readDuplicated[base + i] = dup >>> 0;
      this.cpuReadOnly[base + i] = ro >>> 0;
      this.gpuResident[base + i] = (gpu | dup) >>> 0;
      this.cpuMapped[base + i] = cpu >>> 0;
      // Data once written stays somewhere (the model never drops pages).
      this.populated[base + i] = (this.populated[base + i]! | pop) >>> 0;
    }
  }

  /** The kernel's work counters now. */
  private work(): KernelWorkCounts {
    return { ...this.machine.work };
  }

  /** What the kernel did since `before`, in the engine's terms. */
  private workSince(before: KernelWorkCounts): KernelWork {
    const w = this.machine.work;
    return {
      ptes: w.zapPtes - before.zapPtes,
      ranges: w.zapRanges - before.zapRanges,
      shootdowns: w.tlbShootdowns - before.tlbShootdowns,
      callbacks: w.notifierCallbacks - before.notifierCallbacks,
      pages: w.migratePages - before.migratePages,
      folios: w.migrateFolios - before.migrateFolios,
    };
  }

  /** Calls `f(first, count)` for each run of set bits of `m` (`BLOCK_WORDS` words). */
  private static async forRuns(
    m: Uint32Array,
    f: (first: number, count: number) => Promise<void>,
  ): Promise<number[]> {
    const runs: number[] = [];
    let start = -1;
    for (let p = 0; p <= BLOCK_PAGES; p++) {
      const on = p < BLOCK_PAGES && ((m[p >>> 5]! >>> (p & 31)) & 1) === 1;
      if (on && start < 0) start = p;
      else if (!on && start >= 0) {
        runs.push(p - start);
        await f(start, p - start);
        start = -1;
      }
    }
    return runs;
  }

  async migrateToGpu(
    block: number,
    mask: Uint32Array,
    maskOff: number,
    _cause: MigrationCause,
  ): Promise<GpuMigration> {
    this.syncBlock(block);
    const base = block * BLOCK_WORDS;
    const want = this.tmp;
    let cpuUnmapped = 0;
    let zeroed = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      want[i] = mask[maskOff + i]! & ~this.gpuResident[base + i]!;
      cpuUnmapped += popcount(want[i]! & this.cpuMapped[base + i]!);
      zeroed += popcount(want[i]! & ~this.populated[base + i]!);
    }
    const before = this.work();
    const wasResident = this.countResident(block);
    // The GPU's first touch of the block: the driver mirrors the block's CPU mappings
    // (hmm_range_fault without faulting), as a driver DMA-maps them.
    const firstTouch = await this.firstTouch(block, want);
    await this.liftProtection(block, want);
    await FunctionalBackend.forRuns(want, async (first, count) => {
      const r = await this.file.migrateToDev(this.addr(block, first), count);
      if (r.ret !== 0)
        throw new Error(
          `functional tier: MIGRATE_TO_DEV of block ${block} pages ${first}+${count} failed (${r.ret})`,
        );
    });
    return this.gpuMigrationResult(block, before, wasResident, cpuUnmapped, zeroed, firstTouch);
  }

  /** What a move or copy of pages of `block` to the GPU did, read back from the kernel. */
  private gpuMigrationResult(
    block: number,
    before: KernelWorkCounts,
    wasResident: number,
    cpuUnmapped: number,
    zeroed: number,
    firstTouch: boolean,
  ): GpuMigration {
    this.syncBlock(block);
    const pages = this.countResident(block) - wasResident;
    const kernel = this.workSince(before);
    this.counters.invalidations += kernel.callbacks;
    return {
      pages,
      cpuUnmapped,
      zeroed,
      copied: pages - zeroed,
      firstTouch,
      dmaMapped: firstTouch ? this.blockPages(block) : 0,
      kernel,
    };
  }

  /** The GPU's first touch of `block`: the driver mirrors the block's CPU mappings (SNAPSHOT). */
  private async firstTouch(block: number, want: Uint32Array): Promise<boolean> {
    if (this.gpuTouched[block] !== 0 || !want.some((x) => x !== 0)) return false;
    this.gpuTouched[block] = 1;
    const r = await this.file.snapshot(this.addr(block, 0), this.blockPages(block));
    if (r.ret !== 0) throw new Error(`functional tier: SNAPSHOT of block ${block} failed (${r.ret})`);
    return true;
  }

  /**
   * Starts watching page `q` of `block` (an interval notifier over its 4 KiB whose callback drops
   * the device copy); returns the sequence number to check the copy against.
   */
  private async watch(block: number, q: number): Promise<number> {
    const key = block * BLOCK_PAGES + q;
    let sub = this.dupWatch.get(key);
    if (sub === undefined) {
      sub = new MmuIntervalNotifier();
      const word = block * BLOCK_WORDS + (q >>> 5);
      const bit = 1 << (q & 31);
      const ret = await mmuIntervalNotifierInsert(sub, this.process.mm, this.addr(block, q), PAGE_SIZE, {
        invalidate: (s: MmuIntervalNotifier, _range: MmuNotifierRange, curSeq: number): boolean => {
          mmuIntervalSetSeq(s, curSeq);
          this.readDuplicated[word]! &= ~bit;
          return true;
        },
      });
      if (ret !== 0) throw new Error(`functional tier: mmu_interval_notifier_insert failed (${ret})`);
      this.dupWatch.set(key, sub);
    }
    return mmuIntervalReadBegin(sub);
  }

  /** Stops watching the pages of `block` whose device copy is gone. */
  private async unwatchDropped(block: number): Promise<void> {
    for (let q = 0; q < BLOCK_PAGES; q++) {
      const key = block * BLOCK_PAGES + q;
      const sub = this.dupWatch.get(key);
      if (sub === undefined) continue;
      if (((this.readDuplicated[block * BLOCK_WORDS + (q >>> 5)]! >>> (q & 31)) & 1) === 1) continue;
      this.dupWatch.delete(key);
      await mmuIntervalNotifierRemove(sub);
    }
  }

  /**
   * Lifts the CPU's write protection of the pages of `m` of `block` that have it (mprotect back to
   * read-write, per run: a PROTECTION_VMA invalidation, which drops the device's mirror of them);
   * returns the pages lifted. Read-only VMAs hold CPU-mapped pages only: every path that takes a
   * page away from the CPU lifts its protection first.
   */
  private async liftProtection(block: number, m: Uint32Array): Promise<number> {
    const base = block * BLOCK_WORDS;
    const wp = new Uint32Array(BLOCK_WORDS);
    let n = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      wp[i] = m[i]! & this.cpuReadOnly[base + i]!;
      n += popcount(wp[i]!);
    }
    if (n === 0) return 0;
    await FunctionalBackend.forRuns(wp, async (first, count) => {
      const p = await this.process.mprotect(
        this.addr(block, first),
        count * PAGE_SIZE,
        PROT_READ | PROT_WRITE,
      );
      if (p !== 0)
        throw new Error(`functional tier: mprotect(PROT_READ|PROT_WRITE) of block ${block} failed (${p})`);
    });
    await this.unwatchDropped(block);
    this.syncBlock(block);
    return n;
  }

  /**
   * Read duplication, per run: the driver write-protects the CPU's mapping (`mprotect` to
   * PROT_READ stands in for nvidia-uvm's revocation of CPU write on its own VMA: a
   * PROTECTION_VMA invalidation), then the device faults the pages in read-only and copies them
   * (dmirror READ: `hmm_range_fault` fills its mirror). The CPU page stays mapped, read-only.
   */
  async duplicateToGpu(block: number, mask: Uint32Array, maskOff: number): Promise<GpuMigration> {
    this.syncBlock(block);
    const base = block * BLOCK_WORDS;
    const want = this.tmp;
    let cpuUnmapped = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      want[i] = mask[maskOff + i]! & ~this.gpuResident[base + i]! & this.populated[base + i]!;
      cpuUnmapped += popcount(want[i]! & this.cpuMapped[base + i]! & ~this.cpuReadOnly[base + i]!);
    }
    const before = this.work();
    const wasResident = this.countResident(block);
    const firstTouch = await this.firstTouch(block, want);
    await this.protectAndCopy(block, want);
    return this.gpuMigrationResult(block, before, wasResident, cpuUnmapped, 0, firstTouch);
  }

  /** The GPU's first remote mapping in `block`: the driver mirrors the block's CPU mappings (SNAPSHOT). */
  async gpuFirstTouch(block: number): Promise<FirstTouch> {
    const before = this.work();
    const touched = await this.firstTouch(block, ALL_PAGES);
    return { dmaMapped: touched ? this.blockPages(block) : 0, kernel: this.workSince(before) };
  }

  /**
   * Read duplication to the CPU (a CPU read fault on a read-mostly block): the pages come back
   * through real CPU faults (the device's `migrate_to_ram`), then the device takes its copies
   * again as {@link duplicateToGpu} does, so both hold the page and the CPU maps it read-only.
   */
  async duplicateToCpu(block: number, mask: Uint32Array, maskOff: number): Promise<CpuDuplication> {
    this.syncBlock(block);
    const base = block * BLOCK_WORDS;
    const want = this.tmp;
    let pages = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      want[i] = mask[maskOff + i]! & this.gpuResident[base + i]! & ~this.readDuplicated[base + i]!;
      pages += popcount(want[i]!);
    }
    const before = this.work();
    if (pages > 0) {
      await FunctionalBackend.forRuns(want, async (first, count) => {
        for (let q = first; q < first + count; q++) await this.process.read(this.addr(block, q), WORD.length);
      });
      await this.protectAndCopy(block, want);
    }
    this.syncBlock(block);
    const kernel = this.workSince(before);
    this.counters.invalidations += kernel.callbacks;
    return { pages, kernel };
  }

  /**
   * Per run of `want` (pages of `block` mapped on the CPU): write-protects the CPU's mapping,
   * starts watching each page, and lets the device read the run (its copy); sets the pages'
   * read-duplicated bits unless an invalidation came in between.
   */
  private async protectAndCopy(block: number, want: Uint32Array): Promise<void> {
    const base = block * BLOCK_WORDS;
    await FunctionalBackend.forRuns(want, async (first, count) => {
      const addr = this.addr(block, first);
      const p = await this.process.mprotect(addr, count * PAGE_SIZE, PROT_READ);
      if (p !== 0) throw new Error(`functional tier: mprotect(PROT_READ) of block ${block} failed (${p})`);
      // The copies are watched from before they are taken (mmu_interval_read_begin … retry).
      const seqs: number[] = [];
      for (let q = first; q < first + count; q++) seqs.push(await this.watch(block, q));
      const r = await this.file.read(addr, count);
      if (r.ret !== 0)
        throw new Error(`functional tier: READ of block ${block} pages ${first}+${count} failed (${r.ret})`);
      for (let q = first; q < first + count; q++) {
        const sub = this.dupWatch.get(block * BLOCK_PAGES + q)!;
        if (!mmuIntervalReadRetry(sub, seqs[q - first]!))
          this.readDuplicated[base + (q >>> 5)]! |= 1 << (q & 31);
      }
    });
    await this.unwatchDropped(block);
  }

  /**
   * A GPU write to read-duplicated pages, per run: the CPU's write protection is lifted
   * (`mprotect` back to read-write: a PROTECTION_VMA invalidation, which drops the device's
   * mirror), and the pages move to the device (`migrate_vma`: the CPU copy is unmapped and freed).
   */
  async collapseOnGpu(block: number, mask: Uint32Array, maskOff: number): Promise<Collapse> {
    this.syncBlock(block);
    const base = block * BLOCK_WORDS;
    const want = this.tmp;
    let cpuUnmapped = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      want[i] = mask[maskOff + i]! & this.readDuplicated[base + i]!;
      cpuUnmapped += popcount(want[i]! & this.cpuMapped[base + i]!);
    }
    const before = this.work();
    // liftProtection drops the mirror, so the copies are forgotten first: the pages move now.
    const moving = want.slice();
    await this.liftProtection(block, moving);
    await FunctionalBackend.forRuns(moving, async (first, count) => {
      const r = await this.file.migrateToDev(this.addr(block, first), count);
      if (r.ret !== 0)
        throw new Error(`functional tier: MIGRATE_TO_DEV (collapse) of block ${block} failed (${r.ret})`);
    });
    this.syncBlock(block);
    let pages = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) pages += popcount(moving[i]! & this.gpuResident[base + i]!);
    const kernel = this.workSince(before);
    this.counters.invalidations += kernel.callbacks;
    return { pages, cpuUnmapped, kernel };
  }

  async evictToCpu(block: number, mask: Uint32Array, maskOff: number): Promise<Eviction> {
    this.syncBlock(block);
    const base = block * BLOCK_WORDS;
    const t = this.tmp;
    // Read-duplicated pages: the device frees its copy; the CPU's (read-only) stays as it is.
    let dropped = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      const dup = mask[maskOff + i]! & this.readDuplicated[base + i]!;
      dropped += popcount(dup);
      this.readDuplicated[base + i]! &= ~dup;
      t[i] = mask[maskOff + i]! & this.gpuResident[base + i]! & ~dup;
    }
    if (dropped > 0) await this.unwatchDropped(block);
    const before = this.work();
    const wasResident = this.countResident(block);
    const runs = await FunctionalBackend.forRuns(t, async (first, count) => {
      const r = await this.file.migrateToSys(this.addr(block, first), count);
      if (r.ret !== 0)
        throw new Error(
          `functional tier: MIGRATE_TO_SYS of block ${block} pages ${first}+${count} failed (${r.ret})`,
        );
    });
    this.syncBlock(block);
    const kernel = this.workSince(before);
    this.counters.invalidations += kernel.callbacks;
    return { pages: wasResident - this.countResident(block), dropped, runs, kernel };
  }

  async cpuAccess(block: number, mask: Uint32Array, maskOff: number, write: boolean): Promise<CpuAccess> {
    this.syncBlock(block);
    const base = block * BLOCK_WORDS;
    const m = this.tmp;
    let populated = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      m[i] = mask[maskOff + i]!;
      populated += popcount(m[i]! & ~this.populated[base + i]!);
    }
    const before = this.work();
    const wasResident = this.countResident(block);
    // A write to a write-protected page: the protection is lifted first (mprotect back to
    // read-write stands in for nvidia-uvm's CPU write fault on its own VMA). Its PROTECTION_VMA
    // invalidation reaches the device through the interval notifier and drops the device's copy.
    const writeProtected = write ? await this.liftProtection(block, m) : 0;
    const droppedCopies = wasResident - this.countResident(block);
    await FunctionalBackend.forRuns(m, async (first, count) => {
      const addr = this.addr(block, first);
      // One word per page: a real CPU access of every page of the run, in address order.
      for (let p = 0; p < count; p++) {
        const a = addr + p * PAGE_SIZE;
        if (write) await this.process.write(a, WORD);
        else await this.process.read(a, WORD.length);
      }
    });
    this.syncBlock(block);
    const kernel = this.workSince(before);
    this.counters.invalidations += kernel.callbacks;
    const runs: number[] = [];
    // Each device-private page the CPU touched came back through its own fault (migrate_to_ram
    // of the faulting page): one transfer per page — except a PMD-mapped device THP, which
    // dmirror_devmem_fault migrates whole (MIGRATE_VMA_SELECT_COMPOUND): one transfer of the
    // folio. The kernel's count of folios migrated tells how many pages came back as THPs.
    const migratedBack = wasResident - droppedCopies - this.countResident(block);
    const thps =
      kernel.folios < kernel.pages ? Math.round((kernel.pages - kernel.folios) / (BLOCK_PAGES - 1)) : 0;
    for (let i = 0; i < thps; i++) runs.push(BLOCK_PAGES);
    for (let i = 0; i < migratedBack - thps * BLOCK_PAGES; i++) runs.push(1);
    return {
      migratedBack,
      runs,
      populated,
      collapsed: droppedCopies,
      // The write-protection faults the mprotect stands in for, and the real ones.
      faults: writeProtected + this.machine.work.pageFaults - before.pageFaults,
      kernel,
    };
  }

  /** GPU-resident pages of `block` (from the bitmap). */
  private countResident(block: number): number {
    let n = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) n += popcount(this.gpuResident[block * BLOCK_WORDS + i]!);
    return n;
  }

  /** Virtual time of the machine (ns). */
  get nowNs(): number {
    return this.machine.sched.clock.now;
  }

  /**
   * Closes the GPU and ends the process, runs the oracles' end-of-run checks (balance: every
   * frame given back), and gives the machine's memory back.
   */
  async close(): Promise<void> {
    for (const sub of this.dupWatch.values()) await mmuIntervalNotifierRemove(sub);
    this.dupWatch.clear();
    await this.file.close();
    await this.process.exit();
    for (const o of this.oracleInstances) o.atEnd?.();
    for (const o of this.oracleInstances) o.detach?.();
    this.machine.dispose();
  }
}

/** A mask of every page of a block. */
const ALL_PAGES = new Uint32Array(BLOCK_WORDS).fill(0xffffffff);

/** The word a CPU access reads or writes in each page. */
const WORD = new Uint8Array([0x5a, 0x5a, 0x5a, 0x5a]);

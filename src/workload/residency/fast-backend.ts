/**
 * The fast tier's residency: per-2 MiB bitmaps in typed arrays, no per-page objects. CPU-side
 * state is what the cost model needs: which pages hold data, which are mapped on the CPU, which
 * blocks the GPU has touched (DMA-mapped).
 *
 * Kernel-side work of a migration to the GPU is counted the way the functional tier's real kernel
 * does it ({@link migrateVmaWork}, checked call by call by the differential test).
 * @module
 */
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
import { NO_KERNEL_WORK } from '../engine/backend.ts';
import * as units from '../units.ts';

// Local copies: imported bindings are read through getters by some loaders, too slow in hot loops.
const { BLOCK_PAGES, BLOCK_SHIFT, BLOCK_WORDS, popcount32 } = units;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Appends the contiguous runs of `m` (words at off) to `runs`, in page counts. */
export function maskRuns(m: Uint32Array, off: number, runs: number[]): void {
  let run = 0;
  for (let p = 0; p < BLOCK_PAGES; p++) {
    if ((m[off + (p >>> 5)]! >>> (p & 31)) & 1) run++;
    else if (run > 0) {
      runs.push(run);
      run = 0;
    }
  }
  if (run > 0) runs.push(run);
}

/**
 * The kernel's work for migrating the pages of `want` (one block) to the GPU the way the real
 * kernel does it under a driver that migrates each contiguous run with one `migrate_vma`:
 * per run one MIGRATE invalidation for the collect (one notifier callback), one more when the
 * run has empty slots to fill (`migrate_vma_pages` inserting pages), one TLB flush when present
 * PTEs were replaced by migration entries; no zapped PTEs (migration entries, not unmap); one
 * folio per page, except an untouched whole 2 MiB block, which moves as one compound hole.
 * `cpuMapped` and `populated` are read at words `off…`; the result is written into `out`.
 */
export function migrateVmaWork(
  want: Uint32Array,
  cpuMapped: Uint32Array,
  populated: Uint32Array,
  blockPages: number,
  off = 0,
  out: Mutable<KernelWork> = { ...NO_KERNEL_WORK },
): KernelWork {
  let shootdowns = 0;
  let callbacks = 0;
  let pages = 0;
  let folios = 0;
  // The run being walked: its first page (−1 = none), whether any of its pages is CPU-mapped,
  // whether any is a hole. Runs are found a word at a time: the lowest set bit starts one, the
  // lowest clear bit above it ends it (bit tricks, no per-page loop).
  let start = -1;
  let mapped = false;
  let holes = false;
  for (let w = 0; w < BLOCK_WORDS; w++) {
    let rest = want[w]!;
    let bit = 0;
    while (bit < 32) {
      if (start < 0) {
        if (rest === 0) break;
        // Start a run at the lowest set bit.
        bit = 31 - Math.clz32(rest & -rest);
        start = w * 32 + bit;
        mapped = false;
        holes = false;
      }
      // Extent of the run inside this word: from `bit` up to the first clear bit.
      const inv = ~rest & (bit === 0 ? 0xffffffff : ~((1 << bit) - 1));
      const stop = inv === 0 ? 32 : 31 - Math.clz32(inv & -inv);
      const span =
        stop === 32 ? (bit === 0 ? 0xffffffff : ~((1 << bit) - 1)) : ((1 << stop) - 1) & ~((1 << bit) - 1);
      if ((cpuMapped[off + w]! & span) !== 0) mapped = true;
      if ((~populated[off + w]! & span) !== 0) holes = true;
      if (stop === 32) break; // the run may go on in the next word
      // The run ends at page w*32+stop.
      const n = w * 32 + stop - start;
      callbacks += holes ? 2 : 1;
      if (mapped) shootdowns++;
      pages += n;
      folios += n;
      start = -1;
      rest &= stop === 31 ? 0 : ~((1 << (stop + 1)) - 1);
      bit = stop + 1;
    }
  }
  if (start >= 0) {
    const n = BLOCK_PAGES - start;
    callbacks += holes ? 2 : 1;
    if (mapped) shootdowns++;
    pages += n;
    let untouched = n === BLOCK_PAGES && blockPages === BLOCK_PAGES;
    for (let i = 0; untouched && i < BLOCK_WORDS; i++) if (populated[off + i] !== 0) untouched = false;
    folios += untouched ? 1 : n;
  }
  out.ptes = 0;
  out.ranges = 0;
  out.shootdowns = shootdowns;
  out.callbacks = callbacks;
  out.pages = pages;
  out.folios = folios;
  return out;
}

/**
 * The kernel's work for changing the CPU's write protection of the pages of `m` (one block, words
 * at 0) to `readOnly`, the way `mprotect` does it on the functional tier: the pages whose
 * protection changes form VMA spans (maximal runs inside each run of `m`; pages already so
 * protected are skipped, as mprotect skips VMAs whose flags do not change), and each span costs
 * one PROTECTION_VMA invalidation (one notifier callback) and one TLB flush when a page of it is
 * mapped. The driver watches each read-duplicated page with an interval notifier of its own
 * (`dup`), so an invalidation of a span also calls back once per such page in it. `ro`, `mapped`
 * and `dup` are read at words `off…`; the counts are added to `out`.
 */
export function protectWork(
  m: Uint32Array,
  ro: Uint32Array,
  mapped: Uint32Array,
  dup: Uint32Array,
  off: number,
  readOnly: boolean,
  out: Mutable<KernelWork>,
): void {
  let inSpan = false;
  let spanMapped = false;
  for (let p = 0; p <= BLOCK_PAGES; p++) {
    const w = p >>> 5;
    const b = p & 31;
    const change =
      p < BLOCK_PAGES &&
      ((m[w]! >>> b) & 1) === 1 &&
      (((ro[off + w]! & mapped[off + w]!) >>> b) & 1) !== +readOnly;
    if (change) {
      if (!inSpan) {
        inSpan = true;
        spanMapped = false;
      }
      if (((mapped[off + w]! >>> b) & 1) === 1) spanMapped = true;
      if (((dup[off + w]! >>> b) & 1) === 1) out.callbacks++;
    } else if (inSpan) {
      inSpan = false;
      out.callbacks++;
      if (spanMapped) out.shootdowns++;
    }
  }
}

/** True when some page of `m` (one block, words at 0) is mapped read-only (words at `off`). */
function anyReadOnly(m: Uint32Array, ro: Uint32Array, mapped: Uint32Array, off: number): boolean {
  for (let i = 0; i < BLOCK_WORDS; i++) if ((m[i]! & ro[off + i]! & mapped[off + i]!) !== 0) return true;
  return false;
}

/** The fast tier's {@link ResidencyBackend}. */
export class FastBackend implements ResidencyBackend {
  readonly tier = 'fast';
  readonly blockCount: number;
  readonly gpuResident: Uint32Array;
  readonly cpuMapped: Uint32Array;
  readonly populated: Uint32Array;
  readonly gpuTouched: Uint8Array;
  // 1 where the block's GPU copy is one 2 MiB device folio (it arrived as one compound hole):
  // evicting all of it then moves one folio, as migrate_vma does on the functional tier.
  private readonly gpuFolio: Uint8Array;
  readonly readDuplicated: Uint32Array;
  readonly cpuReadOnly: Uint32Array;
  readonly counters: BackendCounters = { invalidations: 0, ebusyRetries: 0 };
  private readonly tmp = new Uint32Array(BLOCK_WORDS);
  private readonly want = new Uint32Array(BLOCK_WORDS);
  // migrateToGpu's result, reused from call to call (the interface allows it).
  private readonly work: Mutable<KernelWork> = { ...NO_KERNEL_WORK };
  private readonly migration: Mutable<GpuMigration> = {
    pages: 0,
    cpuUnmapped: 0,
    zeroed: 0,
    copied: 0,
    firstTouch: false,
    dmaMapped: 0,
    kernel: this.work,
  };

  /**
   * @param pageCount pages of the footprint
   * @param options `hmm`: migrations back to the CPU go through `migrate_vma` as in an HMM driver
   *   (the functional tier): evicted pages come back mapped on the CPU
   *   (`migrate_vma_finalize` restores present PTEs) and each evicted run costs one notifier
   *   callback. Default false: UVM's own eviction, which leaves them unmapped.
   */
  constructor(
    readonly pageCount: number,
    readonly options: { readonly hmm?: boolean } = {},
  ) {
    this.blockCount = Math.ceil(pageCount / BLOCK_PAGES);
    const words = this.blockCount * BLOCK_WORDS;
    this.gpuResident = new Uint32Array(words);
    this.cpuMapped = new Uint32Array(words);
    this.populated = new Uint32Array(words);
    this.gpuTouched = new Uint8Array(this.blockCount);
    this.gpuFolio = new Uint8Array(this.blockCount);
    this.readDuplicated = new Uint32Array(words);
    this.cpuReadOnly = new Uint32Array(words);
  }

  /** Pages of block `b` inside the footprint. */
  blockPages(b: number): number {
    return Math.min(BLOCK_PAGES, this.pageCount - (b << BLOCK_SHIFT));
  }

  migrateToGpu(block: number, mask: Uint32Array, maskOff: number, _cause: MigrationCause): GpuMigration {
    const base = block * BLOCK_WORDS;
    const want = this.want;
    const resident = this.gpuResident;
    const cpuMapped = this.cpuMapped;
    const populated = this.populated;
    let any = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      const w = mask[maskOff + i]! & ~resident[base + i]!;
      want[i] = w;
      any |= w;
    }
    // The kernel's work is read off the state before the move.
    const kernel = this.work;
    if (any === 0) Object.assign(kernel, NO_KERNEL_WORK);
    else {
      migrateVmaWork(want, cpuMapped, populated, this.blockPages(block), base, kernel);
      // Write-protected pages (read duplication) get their protection lifted first.
      if (anyReadOnly(want, this.cpuReadOnly, cpuMapped, base))
        protectWork(want, this.cpuReadOnly, cpuMapped, this.readDuplicated, base, false, kernel);
    }
    let pages = 0;
    let cpuUnmapped = 0;
    let zeroed = 0;
    if (any !== 0) {
      for (let i = 0; i < BLOCK_WORDS; i++) {
        const w = want[i]!;
        if (w === 0) continue;
        pages += popcount32(w);
        cpuUnmapped += popcount32(w & cpuMapped[base + i]!);
        zeroed += popcount32(w & ~populated[base + i]!);
        resident[base + i]! |= w;
        cpuMapped[base + i]! &= ~w;
        this.cpuReadOnly[base + i]! &= ~w;
        populated[base + i]! |= w;
      }
    }
    return this.finishMigration(block, pages, cpuUnmapped, zeroed);
  }

  /** Fills the reused migration result (first touch, DMA map, invalidations). */
  private finishMigration(block: number, pages: number, cpuUnmapped: number, zeroed: number): GpuMigration {
    const kernel = this.work;
    const firstTouch = pages > 0 && this.gpuTouched[block] === 0;
    if (firstTouch) this.gpuTouched[block] = 1;
    if (pages === BLOCK_PAGES && kernel.folios === 1) this.gpuFolio[block] = 1;
    // Every MIGRATE invalidation reaches the GPU's own mirror (which ignores its own migrations).
    this.counters.invalidations += kernel.callbacks;
    const r = this.migration;
    r.pages = pages;
    r.cpuUnmapped = cpuUnmapped;
    r.zeroed = zeroed;
    r.copied = pages - zeroed;
    r.firstTouch = firstTouch;
    r.dmaMapped = firstTouch ? this.blockPages(block) : 0;
    return r;
  }

  duplicateToGpu(block: number, mask: Uint32Array, maskOff: number): GpuMigration {
    const base = block * BLOCK_WORDS;
    const want = this.want;
    for (let i = 0; i < BLOCK_WORDS; i++)
      want[i] = mask[maskOff + i]! & ~this.gpuResident[base + i]! & this.populated[base + i]!;
    Object.assign(this.work, NO_KERNEL_WORK);
    protectWork(want, this.cpuReadOnly, this.cpuMapped, this.readDuplicated, base, true, this.work);
    let pages = 0;
    let revoked = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      const w = want[i]!;
      if (w === 0) continue;
      pages += popcount32(w);
      // block_prep_read_duplicate_mapping: write revoked from the CPU where it could write.
      revoked += popcount32(w & this.cpuMapped[base + i]! & ~this.cpuReadOnly[base + i]!);
      this.gpuResident[base + i]! |= w;
      this.readDuplicated[base + i]! |= w;
      this.cpuReadOnly[base + i]! |= w & this.cpuMapped[base + i]!;
    }
    return this.finishMigration(block, pages, revoked, 0);
  }

  collapseOnGpu(block: number, mask: Uint32Array, maskOff: number): Collapse {
    const base = block * BLOCK_WORDS;
    const want = this.want;
    for (let i = 0; i < BLOCK_WORDS; i++) want[i] = mask[maskOff + i]! & this.readDuplicated[base + i]!;
    // The CPU's protection is lifted, then the pages move as a migration does (the CPU copy freed).
    const kernel: Mutable<KernelWork> = { ...NO_KERNEL_WORK };
    migrateVmaWork(want, this.cpuMapped, this.populated, this.blockPages(block), base, kernel);
    protectWork(want, this.cpuReadOnly, this.cpuMapped, this.readDuplicated, base, false, kernel);
    this.counters.invalidations += kernel.callbacks;
    let pages = 0;
    let cpuUnmapped = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      const w = want[i]!;
      if (w === 0) continue;
      pages += popcount32(w);
      cpuUnmapped += popcount32(w & this.cpuMapped[base + i]!);
      this.readDuplicated[base + i]! &= ~w;
      this.cpuMapped[base + i]! &= ~w;
      this.cpuReadOnly[base + i]! &= ~w;
    }
    return { pages, cpuUnmapped, kernel };
  }

  gpuFirstTouch(block: number): FirstTouch {
    if (this.gpuTouched[block] !== 0) return { dmaMapped: 0, kernel: NO_KERNEL_WORK };
    this.gpuTouched[block] = 1;
    return { dmaMapped: this.blockPages(block), kernel: NO_KERNEL_WORK };
  }

  duplicateToCpu(block: number, mask: Uint32Array, maskOff: number): CpuDuplication {
    const base = block * BLOCK_WORDS;
    const want = this.want;
    let pages = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      want[i] = mask[maskOff + i]! & this.gpuResident[base + i]! & ~this.readDuplicated[base + i]!;
      pages += popcount32(want[i]!);
    }
    const kernel: Mutable<KernelWork> = { ...NO_KERNEL_WORK, pages, folios: pages };
    if (pages === 0) return { pages, kernel };
    // The copies come back as a CPU fault brings pages back (under HMM one migrate_to_ram per
    // page, one invalidation each; UVM one per region), then the CPU's write is revoked.
    if (this.options.hmm) kernel.callbacks = pages;
    else this.counters.invalidations++;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      this.cpuMapped[base + i]! |= want[i]!;
      this.cpuReadOnly[base + i]! &= ~want[i]!;
    }
    protectWork(want, this.cpuReadOnly, this.cpuMapped, this.readDuplicated, base, true, kernel);
    for (let i = 0; i < BLOCK_WORDS; i++) {
      this.readDuplicated[base + i]! |= want[i]!;
      this.cpuReadOnly[base + i]! |= want[i]!;
    }
    this.counters.invalidations += kernel.callbacks;
    return { pages, kernel };
  }

  evictToCpu(block: number, mask: Uint32Array, maskOff: number): Eviction {
    const base = block * BLOCK_WORDS;
    const t = this.tmp;
    let pages = 0;
    let dropped = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      const freed = mask[maskOff + i]! & this.gpuResident[base + i]!;
      pages += popcount32(freed);
      this.gpuResident[base + i]! &= ~freed;
      // Read-duplicated pages are current in system memory: freed, not copied; the CPU keeps its
      // read-only mapping (break_read_duplication_in_region).
      const dup = freed & this.readDuplicated[base + i]!;
      dropped += popcount32(dup);
      this.readDuplicated[base + i]! &= ~dup;
      t[i] = freed & ~dup;
    }
    const runs: number[] = [];
    maskRuns(t, 0, runs);
    // A block that arrived as one device folio and is evicted whole (nothing dropped) moves as one.
    const whole = pages === BLOCK_PAGES && dropped === 0 && this.gpuFolio[block] === 1;
    this.gpuFolio[block] = 0;
    const moved = pages - dropped;
    if (this.options.hmm) {
      const folios = whole ? 1 : moved;
      // migrate_vma per run: one MIGRATE invalidation each; the pages come back mapped.
      for (let i = 0; i < BLOCK_WORDS; i++) this.cpuMapped[base + i]! |= t[i]!;
      this.counters.invalidations += runs.length;
      return {
        pages,
        dropped,
        runs,
        kernel: { ptes: 0, ranges: 0, shootdowns: 0, callbacks: runs.length, pages: moved, folios },
      };
    }
    // Evicted pages land in CPU memory unmapped: the next CPU access maps them (a minor fault).
    return {
      pages,
      dropped,
      runs,
      kernel: { ptes: 0, ranges: 0, shootdowns: 0, callbacks: 0, pages: moved, folios: moved },
    };
  }

  cpuAccess(block: number, mask: Uint32Array, maskOff: number, write: boolean): CpuAccess {
    const base = block * BLOCK_WORDS;
    const t = this.tmp;
    t.fill(0);
    let migratedBack = 0;
    let populated = 0;
    let faults = 0;
    let collapsed = 0;
    const lift: Mutable<KernelWork> = { ...NO_KERNEL_WORK };
    if (
      write &&
      anyReadOnly(mask.subarray(maskOff, maskOff + BLOCK_WORDS), this.cpuReadOnly, this.cpuMapped, base)
    )
      protectWork(
        mask.subarray(maskOff, maskOff + BLOCK_WORDS),
        this.cpuReadOnly,
        this.cpuMapped,
        this.readDuplicated,
        base,
        false,
        lift,
      );
    // HMM: a CPU fault on a page of a PMD-mapped device-private THP migrates the whole folio
    // (lib/test_hmm.c dmirror_devmem_fault: the range is the folio, ALIGN_DOWN to its size, with
    // MIGRATE_VMA_SELECT_COMPOUND; order 0 only when the fault came through a PTE, i.e. the
    // folio was split): one fault, one migrate_vma, one copy, and all of it mapped on return.
    let folioBack = false;
    if (this.options.hmm && this.gpuFolio[block] === 1) {
      for (let i = 0; i < BLOCK_WORDS; i++)
        if ((mask[maskOff + i]! & this.gpuResident[base + i]! & ~this.readDuplicated[base + i]!) !== 0)
          folioBack = true;
    }
    if (folioBack) {
      faults++;
      this.gpuFolio[block] = 0;
    }
    for (let i = 0; i < BLOCK_WORDS; i++) {
      const dup = this.readDuplicated[base + i]!;
      const folio = folioBack ? this.gpuResident[base + i]! & ~dup : 0;
      const mm = mask[maskOff + i]!;
      if ((mm | folio) === 0) continue;
      // The folio's pages are mapped by its one fault: only the other pages fault below.
      this.cpuMapped[base + i]! |= folio;
      this.populated[base + i]! |= folio;
      const m = mm & ~folio;
      const back = (m & this.gpuResident[base + i]! & ~dup) | folio;
      t[i] = back;
      migratedBack += popcount32(back);
      populated += popcount32(m & ~this.populated[base + i]!);
      if (write) {
        // A write to a read-only mapping faults too; on a read-duplicated page the fault drops
        // the GPU copy (the CPU copy is current) and maps the page writable.
        const ro = m & this.cpuMapped[base + i]! & this.cpuReadOnly[base + i]!;
        faults += popcount32((m & ~this.cpuMapped[base + i]!) | ro);
        const c = m & dup;
        collapsed += popcount32(c);
        this.readDuplicated[base + i]! &= ~c;
        this.gpuResident[base + i]! &= ~c;
        this.cpuReadOnly[base + i]! &= ~m;
      } else {
        const fresh = m & ~this.cpuMapped[base + i]!;
        faults += popcount32(fresh);
        // A read fault maps read-only where the page is read-duplicated, else writable.
        this.cpuReadOnly[base + i] = (this.cpuReadOnly[base + i]! & ~fresh) | (fresh & dup);
      }
      this.gpuResident[base + i]! &= ~back;
      this.populated[base + i]! |= m;
      this.cpuMapped[base + i]! |= m;
    }
    const runs: number[] = [];
    let callbacks = 0;
    if (folioBack) {
      runs.push(migratedBack);
      callbacks = 1;
      this.counters.invalidations++;
    } else if (migratedBack > 0) {
      if (this.options.hmm) {
        // An HMM device's migrate_to_ram moves the faulting page only (lib/test_hmm.c
        // dmirror_devmem_fault: one migrate_vma of one page, one MIGRATE invalidation): each page
        // of the region comes back by its own CPU fault, one transfer and one callback each.
        for (let i = 0; i < migratedBack; i++) runs.push(1);
        callbacks = migratedBack;
        this.counters.invalidations += migratedBack;
      } else {
        maskRuns(t, 0, runs);
        this.counters.invalidations++;
      }
    }
    this.counters.invalidations += lift.callbacks;
    return {
      migratedBack,
      runs,
      populated,
      collapsed,
      faults,
      kernel: {
        ptes: 0,
        ranges: 0,
        shootdowns: lift.shootdowns,
        callbacks: callbacks + lift.callbacks,
        pages: migratedBack,
        folios: folioBack ? 1 : migratedBack,
      },
    };
  }
}

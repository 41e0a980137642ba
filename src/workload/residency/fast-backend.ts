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
  CpuAccess,
  Eviction,
  GpuMigration,
  KernelWork,
  MigrationCause,
  ResidencyBackend,
} from '../engine/backend.ts';
import * as units from '../units.ts';

// Local copies: imported bindings are read through getters by some loaders, too slow in hot loops.
const { BLOCK_PAGES, BLOCK_SHIFT, BLOCK_WORDS, popcount32 } = units;

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
 */
export function migrateVmaWork(
  want: Uint32Array,
  cpuMapped: Uint32Array,
  populated: Uint32Array,
  blockPages: number,
): KernelWork {
  let shootdowns = 0;
  let callbacks = 0;
  let pages = 0;
  let folios = 0;
  let start = -1;
  let mapped = false;
  let holes = false;
  for (let p = 0; p <= BLOCK_PAGES; p++) {
    const on = p < BLOCK_PAGES && ((want[p >>> 5]! >>> (p & 31)) & 1) === 1;
    if (on) {
      if (start < 0) {
        start = p;
        mapped = false;
        holes = false;
      }
      if ((cpuMapped[p >>> 5]! >>> (p & 31)) & 1) mapped = true;
      if (((populated[p >>> 5]! >>> (p & 31)) & 1) === 0) holes = true;
      continue;
    }
    if (start < 0) continue;
    const n = p - start;
    callbacks += holes ? 2 : 1;
    if (mapped) shootdowns++;
    pages += n;
    let untouched = n === BLOCK_PAGES && blockPages === BLOCK_PAGES;
    for (let i = 0; untouched && i < BLOCK_WORDS; i++) if (populated[i] !== 0) untouched = false;
    folios += untouched ? 1 : n;
    start = -1;
  }
  return { ptes: 0, ranges: 0, shootdowns, callbacks, pages, folios };
}

/** The fast tier's {@link ResidencyBackend}. */
export class FastBackend implements ResidencyBackend {
  readonly tier = 'fast';
  readonly blockCount: number;
  readonly gpuResident: Uint32Array;
  readonly cpuMapped: Uint32Array;
  readonly populated: Uint32Array;
  readonly gpuTouched: Uint8Array;
  readonly counters: BackendCounters = { invalidations: 0, ebusyRetries: 0 };
  private readonly tmp = new Uint32Array(BLOCK_WORDS);
  private readonly want = new Uint32Array(BLOCK_WORDS);
  private readonly mapped0 = new Uint32Array(BLOCK_WORDS);
  private readonly populated0 = new Uint32Array(BLOCK_WORDS);

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
  }

  /** Pages of block `b` inside the footprint. */
  blockPages(b: number): number {
    return Math.min(BLOCK_PAGES, this.pageCount - (b << BLOCK_SHIFT));
  }

  migrateToGpu(block: number, mask: Uint32Array, maskOff: number, _cause: MigrationCause): GpuMigration {
    const base = block * BLOCK_WORDS;
    const want0 = this.want;
    const cpuMapped0 = this.mapped0;
    const populated0 = this.populated0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      want0[i] = mask[maskOff + i]! & ~this.gpuResident[base + i]!;
      cpuMapped0[i] = this.cpuMapped[base + i]!;
      populated0[i] = this.populated[base + i]!;
    }
    let pages = 0;
    let cpuUnmapped = 0;
    let zeroed = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      const want = mask[maskOff + i]! & ~this.gpuResident[base + i]!;
      if (want === 0) continue;
      pages += popcount32(want);
      cpuUnmapped += popcount32(want & this.cpuMapped[base + i]!);
      zeroed += popcount32(want & ~this.populated[base + i]!);
      this.gpuResident[base + i]! |= want;
      this.cpuMapped[base + i]! &= ~want;
      this.populated[base + i]! |= want;
    }
    const firstTouch = pages > 0 && this.gpuTouched[block] === 0;
    if (firstTouch) this.gpuTouched[block] = 1;
    const kernel = migrateVmaWork(want0, cpuMapped0, populated0, this.blockPages(block));
    // Every MIGRATE invalidation reaches the GPU's own mirror (which ignores its own migrations).
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

  evictToCpu(block: number, mask: Uint32Array, maskOff: number): Eviction {
    const base = block * BLOCK_WORDS;
    const t = this.tmp;
    let pages = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      t[i] = mask[maskOff + i]! & this.gpuResident[base + i]!;
      pages += popcount32(t[i]!);
      this.gpuResident[base + i]! &= ~t[i]!;
    }
    const runs: number[] = [];
    maskRuns(t, 0, runs);
    if (this.options.hmm) {
      // migrate_vma per run: one MIGRATE invalidation each; the pages come back mapped.
      for (let i = 0; i < BLOCK_WORDS; i++) this.cpuMapped[base + i]! |= t[i]!;
      this.counters.invalidations += runs.length;
      return {
        pages,
        runs,
        kernel: { ptes: 0, ranges: 0, shootdowns: 0, callbacks: runs.length, pages, folios: pages },
      };
    }
    // Evicted pages land in CPU memory unmapped: the next CPU access maps them (a minor fault).
    return { pages, runs, kernel: { ptes: 0, ranges: 0, shootdowns: 0, callbacks: 0, pages, folios: pages } };
  }

  cpuAccess(block: number, mask: Uint32Array, maskOff: number, _write: boolean): CpuAccess {
    const base = block * BLOCK_WORDS;
    const t = this.tmp;
    t.fill(0);
    let migratedBack = 0;
    let populated = 0;
    let faults = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      const m = mask[maskOff + i]!;
      if (m === 0) continue;
      const back = m & this.gpuResident[base + i]!;
      t[i] = back;
      migratedBack += popcount32(back);
      populated += popcount32(m & ~this.populated[base + i]!);
      faults += popcount32(m & ~this.cpuMapped[base + i]!);
      this.gpuResident[base + i]! &= ~back;
      this.populated[base + i]! |= m;
      this.cpuMapped[base + i]! |= m;
    }
    const runs: number[] = [];
    if (migratedBack > 0) {
      maskRuns(t, 0, runs);
      this.counters.invalidations++;
    }
    return {
      migratedBack,
      runs,
      populated,
      faults,
      kernel: { ptes: 0, ranges: 0, shootdowns: 0, callbacks: 0, pages: migratedBack, folios: migratedBack },
    };
  }
}

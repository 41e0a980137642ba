/**
 * The fast tier's residency: per-2 MiB bitmaps in typed arrays, no per-page objects. CPU-side
 * state is what the cost model needs: which pages hold data, which are mapped on the CPU, which
 * blocks the GPU has touched (DMA-mapped).
 *
 * Kernel-side work is counted the way the functional tier's real kernel does it: migrating pages
 * off the CPU zaps one PTE per CPU-mapped page in one range per block, with one TLB shootdown and
 * one notifier callback per block; `migrate_vma` works on the block's pages as base-page folios.
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

  constructor(readonly pageCount: number) {
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
    if (cpuUnmapped > 0) this.counters.invalidations++;
    const kernel: KernelWork =
      cpuUnmapped > 0
        ? {
            ptes: cpuUnmapped,
            ranges: 1,
            shootdowns: 1,
            callbacks: 1,
            pages: pages - zeroed,
            folios: pages - zeroed,
          }
        : { ptes: 0, ranges: 0, shootdowns: 0, callbacks: 0, pages: pages - zeroed, folios: pages - zeroed };
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

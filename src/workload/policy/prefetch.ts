/**
 * Prefetchers: which pages of a 2 MiB block migrate along with the faulted ones. Each works on
 * {@link BLOCK_WORDS}-word page masks and writes the full set to migrate (faulted pages, pages
 * grown to the fault unit, and prefetched pages) into `out`; pages already resident at the
 * destination are removed by the caller.
 *
 * - {@link densityPrefetch}: NVIDIA's `uvm_perf_prefetch.c` (`grow_fault_granularity`,
 *   `compute_prefetch_region`, `uvm_perf_prefetch_prenotify_fault_migrations`).
 * - {@link tbnPrefetch}, {@link slPrefetch}, {@link randomPrefetch}, on-demand: UVM Smart's
 *   `do_hardware_prefetch` / `traverse_and_fill_lp_tree` in `gpu-sim.cc`.
 * @module
 */
import type { Prng } from '../../sim/prng.ts';
import * as units from '../units.ts';

// Local copies: imported bindings are read through getters by some loaders, too slow in hot loops.
const { BIG_PAGE_PAGES, BLOCK_PAGES, BLOCK_WORDS, popcount32 } = units;

/** What a prefetcher sees for one block of one batch. */
export interface PrefetchInput {
  /** Pages resident at the destination (words at `residentOff`). */
  readonly resident: Uint32Array;
  readonly residentOff: number;
  /** Faulted pages of this batch in this block (words at `faultedOff`). */
  readonly faulted: Uint32Array;
  readonly faultedOff: number;
  /** Pages marked thrashing (excluded from growth and prefetch), or null. */
  readonly thrashing: Uint32Array | null;
  readonly thrashingOff: number;
  /** Valid pages of the block (a partial last block has fewer than 512). */
  readonly blockPages: number;
  /**
   * First touch to the preferred location: the block is resident nowhere and the destination is
   * the block's preferred location, so the whole block is populated.
   */
  readonly firstTouchPreferred: boolean;
}

const W = BLOCK_WORDS;

function fillRange(m: Uint32Array, off: number, first: number, outer: number): void {
  for (let p = first; p < outer; ) {
    const w = p >>> 5;
    const bit = p & 31;
    if (bit === 0 && p + 32 <= outer) {
      m[off + w] = 0xffffffff;
      p += 32;
    } else {
      m[off + w]! |= 1 << bit;
      p++;
    }
  }
}

function rangeEmpty(m: Uint32Array, off: number, first: number, outer: number): boolean {
  for (let p = first; p < outer; p++) if ((m[off + (p >>> 5)]! >>> (p & 31)) & 1) return false;
  return true;
}

/** Set bits of pages `[first, first + 2^level)` (aligned) of the mask. */
function countAligned(m: Uint32Array, off: number, first: number, size: number): number {
  if (size >= 32) {
    let c = 0;
    for (let w = first >>> 5; w < (first + size) >>> 5; w++) c += popcount32(m[off + w]!);
    return c;
  }
  const word = m[off + (first >>> 5)]!;
  const mask = size === 32 ? 0xffffffff : ((1 << size) - 1) << (first & 31);
  return popcount32(word & mask);
}

/**
 * NVIDIA's density prefetcher for one block. The tree's leaves are the pages resident at the
 * destination plus the faulted pages; every 64 KiB big page holding a faulted, non-thrashing page
 * is filled (`grow_fault_granularity`); then for each faulted non-thrashing page the largest
 * enclosing aligned subregion whose count satisfies `count * 100 > pages * threshold` is taken
 * (`compute_prefetch_region`), stopping once a region reaches the block's end. With
 * `firstTouchPreferred` the whole block is taken. `scratch` is a {@link BLOCK_WORDS}-word buffer.
 *
 * The block is assumed 2 MiB aligned (managed allocations are), so the big-page "prefix" and
 * "suffix" regions of unaligned blocks do not occur; a partial last block clamps regions to its
 * pages like the driver's `prefetch_info->region`.
 */
export function densityPrefetch(
  inp: PrefetchInput,
  threshold: number,
  prefetchEnabled: boolean,
  out: Uint32Array,
  outOff: number,
  scratch: Uint32Array,
): void {
  const n = inp.blockPages;
  for (let i = 0; i < W; i++) out[outOff + i] = inp.faulted[inp.faultedOff + i]!;
  if (inp.firstTouchPreferred) {
    fillRange(out, outOff, 0, n);
    return;
  }
  if (!prefetchEnabled) return;
  const th = inp.thrashing;
  // Tree leaves: resident at the destination ∪ faulted.
  for (let i = 0; i < W; i++)
    scratch[i] = inp.resident[inp.residentOff + i]! | inp.faulted[inp.faultedOff + i]!;
  // grow_fault_granularity: whole big pages around faults, unless a page in them is thrashing.
  for (let first = 0; first < n; first += BIG_PAGE_PAGES) {
    const outer = Math.min(first + BIG_PAGE_PAGES, n);
    if (rangeEmpty(inp.faulted, inp.faultedOff, first, outer)) continue;
    if (th !== null && !rangeEmpty(th, inp.thrashingOff, first, outer)) continue;
    fillRange(scratch, 0, first, outer);
    fillRange(out, outOff, first, outer);
  }
  // compute_prefetch_region for each faulted, non-thrashing page.
  for (let p = 0; p < n; p++) {
    if (((inp.faulted[inp.faultedOff + (p >>> 5)]! >>> (p & 31)) & 1) === 0) continue;
    if (th !== null && ((th[inp.thrashingOff + (p >>> 5)]! >>> (p & 31)) & 1) === 1) continue;
    let regFirst = p;
    let regOuter = p + 1;
    for (let size = 1; size <= BLOCK_PAGES; size <<= 1) {
      const first = p & ~(size - 1);
      const count = countAligned(scratch, 0, first, size);
      if (count * 100 > size * threshold) {
        regFirst = first;
        regOuter = first + size;
      }
    }
    if (regOuter > n) regOuter = n;
    fillRange(out, outOff, regFirst, regOuter);
    if (regOuter === n) break;
  }
  if (th !== null) {
    // Never prefetch thrashing pages (faulted ones still migrate).
    for (let i = 0; i < W; i++) {
      out[outOff + i] = (out[outOff + i]! & ~th[inp.thrashingOff + i]!) | inp.faulted[inp.faultedOff + i]!;
    }
  }
}

/** UVM Smart's tree leaf: 64 KiB (`MIN_PREFETCH_SIZE`), 32 leaves per 2 MiB tree. */
const LEAF_PAGES = 16;

/**
 * UVM Smart sequential-local (SL): the 64 KiB basic block around each faulted page.
 */
export function slPrefetch(inp: PrefetchInput, out: Uint32Array, outOff: number): void {
  for (let i = 0; i < W; i++) out[outOff + i] = inp.faulted[inp.faultedOff + i]!;
  for (let first = 0; first < inp.blockPages; first += LEAF_PAGES) {
    const outer = Math.min(first + LEAF_PAGES, inp.blockPages);
    if (!rangeEmpty(inp.faulted, inp.faultedOff, first, outer)) fillRange(out, outOff, first, outer);
  }
}

/**
 * UVM Smart tree-based neighbourhood (TBN): the 64 KiB leaf of each fault, then every subtree of
 * the 2 MiB tree whose valid size (resident ∪ to-migrate) exceeds half its size and is not full
 * is filled, in one bottom-up pass (`traverse_and_fill_lp_tree`).
 */
export function tbnPrefetch(
  inp: PrefetchInput,
  out: Uint32Array,
  outOff: number,
  scratch: Uint32Array,
): void {
  slPrefetch(inp, out, outOff);
  const n = inp.blockPages;
  // One bottom-up pass: a parent's valid size is summed after its children were filled.
  for (let i = 0; i < W; i++) scratch[i] = inp.resident[inp.residentOff + i]! | out[outOff + i]!;
  for (let size = LEAF_PAGES * 2; size <= BLOCK_PAGES; size <<= 1) {
    for (let first = 0; first < n; first += size) {
      const outer = Math.min(first + size, n);
      const valid = countAligned(scratch, 0, first, size);
      if (valid * 2 > outer - first && valid < outer - first) {
        fillRange(out, outOff, first, outer);
        fillRange(scratch, 0, first, outer);
      }
    }
  }
}

/** UVM Smart random: each faulted page plus one random 4 KiB page of the block. */
export function randomPrefetch(inp: PrefetchInput, rng: Prng, out: Uint32Array, outOff: number): void {
  for (let i = 0; i < W; i++) out[outOff + i] = inp.faulted[inp.faultedOff + i]!;
  let faults = 0;
  for (let i = 0; i < W; i++) faults += popcount32(inp.faulted[inp.faultedOff + i]!);
  for (let k = 0; k < faults; k++) {
    const p = rng.nextInt(inp.blockPages);
    out[outOff + (p >>> 5)]! |= 1 << (p & 31);
  }
}

/** On-demand: only the faulted pages. */
export function onDemandPrefetch(inp: PrefetchInput, out: Uint32Array, outOff: number): void {
  for (let i = 0; i < W; i++) out[outOff + i] = inp.faulted[inp.faultedOff + i]!;
}

/** A fixed window: the aligned `windowPages` run around each faulted page (nouveau 16, dmirror 32, xe/amd ranges). */
export function windowPrefetch(
  inp: PrefetchInput,
  windowPages: number,
  out: Uint32Array,
  outOff: number,
): void {
  for (let i = 0; i < W; i++) out[outOff + i] = inp.faulted[inp.faultedOff + i]!;
  if (windowPages <= 1) return;
  for (let first = 0; first < inp.blockPages; first += windowPages) {
    const outer = Math.min(first + windowPages, inp.blockPages);
    if (!rangeEmpty(inp.faulted, inp.faultedOff, first, outer)) fillRange(out, outOff, first, outer);
  }
}

/**
 * NVIDIA's thrashing detection and prevention (`uvm_perf_thrashing.c`), for one GPU and the CPU.
 *
 * Detection (`thrashing_event_cb`): every migration caused by a fault (GPU replayable fault, CPU
 * fault, or their prefetches) to processor P updates the migrated pages. A block gets per-page
 * tracking only once two consecutive migrations of the block went to different processors within
 * `lapse`; then each page counts consecutive migrations less than `lapse` apart, and at
 * `threshold` (3) the page is thrashing. A migration more than `lapse` after the previous one
 * resets a thrashing, unpinned page. Evictions are ignored (the driver cannot take the VA space
 * lock there), so a GPU alone under oversubscription never thrashes; hints
 * (`cudaMemPrefetchAsync`) reset the region.
 *
 * Prevention (`uvm_perf_thrashing_get_hint`, `get_hint_for_migration_thrashing`), asked on each
 * faulting page: a thrashing page starts a throttling period of `nap` × `lapse` in which every
 * processor but one (`do_not_throttle_processor_id`, alternating from period to period) is
 * throttled: the GPU's fault is not serviced (it is replayed and faults again), the CPU sleeps.
 * After `pinThreshold` (10) throttles of the page, the processor not throttled pins it: on PCIe
 * (no NVLink, the CPU cannot map device memory) a page two processors fight over is pinned in
 * CPU memory and the GPU maps it remotely; a page only the GPU migrates is pinned on the GPU.
 * Pins end after `pin` × `lapse`; a block's tracking is dropped after `epoch` × `lapse` without
 * thrashing, at most `maxResets` times.
 *
 * Processor ids: 0 the CPU, 1 the GPU. Times are virtual ns. Per-page state lives in typed arrays
 * allocated per block only when the block gets per-page tracking, as in the driver.
 * @module
 */
import * as units from '../units.ts';

const { BLOCK_PAGES, BLOCK_WORDS } = units;

/** The CPU's processor id. */
export const PROC_CPU = 0;
/** The GPU's processor id. */
export const PROC_GPU = 1;
/** No processor (`UVM_ID_INVALID`). */
const NONE = -1;

/** Hint: nothing to do (`UVM_PERF_THRASHING_HINT_TYPE_NONE`). */
export const HINT_NONE = 0;
/** Hint: throttle the requester (`UVM_PERF_THRASHING_HINT_TYPE_THROTTLE`). */
export const HINT_THROTTLE = 1;
/** Hint: pin the page at {@link ThrashingDetector.pinResidency} (`UVM_PERF_THRASHING_HINT_TYPE_PIN`). */
export const HINT_PIN = 2;

/** The driver's tunables, with their defaults in `uvm_perf_thrashing.c`. */
export interface ThrashingParams {
  /** `uvm_perf_thrashing_enable` (1). */
  readonly enable: boolean;
  /** `uvm_perf_thrashing_threshold`: consecutive thrashing events that make a page thrashing (3, at most 7). */
  readonly threshold: number;
  /** `uvm_perf_thrashing_pin_threshold`: throttles of a page before it is pinned (10). */
  readonly pinThreshold: number;
  /** `uvm_perf_thrashing_lapse_usec` in ns (500 µs). */
  readonly lapseNs: number;
  /** `uvm_perf_thrashing_nap` × lapse, ns (1 × 500 µs). */
  readonly napNs: number;
  /** `uvm_perf_thrashing_epoch` × lapse, ns (2000 × 500 µs = 1 s). */
  readonly epochNs: number;
  /** `uvm_perf_thrashing_pin` × lapse, ns (300 × 500 µs = 150 ms; 0 = pinned forever). */
  readonly pinNs: number;
  /** `uvm_perf_thrashing_max_resets` (4). */
  readonly maxResets: number;
}

/** Per-page tracking of one block (`block_thrashing_info_t.pages`). */
class BlockPages {
  readonly lastTs = new Float64Array(BLOCK_PAGES).fill(-1);
  readonly events = new Uint8Array(BLOCK_PAGES);
  /** Bit per processor (1 << id) that migrated or requested the page. */
  readonly processors = new Uint8Array(BLOCK_PAGES);
  readonly throttled = new Uint8Array(BLOCK_PAGES);
  readonly throttleEnd = new Float64Array(BLOCK_PAGES);
  readonly throttlingCount = new Uint8Array(BLOCK_PAGES);
  readonly doNotThrottle = new Int8Array(BLOCK_PAGES).fill(NONE);
  readonly pinned = new Uint8Array(BLOCK_PAGES);
  readonly pinnedResidency = new Int8Array(BLOCK_PAGES).fill(NONE);
  readonly pinDeadline = new Float64Array(BLOCK_PAGES);
  /** Thrashing pages (`thrashing_pages`), the prefetcher's exclusion mask. */
  readonly thrashing = new Uint32Array(BLOCK_WORDS);
  pinnedCount = 0;
}

/** Statistics (`processor_thrashing_stats_t`, summed over processors). */
export interface ThrashingStats {
  /** Pages found thrashing (`num_thrashing`). */
  detected: number;
  /** Throttle hints (`num_throttle`). */
  throttles: number;
  /** Pin hints (`num_pin_local` + `num_pin_remote`). */
  pins: number;
}

/** The detector for every block of a footprint. */
export class ThrashingDetector {
  readonly stats: ThrashingStats = { detected: 0, throttles: 0, pins: 0 };
  /** Where the last {@link HINT_PIN} pins the page. */
  pinResidency = NONE;
  private readonly pages: (BlockPages | undefined)[];
  private readonly lastTs: Float64Array;
  private readonly lastProc: Int8Array;
  private readonly lastThrashingTs: Float64Array;
  private readonly resets: Uint8Array;

  constructor(
    readonly p: ThrashingParams,
    blocks: number,
  ) {
    this.pages = new Array(blocks);
    this.lastTs = new Float64Array(blocks).fill(-1);
    this.lastProc = new Int8Array(blocks).fill(NONE);
    this.lastThrashingTs = new Float64Array(blocks).fill(-1);
    this.resets = new Uint8Array(blocks);
  }

  /** The block's thrashing pages, or null when it has none (the prefetcher skips them). */
  thrashingMask(block: number): Uint32Array | null {
    const bp = this.pages[block];
    if (bp === undefined) return null;
    for (let i = 0; i < BLOCK_WORDS; i++) if (bp.thrashing[i] !== 0) return bp.thrashing;
    return null;
  }

  /** True when the block has per-page tracking (only then can a hint be other than none). */
  tracked(block: number): boolean {
    return this.p.enable && this.pages[block] !== undefined;
  }

  /** True when page `rel` of `block` is pinned. */
  isPinned(block: number, rel: number): boolean {
    const bp = this.pages[block];
    return bp !== undefined && bp.pinned[rel] === 1;
  }

  /** When the throttling period of page `rel` of `block` ends (ns; 0 = none). */
  throttleEnd(block: number, rel: number): number {
    return this.pages[block]?.throttleEnd[rel] ?? 0;
  }

  /**
   * `thrashing_event_cb` for a migration of the pages of `mask` (block-relative words) of `block`
   * to processor `dst`, caused by a fault or its prefetch, at time `now`.
   */
  onMigration(block: number, mask: Uint32Array, dst: number, now: number): void {
    if (!this.p.enable) return;
    let bp = this.pages[block];
    if (bp === undefined) {
      // Per-page tracking only once the block moved between processors within a lapse.
      const last = this.lastTs[block]!;
      if (last < 0 || this.lastProc[block] === dst || now - last > this.p.lapseNs) {
        this.lastTs[block] = now;
        this.lastProc[block] = dst;
        return;
      }
      bp = new BlockPages();
      this.pages[block] = bp;
    }
    const bit = 1 << dst;
    for (let w = 0; w < BLOCK_WORDS; w++) {
      let word = mask[w]!;
      while (word !== 0) {
        const b = 31 - Math.clz32(word & -word);
        word &= word - 1;
        const p = w * 32 + b;
        bp.processors[p]! |= bit;
        const last = bp.lastTs[p]!;
        bp.lastTs[p] = now;
        if (last < 0) continue;
        if (now - last <= this.p.lapseNs) {
          if (bp.events[p]! < 7) bp.events[p]!++;
          if (bp.events[p] === this.p.threshold) {
            bp.thrashing[p >>> 5]! |= 1 << (p & 31);
            this.stats.detected++;
          }
          if (bp.events[p]! >= this.p.threshold) this.lastThrashingTs[block] = now;
        } else if (bp.events[p]! >= this.p.threshold && bp.pinned[p] === 0) {
          this.resetPage(bp, p);
        }
      }
    }
    this.lastTs[block] = now;
    this.lastProc[block] = dst;
  }

  /** A migration the user asked for (a hint): the region's thrashing state is cleared. */
  onUserMigration(block: number, mask: Uint32Array): void {
    const bp = this.pages[block];
    if (bp === undefined) return;
    for (let p = 0; p < BLOCK_PAGES; p++) {
      if (((mask[p >>> 5]! >>> (p & 31)) & 1) === 1 && ((bp.thrashing[p >>> 5]! >>> (p & 31)) & 1) === 1)
        this.resetPage(bp, p);
    }
  }

  private resetPage(bp: BlockPages, p: number): void {
    bp.throttled[p] = 0;
    bp.throttleEnd[p] = 0;
    if (bp.pinned[p] === 1) this.unpin(bp, p);
    bp.lastTs[p] = -1;
    bp.events[p] = 0;
    bp.processors[p] = 0;
    bp.thrashing[p >>> 5]! &= ~(1 << (p & 31));
  }

  private unpin(bp: BlockPages, p: number): void {
    bp.pinned[p] = 0;
    bp.pinnedResidency[p] = NONE;
    bp.pinnedCount--;
  }

  /**
   * `uvm_perf_thrashing_get_hint` for processor `requester` faulting on page `rel` of `block`
   * whose data is at `resident` (the closest copy), at time `now`: {@link HINT_NONE},
   * {@link HINT_THROTTLE} or {@link HINT_PIN} (at {@link pinResidency}).
   */
  hint(block: number, rel: number, requester: number, resident: number, now: number): number {
    if (!this.p.enable) return HINT_NONE;
    const bp = this.pages[block];
    if (bp === undefined) return HINT_NONE;
    const lastThr = this.lastThrashingTs[block]!;
    if (
      lastThr >= 0 &&
      now - lastThr > this.p.epochNs &&
      bp.pinnedCount === 0 &&
      this.resets[block]! < this.p.maxResets
    ) {
      // No thrashing for an epoch: drop the block's per-page tracking.
      this.resets[block]!++;
      this.pages[block] = undefined;
      this.lastProc[block] = NONE;
      this.lastTs[block] = -1;
      this.lastThrashingTs[block] = -1;
      return HINT_NONE;
    }
    // A pin whose time is over (the driver's delayed unpin work; checked lazily here).
    if (bp.pinned[rel] === 1 && this.p.pinNs > 0 && now >= bp.pinDeadline[rel]!) this.unpin(bp, rel);
    if (bp.events[rel]! < this.p.threshold) return HINT_NONE;
    const rbit = 1 << requester;
    if ((bp.throttled[rel]! & rbit) !== 0) {
      if (now < bp.throttleEnd[rel]! && bp.doNotThrottle[rel] !== requester)
        return this.throttle(bp, rel, rbit);
      bp.throttled[rel]! &= ~rbit;
      if (bp.throttled[rel] === 0) bp.throttleEnd[rel] = 0;
    }
    if (now - bp.lastTs[rel]! > this.p.lapseNs && bp.pinned[rel] === 0) return HINT_NONE;
    bp.processors[rel]! |= rbit;
    // thrashing_throttle_update: a new throttling period, and who is spared in it.
    if (now > bp.throttleEnd[rel]!) {
      bp.throttleEnd[rel] = now + this.p.napNs;
      bp.doNotThrottle[rel] = bp.doNotThrottle[rel] === requester ? NONE : requester;
    } else if (bp.doNotThrottle[rel] === NONE) {
      bp.doNotThrottle[rel] = requester;
    }
    // get_hint_for_migration_thrashing, no preferred location, PCIe (no NVLink: a processor has
    // fast access only to itself; the GPU can map CPU memory, the CPU cannot map GPU memory).
    const procs = bp.processors[rel]!;
    const dnt = bp.doNotThrottle[rel];
    if (resident !== NONE && procs === 1 << resident) {
      // Every thrashing processor is the one holding the page.
      if (resident === PROC_CPU) {
        if (requester === PROC_GPU) return this.pin(bp, rel, requester, now);
        return HINT_NONE;
      }
      return this.pin(bp, rel, resident, now);
    }
    if (bp.pinned[rel] === 1) {
      if (requester === dnt) {
        // Pin where every thrashing processor can reach: CPU memory unless only the GPU thrashes.
        return this.pin(bp, rel, procs === 1 << PROC_GPU ? PROC_GPU : PROC_CPU, now);
      }
      const at = bp.pinnedResidency[rel]!;
      if (at === PROC_CPU || at === requester) return this.pin(bp, rel, at, now);
      return this.throttle(bp, rel, rbit);
    }
    if (requester !== dnt) return this.throttle(bp, rel, rbit);
    if (bp.throttlingCount[rel]! >= this.p.pinThreshold) return this.pin(bp, rel, requester, now);
    return HINT_NONE;
  }

  private throttle(bp: BlockPages, rel: number, rbit: number): number {
    if ((bp.throttled[rel]! & rbit) === 0) {
      bp.throttled[rel]! |= rbit;
      if (bp.pinned[rel] === 0 && bp.throttlingCount[rel]! < 255) bp.throttlingCount[rel]!++;
    }
    this.stats.throttles++;
    return HINT_THROTTLE;
  }

  private pin(bp: BlockPages, rel: number, at: number, now: number): number {
    // thrashing_pin_page: a new pin (or a move of the pin) ends every throttling of the page.
    if (bp.pinned[rel] === 0 || bp.pinnedResidency[rel] !== at) {
      bp.throttled[rel] = 0;
      bp.throttleEnd[rel] = 0;
    }
    if (bp.pinned[rel] === 0) {
      bp.pinDeadline[rel] = now + this.p.pinNs;
      bp.throttlingCount[rel] = 0;
      bp.pinned[rel] = 1;
      bp.pinnedCount++;
    }
    bp.pinnedResidency[rel] = at;
    this.pinResidency = at;
    this.stats.pins++;
    return HINT_PIN;
  }
}

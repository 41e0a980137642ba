/**
 * Virtual time. Everything in the simulation measures time on this clock, in nanoseconds; it
 * only moves when the simulation moves it.
 * @module
 */

/** Nanoseconds per millisecond, for timeouts given in ms such as `HMM_RANGE_DEFAULT_TIMEOUT`. */
export const NSEC_PER_MSEC = 1_000_000;

/** A monotonic virtual clock in nanoseconds. */
export class VirtualClock {
  /** Current virtual time in ns. */
  now = 0;

  /** Moves time forward by `ns` (a cost charged by the caller). */
  advance(ns: number): void {
    if (ns > 0) this.now += ns;
  }

  /** Moves time forward to `t` if it lies in the future. */
  advanceTo(t: number): void {
    if (t > this.now) this.now = t;
  }
}

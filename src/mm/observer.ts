/**
 * What the race explorer's oracles watch on a machine: hooks called by the core and the drivers
 * at the places where a mistake would show (a CPU or device access, a mirror update, a page
 * freed). `Kernel.observer` is null unless an explorer run attached one, so unobserved machines
 * pay one branch per site. Every hook is optional and must not change simulated state.
 *
 * The hooks are extended by the oracle work (issue #5); see `src/explore/oracles`.
 * @module
 */
import type { MmStruct } from './mm-struct.ts';

/** Observer of a machine's memory events (see `Kernel.observer`). */
export interface MmObserver {
  /** A CPU read of `data.length` bytes at `addr` in `mm` completed with `data`. */
  userRead?(mm: MmStruct, addr: number, data: Uint8Array): void;
  /** A CPU write of `data` at `addr` in `mm` completed. */
  userWrite?(mm: MmStruct, addr: number, data: Uint8Array): void;
  /** A kernel-internal invariant failed (`VM_BUG_ON`, `lockdep_assert_held`…): `what` says which. */
  kernelAssert?(what: string): void;
}

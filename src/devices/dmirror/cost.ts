/**
 * The cost model of the simulated dmirror device: how much virtual time its migrations take.
 * lib/test_hmm.c copies with the CPU (`copy_highpage`); the simulation charges each page the
 * device copies or clears, and each page or folio the driver allocates, to the machine's
 * virtual clock, so that migration benchmarks measure something on it (a 2 MiB folio costs one
 * allocation where 512 base pages cost 512). Device reads, writes and snapshots are not charged.
 * Each device has its own values ({@link DmirrorDevice.costs}); the kernel's own CPU-side work
 * (faults, unmaps, the migration core) is charged separately, from `kernel.costs`.
 * @module
 */
import { UsageError } from '../../sim/errors.ts';
import type { DmirrorDevice } from './device.ts';

/** Default virtual nanoseconds to copy (or clear) one 4 KiB page: about 10 GB/s. */
export const DMIRROR_COPY_PAGE_NS = 400;
/** Default virtual nanoseconds per device or system page (or folio) allocation made by the driver. */
export const DMIRROR_ALLOC_NS = 100;

/** What one dmirror device's work costs, in virtual ns (both non-negative). */
export interface DmirrorCosts {
  /** Per 4 KiB page copied or cleared (`copy_highpage` / `clear_highpage`). */
  copyPageNs: number;
  /** Per allocation of a device or system page or folio. */
  allocNs: number;
}

/** The defaults: {@link DMIRROR_COPY_PAGE_NS} and {@link DMIRROR_ALLOC_NS}. */
export const DEFAULT_DMIRROR_COSTS: Readonly<DmirrorCosts> = Object.freeze({
  copyPageNs: DMIRROR_COPY_PAGE_NS,
  allocNs: DMIRROR_ALLOC_NS,
});

/** Checks a partial {@link DmirrorCosts} (`where` names it in the {@link UsageError}). */
export function checkDmirrorCosts(where: string, costs: unknown): asserts costs is Partial<DmirrorCosts> {
  if (typeof costs !== 'object' || costs === null || Array.isArray(costs))
    throw new UsageError(where, `must be an object of costs in ns, got ${String(costs)}`);
  for (const [key, value] of Object.entries(costs)) {
    if (key !== 'copyPageNs' && key !== 'allocNs')
      throw new UsageError(`${where}.${key}`, 'is not a dmirror cost; known: copyPageNs, allocNs');
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
      throw new UsageError(
        `${where}.${key}`,
        `must be a finite non-negative number of ns, got ${String(value)}`,
      );
  }
}

/** Charges `copies` page copies and `allocs` allocations of `mdevice` to the virtual clock. */
export function dmirrorCharge(mdevice: DmirrorDevice, copies: number, allocs: number): void {
  const c = mdevice.costs;
  mdevice.kernel.sched.clock.advance(copies * c.copyPageNs + allocs * c.allocNs);
}

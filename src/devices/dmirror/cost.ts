/**
 * The cost model of the simulated dmirror device: how much virtual time its migrations take.
 * lib/test_hmm.c copies with the CPU (`copy_highpage`); the simulation charges each page the
 * device copies or clears, and each page or folio the driver allocates, to the machine's
 * virtual clock, so that migration benchmarks measure something on it (a 2 MiB folio costs one
 * allocation where 512 base pages cost 512). Device reads, writes and snapshots are not charged.
 * @module
 */
import type { Kernel } from '../../mm/kernel.ts';

/** Virtual nanoseconds to copy (or clear) one 4 KiB page: about 10 GB/s. */
export const DMIRROR_COPY_PAGE_NS = 400;
/** Virtual nanoseconds per device or system page (or folio) allocation made by the driver. */
export const DMIRROR_ALLOC_NS = 100;

/** Charges `copies` page copies and `allocs` allocations to the virtual clock. */
export function dmirrorCharge(k: Kernel, copies: number, allocs: number): void {
  k.sched.clock.advance(copies * DMIRROR_COPY_PAGE_NS + allocs * DMIRROR_ALLOC_NS);
}

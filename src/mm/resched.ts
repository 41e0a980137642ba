/**
 * What driver code uses to give the scheduler — and so the race explorer — a say: a preemption
 * point (`cond_resched`), a busy wait that costs virtual time (`ndelay` / `udelay`), and a sleep
 * (`msleep`). A race window in driver code exists only where the simulation has a preemption
 * point; every device page-table write, DMA copy and device atomic of a driver under test should
 * pass one, as real hardware and real kernels interleave there.
 * @module
 */
import { UsageError } from '../sim/errors.ts';
import type { Kernel } from './kernel.ts';

/** Nanoseconds per microsecond. */
const NSEC_PER_USEC = 1000;
/** Nanoseconds per millisecond. */
const NSEC_PER_MSEC = 1_000_000;

function checkDuration(where: string, n: number): void {
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0)
    throw new UsageError(where, `must be a finite non-negative number, got ${String(n)}`);
}

/**
 * `cond_resched()`: a preemption point in driver code, labelled `what` (it appears in accounts
 * of interleavings, e.g. 'gpu page-table write'). Another thread may run here.
 */
export async function condResched(k: Kernel, what = 'cond_resched'): Promise<void> {
  const p = k.sched.point(what);
  if (p) await p;
}

/**
 * `ndelay(ns)`: the driver busy-waits `ns` nanoseconds (a device register poll, a TLB
 * invalidation waiting for the hardware): virtual time advances by `ns`, then a preemption point.
 * Retry loops that wait this way see `HMM_RANGE_DEFAULT_TIMEOUT` expire as in the kernel.
 */
export async function ndelay(k: Kernel, ns: number, what = 'ndelay'): Promise<void> {
  checkDuration('ndelay(ns)', ns);
  k.sched.clock.advance(ns);
  await condResched(k, what);
}

/** `udelay(us)`: {@link ndelay} in microseconds. */
export function udelay(k: Kernel, us: number, what = 'udelay'): Promise<void> {
  checkDuration('udelay(us)', us);
  return ndelay(k, us * NSEC_PER_USEC, what);
}

/** `msleep(ms)`: the current thread sleeps `ms` milliseconds of virtual time; others run meanwhile. */
export async function msleep(k: Kernel, ms: number): Promise<void> {
  checkDuration('msleep(ms)', ms);
  await k.sched.sleep(ms * NSEC_PER_MSEC);
}

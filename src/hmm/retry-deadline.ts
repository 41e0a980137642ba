/**
 * The deadline of a bounded retry loop, in the kernel's idiom — `timeout = jiffies +
 * msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT)` before the loop, `if (time_after(jiffies,
 * timeout)) return -EBUSY;` at the top of every attempt — on the machine's virtual clock, with the
 * race explorer told about it: every attempt is reported (an attempt begun after the deadline is a
 * loop that lost its bound, a liveness violation), and so is giving up.
 *
 * Announcing the deadline also lets the explorer tell a bounded loop from a livelock when a
 * schedule's step budget runs out inside it before virtual time reaches the deadline (attempts
 * cost far less virtual time than the kernel's spinning would take in real time): the explorer
 * moves the clock to the deadline, as the spinning would have, and the loop gives up — or, if it
 * ignores its deadline, is reported.
 * @module
 */
import type { Kernel } from '../mm/kernel.ts';
import { NSEC_PER_MSEC } from '../sim/clock.ts';
import { UsageError } from '../sim/errors.ts';
import { HMM_RANGE_DEFAULT_TIMEOUT } from './hmm-pfn.ts';

/** A bounded retry loop's deadline (see the module comment). */
export class RetryDeadline {
  /** What the loop does, for reports (e.g. 'my_gpu_populate [0x1000, 0x3000)'). */
  readonly where: string;
  /** Virtual ns when the loop began. */
  readonly startedAt: number;
  /** Virtual ns the loop may retry for. */
  readonly timeoutNs: number;
  private readonly k: Kernel;

  /** Starts the deadline now: `timeoutMs` (default HMM_RANGE_DEFAULT_TIMEOUT) from the clock's time. */
  constructor(k: Kernel, where: string, timeoutMs: number = HMM_RANGE_DEFAULT_TIMEOUT) {
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0)
      throw new UsageError(
        'RetryDeadline(timeoutMs)',
        `must be a finite non-negative number, got ${String(timeoutMs)}`,
      );
    this.k = k;
    this.where = where;
    this.startedAt = k.sched.clock.now;
    this.timeoutNs = timeoutMs * NSEC_PER_MSEC;
  }

  /** The deadline, virtual ns. */
  get deadline(): number {
    return this.startedAt + this.timeoutNs;
  }

  /**
   * `time_after(jiffies, timeout)` at the top of an attempt: true when the deadline has passed
   * (the loop must give up, typically with -EBUSY; reported as the loop's timeout). Otherwise
   * false, and the attempt is reported.
   */
  expired(): boolean {
    const o = this.k.observer;
    if (this.k.sched.clock.now > this.deadline) {
      if (o?.retryTimeout) o.retryTimeout(this.where);
      return true;
    }
    if (o?.retryAttempt) o.retryAttempt(this.where, this.startedAt, this.timeoutNs);
    return false;
  }

  /**
   * Reports an attempt without testing the deadline — what a loop that forgot its deadline does
   * (for mistakes under test): an attempt begun after the deadline is a liveness violation.
   */
  attempt(): void {
    const o = this.k.observer;
    if (o?.retryAttempt) o.retryAttempt(this.where, this.startedAt, this.timeoutNs);
  }
}

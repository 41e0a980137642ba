/**
 * The liveness oracle's share of the explorer's liveness checks (the runner itself detects
 * deadlocks, exhausted step budgets and the virtual-time limit): a bounded retry loop that is
 * still retrying after its deadline ("every retry loop is bounded", rule 9 of
 * docs/bug-catalogue.md#invariants-the-oracles-check).
 * dmirror's fault loop promises to give up with -EBUSY once `HMM_RANGE_DEFAULT_TIMEOUT`
 * (1000 ms) has passed; giving up is the correct outcome of a range that never settles, but an
 * attempt begun after the deadline means the bound is gone.
 * @module
 */
import type { MmObserver } from '../../mm/observer.ts';
import type { Oracle, OracleContext, OracleInstance } from '../oracle.ts';
import { attachObserver } from './observer-hub.ts';

/** The liveness oracle (see the module comment). */
export const livenessOracle: Oracle = (ctx: OracleContext): OracleInstance => {
  let reported = false;
  const clock = ctx.machine.sched.clock;
  const observer: MmObserver = {
    retryAttempt(where, startedAt, timeoutNs) {
      if (reported || clock.now <= startedAt + timeoutNs) return;
      reported = true;
      const ms = (clock.now - startedAt) / 1e6;
      ctx.violate(
        'liveness',
        `${where}: still retrying ${ms.toFixed(3)} ms after its first attempt, past its ${timeoutNs / 1e6} ms timeout (an unbounded retry loop)`,
      );
    },
  };
  return { detach: attachObserver(ctx.machine, observer) };
};

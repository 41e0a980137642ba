/**
 * The liveness oracle's share of the explorer's liveness checks (the runner itself detects
 * deadlocks, exhausted step budgets and the virtual-time limit): a bounded retry loop that gave
 * up after its timeout — dmirror's fault loop returning -EBUSY after `HMM_RANGE_DEFAULT_TIMEOUT`
 * (1000 ms) of retries — means the retry protocol made no progress although it should have
 * (bug-catalogue §5 rule 9).
 * @module
 */
import type { MmObserver } from '../../mm/observer.ts';
import type { Oracle, OracleContext, OracleInstance } from '../oracle.ts';
import { attachObserver } from './observer-hub.ts';

/** The liveness oracle (see the module comment). */
export const livenessOracle: Oracle = (ctx: OracleContext): OracleInstance => {
  let reported = false;
  const observer: MmObserver = {
    retryTimeout(where) {
      if (reported) return;
      reported = true;
      ctx.violate(
        'liveness',
        `${where}: gave up with -EBUSY after HMM_RANGE_DEFAULT_TIMEOUT (1000 ms of virtual time) of retries`,
      );
    },
  };
  return { detach: attachObserver(ctx.machine, observer) };
};

/**
 * The liveness oracle's share of the explorer's liveness checks (the runner itself detects
 * deadlocks, exhausted step budgets and the virtual-time limit): a bounded retry loop that is
 * still retrying after its deadline ("every retry loop is bounded", rule 9 of
 * docs/mutants.md#invariants-the-oracles-check).
 * dmirror's fault loop promises to give up with -EBUSY once `HMM_RANGE_DEFAULT_TIMEOUT`
 * (1000 ms) has passed; giving up is the correct outcome of a range that never settles, but an
 * attempt begun after the deadline means the bound is gone.
 * @module
 */
import type { MmObserver } from '../../mm/observer.ts';
import type { Oracle, OracleContext, OracleInstance } from '../oracle.ts';
import { attachObserver } from './observer-hub.ts';

/** Its state is a field, not a closure's variable: the explorer's post-setup snapshot restores fields. */
class LivenessOracle implements MmObserver, OracleInstance {
  private reported = false;
  readonly detach: () => void;

  constructor(private readonly ctx: OracleContext) {
    this.detach = attachObserver(ctx.machine, this);
  }

  retryAttempt(where: string, startedAt: number, timeoutNs: number): void {
    const clock = this.ctx.machine.sched.clock;
    if (this.reported || clock.now <= startedAt + timeoutNs) return;
    this.reported = true;
    const ms = (clock.now - startedAt) / 1e6;
    this.ctx.violate(
      'liveness',
      `${where}: still retrying ${ms.toFixed(3)} ms after its first attempt, past its ${timeoutNs / 1e6} ms timeout (an unbounded retry loop)`,
    );
  }
}

/** The liveness oracle (see the module comment). */
export const livenessOracle: Oracle = (ctx: OracleContext): OracleInstance => new LivenessOracle(ctx);

/**
 * The assertion oracle: the kernel-internal checks that a real kernel makes with `VM_BUG_ON`,
 * `lockdep_assert_held` and friends, reported through the observer's `kernelAssert` hook by the
 * sites that make them — `hmm_range_fault` without the mmap lock (`mmap_assert_locked`), a
 * `hmm_range_fault` restart that would not begin at `hmm_vma_walk->last`,
 * `mmu_interval_set_seq` outside an invalidate callback, and `migrate_vma_pages` /
 * `migrate_device_pages` given a page that is not locked or has no reference.
 * @module
 */
import type { MmObserver } from '../../mm/observer.ts';
import type { Oracle, OracleContext, OracleInstance } from '../oracle.ts';
import { attachObserver } from './observer-hub.ts';

/** Its state is a field, not a closure's variable: the explorer's post-setup snapshot restores fields. */
class AssertionOracle implements MmObserver, OracleInstance {
  private reported = false;
  readonly detach: () => void;

  constructor(private readonly ctx: OracleContext) {
    this.detach = attachObserver(ctx.machine, this);
  }

  kernelAssert(what: string): void {
    if (this.reported) return;
    this.reported = true;
    this.ctx.violate('assertion', what);
  }
}

/** The assertion oracle (see the module comment): the first failed kernel assertion is a violation. */
export const assertionOracle: Oracle = (ctx: OracleContext): OracleInstance => new AssertionOracle(ctx);

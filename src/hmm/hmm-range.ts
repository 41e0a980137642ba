/**
 * `struct hmm_range`: the request and response record of `hmm_range_fault`.
 * @module
 */
import type { MmuIntervalNotifier } from '../notifier/interval-notifier.ts';

/** What a driver passes to {@link hmmRangeFault}. */
export interface HmmRange {
  /** The interval subscription whose sequence protects this walk (its mm is walked). */
  notifier: MmuIntervalNotifier;
  /** `mmu_interval_read_begin(notifier)`, taken before the call. */
  notifierSeq: number;
  /** First address (page aligned). */
  start: number;
  /** End address (page aligned, exclusive). */
  end: number;
  /** One word per page: the request on input, the description on output. */
  hmmPfns: BigUint64Array;
  /** Request bits applied to every page. */
  defaultFlags: bigint;
  /** Which bits of each word count as a per-page request. */
  pfnFlagsMask: bigint;
  /** Device-private pages whose pgmap owner equals this are reported, not faulted. */
  devPrivateOwner: unknown;
}

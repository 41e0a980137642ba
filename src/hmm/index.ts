/**
 * HMM: `hmmRangeFault` and the `hmm_pfns` encoding.
 * @module
 */
export {
  HMM_PFN_DMA_MAPPED,
  HMM_PFN_ERROR,
  HMM_PFN_FLAGS,
  HMM_PFN_INOUT_FLAGS,
  HMM_PFN_ORDER_SHIFT,
  HMM_PFN_P2PDMA,
  HMM_PFN_P2PDMA_BUS,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  HMM_RANGE_DEFAULT_TIMEOUT,
  hmmPfnToMapOrder,
  hmmPfnToPfn,
} from './hmm-pfn.ts';
export { hmmPfnsAlloc, hmmPfnsFree } from './hmm-pfns-alloc.ts';
export type { HmmRange } from './hmm-range.ts';
export { HMM_WALK_PAGE_NS, HMM_WALK_PASS_NS, hmmRangeFault } from './hmm-range-fault.ts';
export { hmmRangeFaultUnlockedTimeout, NSEC_PER_JIFFY } from './hmm-range-fault-unlocked.ts';
export { RetryDeadline } from './retry-deadline.ts';

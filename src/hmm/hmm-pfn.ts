/**
 * The `hmm_pfns` word (include/linux/hmm.h, 6.16+ layout): a pfn in the low bits and fixed flag
 * bits on top. The public constants are bigint (the words are 64-bit); the walk works on the
 * high 32-bit half through a Uint32Array view, so it never touches BigInt per page.
 * @module
 */
import { UsageError } from '../sim/errors.ts';

/** Output: the pfn is valid (input alias: HMM_PFN_REQ_FAULT). */
export const HMM_PFN_VALID = 1n << 63n;
/** Output: the CPU maps it writable (input alias: HMM_PFN_REQ_WRITE). */
export const HMM_PFN_WRITE = 1n << 62n;
/** Output: the access is impossible (no VMA, unreadable, VM_IO/VM_PFNMAP, special PTE …). */
export const HMM_PFN_ERROR = 1n << 61n;
/** Sticky (kept from input): the page is already DMA mapped (hmm_dma_map_pfn). */
export const HMM_PFN_DMA_MAPPED = 1n << 60n;
/** Sticky: peer-to-peer page. */
export const HMM_PFN_P2PDMA = 1n << 59n;
/** Sticky: bus-mapped peer-to-peer transfer. */
export const HMM_PFN_P2PDMA_BUS = 1n << 58n;
/** First bit of the 5-bit map-order field. */
export const HMM_PFN_ORDER_SHIFT = 53;
/** Input: fault the page in (same bit as VALID). */
export const HMM_PFN_REQ_FAULT = HMM_PFN_VALID;
/** Input: fault it in writable (same bit as WRITE). */
export const HMM_PFN_REQ_WRITE = HMM_PFN_WRITE;
/** Every flag bit (53..63); the pfn is `word & ~HMM_PFN_FLAGS`. */
export const HMM_PFN_FLAGS = ~((1n << BigInt(HMM_PFN_ORDER_SHIFT)) - 1n) & ((1n << 64n) - 1n);
/** The bits carried from input to output. */
export const HMM_PFN_INOUT_FLAGS = HMM_PFN_DMA_MAPPED | HMM_PFN_P2PDMA | HMM_PFN_P2PDMA_BUS;
/** Suggested budget of a caller's retry loop, in milliseconds (HMM itself never uses it). */
export const HMM_RANGE_DEFAULT_TIMEOUT = 1000;

/** The pfn field of a word (`hmm_pfn_to_phys(w) >> PAGE_SHIFT`). */
export function hmmPfnToPfn(word: bigint): number {
  if (typeof word !== 'bigint') throw new UsageError('hmmPfnToPfn(word)', 'must be a bigint hmm_pfns word');
  return Number(word & ~HMM_PFN_FLAGS & ((1n << 64n) - 1n));
}

/** `hmm_pfn_to_map_order`: log2 of the CPU mapping size in pages (0, 9 for PMD, 18 for PUD). */
export function hmmPfnToMapOrder(word: bigint): number {
  if (typeof word !== 'bigint')
    throw new UsageError('hmmPfnToMapOrder(word)', 'must be a bigint hmm_pfns word');
  return Number((word >> BigInt(HMM_PFN_ORDER_SHIFT)) & 0x1fn);
}

// The same bits in the high 32-bit half of a word, for the walk.
/** @internal VALID / REQ_FAULT in the high half. */
export const HI_VALID = 0x8000_0000;
/** @internal WRITE / REQ_WRITE in the high half. */
export const HI_WRITE = 0x4000_0000;
/** @internal ERROR in the high half. */
export const HI_ERROR = 0x2000_0000;
/** @internal sticky bits in the high half. */
export const HI_INOUT = 0x1c00_0000;
/** @internal shift of the order field within the high half. */
export const HI_ORDER_SHIFT = HMM_PFN_ORDER_SHIFT - 32;

/** High half of a bigint flag mask (request bits only matter: VALID and WRITE). */
export function hiHalf(flags: bigint): number {
  return Number((flags >> 32n) & 0xffff_ffffn) >>> 0;
}

/** True on little-endian hosts, where a Uint32Array view puts a word's low half first. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

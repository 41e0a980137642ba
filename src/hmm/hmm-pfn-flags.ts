/**
 * The small pure deciders of mm/hmm.c, on the high 32-bit half of an `hmm_pfns` word: what a CPU
 * entry offers (`pte_to_hmm_pfn_flags`, `pmd_…`, `pud_…`, and the device-private case the kernel
 * writes inline), and what a request needs (`hmm_pte_need_fault`, `hmm_range_need_fault`).
 * docs/hmm-range-fault.md gives the same rules as tables; the tests check these against them.
 * @module
 */
import { HPAGE_PMD_ORDER, HPAGE_PUD_ORDER } from '../mm/constants.ts';
import { PTE_DEVICE_PRIVATE_WRITE, PTE_KIND_MASK, PTE_PRESENT, PTE_PROTNONE, PTE_WRITE } from '../mm/pte.ts';
import { HI_ORDER_SHIFT, HI_VALID, HI_WRITE } from './hmm-pfn.ts';

/** The page needs a fault (HMM_NEED_FAULT). */
export const HMM_NEED_FAULT = 1;
/** The page needs a write fault (HMM_NEED_WRITE_FAULT); never returned without HMM_NEED_FAULT. */
export const HMM_NEED_WRITE_FAULT = 2;
/** Both (HMM_NEED_ALL_BITS): no later page can need more, so a range scan may stop. */
export const HMM_NEED_ALL_BITS = HMM_NEED_FAULT | HMM_NEED_WRITE_FAULT;

/** `hmm_pfn_flags_order`: the map-order field in the high half. */
export function hmmPfnFlagsOrder(order: number): number {
  return (order << HI_ORDER_SHIFT) >>> 0;
}

/** VALID, plus WRITE when the entry's `lo` word is writable. */
function validWrite(lo: number): number {
  return (lo & PTE_WRITE) !== 0 ? (HI_VALID | HI_WRITE) >>> 0 : HI_VALID;
}

/**
 * `pte_to_hmm_pfn_flags`: VALID (and WRITE if writable) for a present, accessible PTE; 0 for
 * none, non-present and NUMA-hinting (protnone) entries.
 */
export function pteToHmmPfnFlags(lo: number): number {
  if ((lo & PTE_KIND_MASK) !== PTE_PRESENT || (lo & PTE_PROTNONE) !== 0) return 0;
  return validWrite(lo);
}

/** `pmd_to_hmm_pfn_flags` for a present PMD leaf: as a PTE, with order 9; 0 when protnone. */
export function pmdToHmmPfnFlags(lo: number): number {
  if ((lo & PTE_PROTNONE) !== 0) return 0;
  return (validWrite(lo) | hmmPfnFlagsOrder(HPAGE_PMD_ORDER)) >>> 0;
}

/** `pud_to_hmm_pfn_flags`: VALID (WRITE) with order 18 for a present PUD leaf, else 0. */
export function pudToHmmPfnFlags(lo: number): number {
  if ((lo & PTE_KIND_MASK) !== PTE_PRESENT) return 0;
  return (validWrite(lo) | hmmPfnFlagsOrder(HPAGE_PUD_ORDER)) >>> 0;
}

/**
 * What an owned device-private entry of `kind` reports (inline in `hmm_vma_handle_pte`): VALID,
 * and WRITE for a writable device-private entry.
 */
export function devicePrivateToHmmPfnFlags(kind: number): number {
  return kind === PTE_DEVICE_PRIVATE_WRITE ? (HI_VALID | HI_WRITE) >>> 0 : HI_VALID;
}

/**
 * `hmm_pte_need_fault`: the request of one page is its word's bits under `maskHi` plus
 * `defaultHi` (both high halves); it needs nothing unless REQ_FAULT is set, a write fault when
 * REQ_WRITE is set and the CPU does not offer WRITE, a fault when the CPU does not offer VALID.
 */
export function hmmPteNeedFault(inHi: number, maskHi: number, defaultHi: number, cpuHi: number): number {
  const req = (inHi & maskHi) | defaultHi;
  if ((req & HI_VALID) === 0) return 0;
  if ((req & HI_WRITE) !== 0 && (cpuHi & HI_WRITE) === 0) return HMM_NEED_ALL_BITS;
  if ((cpuHi & HI_VALID) === 0) return HMM_NEED_FAULT;
  return 0;
}

/**
 * `hmm_range_need_fault`: the OR of {@link hmmPteNeedFault} over `n` words from word `first` of
 * `w32` (the words as 32-bit halves, high half at odd indexes), all against the same `cpuHi`.
 * When neither the defaults nor the mask can ask for a fault it answers 0 without reading a word.
 */
export function hmmRangeNeedFault(
  w32: Uint32Array,
  first: number,
  n: number,
  maskHi: number,
  defaultHi: number,
  cpuHi: number,
): number {
  if (((maskHi | defaultHi) & HI_VALID) === 0) return 0;
  let required = 0;
  for (let i = first; i < first + n; i++) {
    required |= hmmPteNeedFault(w32[2 * i + 1]!, maskHi, defaultHi, cpuHi);
    if (required === HMM_NEED_ALL_BITS) return required;
  }
  return required;
}

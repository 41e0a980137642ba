// The deciders of mm/hmm.c against the tables of docs/hmm-range-fault.md ("What the CPU entry
// offers" and "What is faulted"), row for row.
import { describe, expect, it } from 'vitest';
import { HI_ERROR, HI_INOUT, HI_VALID, HI_WRITE, hiHalf } from '../../../src/hmm/hmm-pfn.ts';
import {
  devicePrivateToHmmPfnFlags,
  HMM_NEED_ALL_BITS,
  HMM_NEED_FAULT,
  hmmPfnFlagsOrder,
  hmmPteNeedFault,
  hmmRangeNeedFault,
  pmdToHmmPfnFlags,
  pteToHmmPfnFlags,
  pudToHmmPfnFlags,
} from '../../../src/hmm/hmm-pfn-flags.ts';
import { HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE } from '../../../src/index.ts';
import {
  PTE_DEVICE_PRIVATE_READ,
  PTE_DEVICE_PRIVATE_WRITE,
  PTE_DIRTY,
  PTE_KIND_MASK,
  PTE_LEAF,
  PTE_MIGRATION_READ,
  PTE_NONE,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SPECIAL,
  PTE_SWAP,
  PTE_WRITE,
  PTE_YOUNG,
} from '../../../src/mm/pte.ts';

const V = HI_VALID;
const VW = (HI_VALID | HI_WRITE) >>> 0;
const O9 = hmmPfnFlagsOrder(9);
const O18 = hmmPfnFlagsOrder(18);

describe('what the CPU entry offers (pte/pmd/pud_to_hmm_pfn_flags)', () => {
  it.each([
    ['none', PTE_NONE, 0],
    ['present read-only', PTE_PRESENT, V],
    ['present writable', PTE_PRESENT | PTE_WRITE, VW],
    ['present writable, dirty and young', PTE_PRESENT | PTE_WRITE | PTE_DIRTY | PTE_YOUNG, VW],
    ['present protnone (NUMA hinting)', PTE_PRESENT | PTE_WRITE | PTE_PROTNONE, 0],
    ['swap', PTE_SWAP, 0],
    ['migration', PTE_MIGRATION_READ, 0],
    ['device-private (not present)', PTE_DEVICE_PRIVATE_WRITE, 0],
  ])('PTE %s', (_name, lo, flags) => {
    expect(pteToHmmPfnFlags(lo)).toBe(flags);
  });

  it.each([
    ['read-only', PTE_PRESENT | PTE_LEAF, (V | O9) >>> 0],
    ['writable', PTE_PRESENT | PTE_LEAF | PTE_WRITE, (VW | O9) >>> 0],
    ['protnone', PTE_PRESENT | PTE_LEAF | PTE_WRITE | PTE_PROTNONE, 0],
  ])('PMD leaf %s', (_name, lo, flags) => {
    expect(pmdToHmmPfnFlags(lo)).toBe(flags);
  });

  it.each([
    ['read-only', PTE_PRESENT | PTE_LEAF, (V | O18) >>> 0],
    ['writable', PTE_PRESENT | PTE_LEAF | PTE_WRITE, (VW | O18) >>> 0],
    ['not present', PTE_SWAP | PTE_LEAF, 0],
  ])('PUD leaf %s', (_name, lo, flags) => {
    expect(pudToHmmPfnFlags(lo)).toBe(flags);
  });

  it('an owned device-private entry offers VALID, and WRITE when writable', () => {
    expect(devicePrivateToHmmPfnFlags(PTE_DEVICE_PRIVATE_READ)).toBe(V);
    expect(devicePrivateToHmmPfnFlags(PTE_DEVICE_PRIVATE_WRITE)).toBe(VW);
  });

  it('the order field sits at bits 53..57 of the word', () => {
    expect(O9).toBe(hiHalf(9n << 53n));
    expect(O18).toBe(hiHalf(18n << 53n));
  });
});

const F = hiHalf(HMM_PFN_REQ_FAULT);
const FW = hiHalf(HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
const W = hiHalf(HMM_PFN_REQ_WRITE);
const ALL = FW;

describe('what is faulted (hmm_pte_need_fault)', () => {
  // [request word, pfn_flags_mask, default_flags, CPU offers, needed]
  it.each([
    ['nothing requested', 0, 0, 0, 0, 0],
    ['REQ_FAULT by default, CPU has nothing', 0, 0, F, 0, HMM_NEED_FAULT],
    ['REQ_FAULT by default, CPU read-only', 0, 0, F, V, 0],
    ['REQ_FAULT|REQ_WRITE by default, CPU read-only', 0, 0, FW, V, HMM_NEED_ALL_BITS],
    ['REQ_FAULT|REQ_WRITE by default, CPU writable', 0, 0, FW, VW, 0],
    ['REQ_FAULT|REQ_WRITE by default, CPU nothing', 0, 0, FW, 0, HMM_NEED_ALL_BITS],
    ['REQ_WRITE alone asks nothing', 0, 0, W, 0, 0],
    ['per-page REQ_FAULT through the mask', F, ALL, 0, 0, HMM_NEED_FAULT],
    ['per-page REQ_FAULT masked out', F, 0, 0, 0, 0],
    ['per-page REQ_WRITE through the mask with default REQ_FAULT', W, ALL, F, V, HMM_NEED_ALL_BITS],
    ['per-page REQ_WRITE masked to REQ_FAULT only', W, F, F, V, 0],
    ['sticky and output bits in the word are not requests', HI_INOUT | HI_ERROR, ALL, 0, 0, 0],
  ])('%s', (_name, inHi, maskHi, defaultHi, cpuHi, needed) => {
    expect(hmmPteNeedFault(inHi, maskHi, defaultHi, cpuHi)).toBe(needed);
  });
});

describe('hmm_range_need_fault', () => {
  const words = (...hi: number[]): Uint32Array => {
    const w = new Uint32Array(hi.length * 2);
    hi.forEach((h, i) => {
      w[2 * i + 1] = h;
    });
    return w;
  };

  it('ORs the pages of the range and stops at NEED_ALL_BITS', () => {
    const w = words(0, F, FW, F);
    expect(hmmRangeNeedFault(w, 0, 2, ALL, 0, V)).toBe(0);
    expect(hmmRangeNeedFault(w, 0, 2, ALL, 0, 0)).toBe(HMM_NEED_FAULT);
    expect(hmmRangeNeedFault(w, 0, 4, ALL, 0, V)).toBe(HMM_NEED_ALL_BITS);
    expect(hmmRangeNeedFault(w, 3, 1, ALL, 0, V)).toBe(0);
  });

  it('answers 0 without reading when neither mask nor defaults can ask for a fault', () => {
    expect(hmmRangeNeedFault(new Uint32Array(0), 0, 1_000_000, W, W, 0)).toBe(0);
  });
});

describe('the literals of the snapshot loop', () => {
  it('equal the named constants', () => {
    expect(PTE_KIND_MASK | PTE_PROTNONE | PTE_SPECIAL).toBe(0x18f);
    expect(PTE_PRESENT).toBe(2);
    expect(HI_INOUT).toBe(0x1c00_0000);
    expect(HI_VALID).toBe(0x8000_0000);
    expect(PTE_WRITE).toBe(0x10);
    expect((PTE_WRITE << 26) >>> 0).toBe(HI_WRITE);
  });
});

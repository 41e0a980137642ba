import { describe, expect, it } from 'vitest';
import {
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
  UsageError,
} from '../../../src/index.ts';

describe('hmm_pfns constants (docs/hmm-range-fault.md#the-word-616-layout)', () => {
  it('VALID is bit 63, WRITE bit 62, ERROR bit 61 (exact values)', () => {
    expect(HMM_PFN_VALID).toBe(0x8000_0000_0000_0000n);
    expect(HMM_PFN_WRITE).toBe(0x4000_0000_0000_0000n);
    expect(HMM_PFN_ERROR).toBe(0x2000_0000_0000_0000n);
  });

  it('the sticky bits are DMA_MAPPED 60, P2PDMA 59, P2PDMA_BUS 58, and INOUT is exactly their union', () => {
    expect(HMM_PFN_DMA_MAPPED).toBe(0x1000_0000_0000_0000n);
    expect(HMM_PFN_P2PDMA).toBe(0x0800_0000_0000_0000n);
    expect(HMM_PFN_P2PDMA_BUS).toBe(0x0400_0000_0000_0000n);
    expect(HMM_PFN_INOUT_FLAGS).toBe(0x1c00_0000_0000_0000n);
  });

  it('REQ_FAULT aliases VALID and REQ_WRITE aliases WRITE (input = output bit positions, §8.2)', () => {
    expect(HMM_PFN_REQ_FAULT).toBe(HMM_PFN_VALID);
    expect(HMM_PFN_REQ_WRITE).toBe(HMM_PFN_WRITE);
  });

  it('HMM_PFN_ORDER_SHIFT is the number 53', () => {
    expect(HMM_PFN_ORDER_SHIFT).toBe(53);
    expect(typeof HMM_PFN_ORDER_SHIFT).toBe('number');
  });

  it('HMM_PFN_FLAGS is every bit from 53 to 63 and nothing else', () => {
    expect(HMM_PFN_FLAGS).toBe(0xffe0_0000_0000_0000n);
    let expected = 0n;
    for (let b = 53n; b <= 63n; b++) expected |= 1n << b;
    expect(HMM_PFN_FLAGS).toBe(expected);
    // 11 bits, no bit at or above 64
    expect(HMM_PFN_FLAGS >> 64n).toBe(0n);
    expect(HMM_PFN_FLAGS.toString(2).replace(/0/g, '').length).toBe(11);
  });

  it('HMM_RANGE_DEFAULT_TIMEOUT is 1000 (ms)', () => {
    expect(HMM_RANGE_DEFAULT_TIMEOUT).toBe(1000);
  });
});

describe('hmmPfnToPfn (docs/hmm-range-fault.md#the-word-616-layout: pfn = word & ~HMM_PFN_FLAGS)', () => {
  it('strips every flag and the order field', () => {
    expect(hmmPfnToPfn(HMM_PFN_VALID | HMM_PFN_WRITE | (9n << 53n) | 0x1234n)).toBe(0x1234);
    expect(hmmPfnToPfn(HMM_PFN_ERROR)).toBe(0);
    expect(hmmPfnToPfn(HMM_PFN_INOUT_FLAGS | 7n)).toBe(7);
    expect(hmmPfnToPfn(0n)).toBe(0);
  });

  it('keeps all 53 pfn bits (bit 52 is pfn, bit 53 is order)', () => {
    expect(hmmPfnToPfn((1n << 53n) - 1n)).toBe(2 ** 53 - 1);
    expect(hmmPfnToPfn(1n << 52n)).toBe(2 ** 52);
    expect(hmmPfnToPfn(1n << 53n)).toBe(0);
    expect(hmmPfnToPfn(0xffff_ffff_ffff_ffffn)).toBe(2 ** 53 - 1);
  });

  it('rejects a non-bigint word with a UsageError', () => {
    expect(() => hmmPfnToPfn(5 as unknown as bigint)).toThrow(UsageError);
  });
});

describe('hmmPfnToMapOrder (docs/hmm-range-fault.md#the-word-616-layout: the 5-bit field at bits 53..57)', () => {
  it('reads order 0, 9 and 18', () => {
    expect(hmmPfnToMapOrder(HMM_PFN_VALID | 42n)).toBe(0);
    expect(hmmPfnToMapOrder(HMM_PFN_VALID | HMM_PFN_WRITE | (9n << 53n) | 42n)).toBe(9);
    expect(hmmPfnToMapOrder(HMM_PFN_VALID | (18n << 53n))).toBe(18);
  });

  it('is exactly 5 bits wide: the sticky bit 58 and the pfn bits do not leak in', () => {
    expect(hmmPfnToMapOrder(31n << 53n)).toBe(31);
    expect(hmmPfnToMapOrder(HMM_PFN_P2PDMA_BUS | (3n << 53n))).toBe(3);
    expect(hmmPfnToMapOrder(0xffff_ffff_ffff_ffffn)).toBe(31);
    expect(hmmPfnToMapOrder((1n << 53n) - 1n)).toBe(0);
  });

  it('rejects a non-bigint word with a UsageError', () => {
    expect(() => hmmPfnToMapOrder(1 as unknown as bigint)).toThrow(UsageError);
  });
});

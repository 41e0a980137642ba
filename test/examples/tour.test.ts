/** The README's tour (examples/tour.ts) does what the README says. */
import { describe, expect, it } from 'vitest';
import { tour } from '../../examples/tour.ts';
import { HMM_PFN_VALID, HMM_PFN_WRITE, ZERO_PFN } from '../../src/index.ts';

describe('examples/tour.ts', () => {
  it('describes the written page as VALID|WRITE and the untouched ones as the zero page', async () => {
    const { ret, words, written } = await tour();
    expect(ret).toBe(0);
    expect(words[0]! & (HMM_PFN_VALID | HMM_PFN_WRITE)).toBe(HMM_PFN_VALID | HMM_PFN_WRITE);
    for (let i = 1; i < 8; i++) expect(words[i]).toBe(HMM_PFN_VALID | BigInt(ZERO_PFN));
    expect(written).toBe(42);
  });
});

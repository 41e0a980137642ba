/**
 * The differential test of the two tiers: every generator at a small footprint, run by the engine
 * on the fast tier and on the functional tier (the real kernel, replayed in lockstep). Both must
 * agree on every backend call (page counts, first touches, faults, the kernel's work and the
 * block's bitmaps), and so give identical counters and times. Platforms: pascal-pcie3 (kernel
 * costs zero) and dmirror-cpu-copy (per-folio migrate_vma costs charged).
 *
 * Scope: the generators' own workloads (CPU initialization, then the GPU kernel) with the
 * footprint fitting in device memory. Eviction and CPU fault-back are outside it: there the real
 * kernel (HMM) and the fast tier's UVM model still differ — see docs/workload-functional.md.
 */
import { describe, expect, it } from 'vitest';
import {
  GENERATORS,
  generatorWorkload,
  runWorkload,
  runWorkloadFunctional,
} from '../../../src/workload/index.ts';

const FOOTPRINT = 4 * 1024 * 1024;

describe('differential: fast and functional tiers agree', () => {
  for (const platform of ['pascal-pcie3', 'dmirror-cpu-copy']) {
    for (const g of GENERATORS) {
      it(`${g.name} on ${platform}: identical counters and time`, async () => {
        const spec = generatorWorkload(g.name, FOOTPRINT, {});
        const fast = runWorkload(spec, { platform });
        const functional = await runWorkloadFunctional(spec, { platform });
        expect(functional.functional.divergences).toEqual([]);
        expect(functional.functional.agreed).toBe(true);
        expect(functional.functional.calls).toBeGreaterThan(0);
        expect(functional.functional.kernelWork.kernel).toEqual(functional.functional.kernelWork.model);
        expect(functional.counters).toEqual(fast.counters);
        expect(Math.abs(functional.timeNs / fast.timeNs - 1)).toBeLessThanOrEqual(0.01);
        expect(functional.tier).toBe('functional');
        expect(functional.functional.violations).toEqual([]);
      });
    }
  }
});

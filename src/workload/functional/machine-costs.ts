/**
 * A platform preset's CPU-side costs as a simulated machine takes them: the kernel's cost hooks
 * (`kernel.costs`) and a dmirror-like device's copy and allocation costs. The functional tier and
 * the V6 port configure their machines through this one mapping, so that the values the fast tier
 * computes with (`kernelCosts`, `cpuCopyPerPageNs`, `populatePerPageNs`) are the ones charged.
 * @module
 */
import type { DmirrorCosts } from '../../devices/dmirror/cost.ts';
import type { KernelCostHooks } from '../../mm/costs.ts';
import { kernelCosts } from '../cost/cost-model.ts';
import type { PlatformParams } from '../cost/platform.ts';

/** The machine-side costs of a platform. */
export interface MachineCosts {
  /** For `new Machine({ costs })` or `machine.setCosts(…)`. */
  readonly kernel: KernelCostHooks;
  /** For `machine.addDmirrorDevice({ costs })`. */
  readonly device: DmirrorCosts;
}

/** The kernel hook values and device costs of platform parameters `p`. */
export function machineCosts(p: PlatformParams): MachineCosts {
  const k = kernelCosts(p);
  return {
    kernel: {
      pageFaultNs: k.pageFaultNs,
      zapPteNs: k.zapPerPteNs,
      zapRangeNs: k.zapPerRangeNs,
      tlbShootdownNs: k.tlbShootdownNs,
      notifierCallbackNs: k.notifierCallbackNs,
      migrateVmaPageNs: k.migrateVmaPerPageNs,
      migrateVmaFolioNs: k.migrateVmaPerFolioNs,
      hmmRangeFaultPassNs: k.hmmRangeFaultPassNs,
      hmmRangeFaultPageNs: k.hmmRangeFaultPageNs,
    },
    device: { copyPageNs: k.cpuCopyPerPageNs, allocNs: p.populatePerPageNs.value },
  };
}

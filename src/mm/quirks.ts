/**
 * The kernel's failpoints: the deliberate mistakes of the race explorer's kernel-side mutants
 * (`src/explore/mutants/kernel.ts`, docs/mutants.md), as one flag each. A machine chooses its
 * set once, from its mutant id, when it is built (`kernel.quirks`); the canonical code reads one
 * flag at the place the kernel's fix changed, in a statement of its own, so the kernel's logic
 * around it stays as the kernel writes it. With no mutant every flag is false.
 *
 * Each flag is read only at the site its mutant declares (`site` in the catalogue);
 * `test/architecture/failpoints.test.ts` checks that.
 * @module
 */
import type { MutantId } from './mutant.ts';

/** One flag per kernel-side mutant: true turns the mistake on. */
export interface KernelQuirks {
  /** H1: `hmm_vma_walk->last` not set before `hmm_vma_fault` returns -EBUSY. */
  readonly walkLastNotSet: boolean;
  /** H2: the words of a faulted range set to HMM_PFN_NONE before faulting, requests lost. */
  readonly pfnsClearedBeforeFault: boolean;
  /** H3: ERROR stored for requested pages of an unusable VMA, and 0 returned. */
  readonly errorOnRequestedPages: boolean;
  /** H4: a special PTE answered with -EFAULT whether a fault was requested or not. */
  readonly specialPteAlwaysFaults: boolean;
  /** H5: an unreadable VMA answered with -EFAULT whether a page of it was requested or not. */
  readonly unreadableVmaAlwaysFaults: boolean;
  /** H8: a snapshot of a hole without a VMA reads HMM_PFN_NONE instead of HMM_PFN_ERROR. */
  readonly holeWithoutVmaReadsNone: boolean;
  /** H9: the `dev_pagemap` owner check dropped: every device's private pages reported as own. */
  readonly devicePrivateOwnerIgnored: boolean;
  /** H10: another owner's device-private entry answered with -EFAULT instead of being faulted. */
  readonly foreignDevicePrivateNotFaulted: boolean;
  /** H12: `do_swap_page` returns at once on a locked device-private page, and the access spins. */
  readonly devicePrivateLockSpins: boolean;
  /** M1 (CVE-2022-3523): no reference held on a device-private page across `migrate_to_ram`. */
  readonly devicePrivateFaultUnreferenced: boolean;
  /** M2: `migrate_vma_collect_pmd` flushes the TLB after dropping the page-table lock. */
  readonly collectFlushesAfterUnlock: boolean;
  /** M3: the PTE's dirty bit reaches neither the page nor the migration entry. */
  readonly collectDropsDirty: boolean;
  /** M8: `do_swap_page` takes its device-page reference before trying the page lock. */
  readonly devicePrivateRefBeforeLock: boolean;
  /** F1: fork makes only the child's device-private entry read-only; the parent's stays writable. */
  readonly forkParentStaysWritable: boolean;
  /** F2: fork copies a device-exclusive entry as it is, without restoring the PTE first. */
  readonly forkCopiesDeviceExclusive: boolean;
}

/** Which flag each kernel-side mutant sets. */
export const KERNEL_QUIRK_OF: Readonly<Partial<Record<MutantId, keyof KernelQuirks>>> = {
  H1: 'walkLastNotSet',
  H2: 'pfnsClearedBeforeFault',
  H3: 'errorOnRequestedPages',
  H4: 'specialPteAlwaysFaults',
  H5: 'unreadableVmaAlwaysFaults',
  H8: 'holeWithoutVmaReadsNone',
  H9: 'devicePrivateOwnerIgnored',
  H10: 'foreignDevicePrivateNotFaulted',
  H12: 'devicePrivateLockSpins',
  M1: 'devicePrivateFaultUnreferenced',
  M2: 'collectFlushesAfterUnlock',
  M3: 'collectDropsDirty',
  M8: 'devicePrivateRefBeforeLock',
  F1: 'forkParentStaysWritable',
  F2: 'forkCopiesDeviceExclusive',
};

/** The kernel as it is: every flag false. */
export const NO_KERNEL_QUIRKS: KernelQuirks = Object.freeze({
  walkLastNotSet: false,
  pfnsClearedBeforeFault: false,
  errorOnRequestedPages: false,
  specialPteAlwaysFaults: false,
  unreadableVmaAlwaysFaults: false,
  holeWithoutVmaReadsNone: false,
  devicePrivateOwnerIgnored: false,
  foreignDevicePrivateNotFaulted: false,
  devicePrivateLockSpins: false,
  devicePrivateFaultUnreferenced: false,
  collectFlushesAfterUnlock: false,
  collectDropsDirty: false,
  devicePrivateRefBeforeLock: false,
  forkParentStaysWritable: false,
  forkCopiesDeviceExclusive: false,
});

/**
 * The kernel's failpoints for `mutant`: its one flag set, or none for a driver-side mutant or
 * none at all. Every result has the same shape, so the sites stay monomorphic.
 */
export function kernelQuirks(mutant: MutantId | null): KernelQuirks {
  return chooseQuirks(NO_KERNEL_QUIRKS, KERNEL_QUIRK_OF, mutant);
}

/**
 * The set of flags `none` with `mutant`'s flag (looked up in `flagOf`) turned on; `none` itself
 * when the mutant has no flag in this set. Kernel and driver quirk sets are both made with it.
 */
export function chooseQuirks<Q extends object>(
  none: Q,
  flagOf: Readonly<Partial<Record<MutantId, keyof Q>>>,
  mutant: MutantId | null,
): Q {
  const flag = mutant === null ? undefined : flagOf[mutant];
  return flag === undefined ? none : Object.freeze({ ...none, [flag]: true });
}

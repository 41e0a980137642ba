/**
 * dmirror's failpoints: the mistakes of the race explorer's driver-side mutants
 * (`src/explore/mutants/driver.ts`, docs/mutants.md), as one flag each. A device chooses its
 * set once, from the machine's mutant id, when it is plugged in (`mdevice.quirks`); the driver's
 * code reads one flag where the mistake lives, in a statement of its own, so `dmirror_range_fault`
 * and the invalidate callback keep lib/test_hmm.c's (and hmm.rst's) shape. The real driver has
 * none of them.
 *
 * Each flag is read only at the site its mutant declares (`site` in the catalogue);
 * `test/architecture/failpoints.test.ts` checks that.
 * @module
 */
import type { MutantId } from '../../mm/mutant.ts';
import { chooseQuirks } from '../../mm/quirks.ts';

/** One flag per driver-side mutant: true turns the mistake on. */
export interface DmirrorQuirks {
  /** D1: `mmu_interval_read_begin` called once, before the retry loop, and never again. */
  readonly readBeginHoisted: boolean;
  /** D2: device PTEs committed without `mmu_interval_read_retry`. */
  readonly commitWithoutReadRetry: boolean;
  /** D3: the invalidate callback forgets `mmu_interval_set_seq`. */
  readonly invalidateWithoutSetSeq: boolean;
  /** D4: the invalidate callback returns before the device's update is done. */
  readonly invalidateBeforeFlush: boolean;
  /** D5: the invalidate callback sleeps on the mutex even when the range may not block. */
  readonly invalidateSleepsUnblockable: boolean;
  /** D6: the pages of the pfns used after the mutex is dropped. */
  readonly pagesUsedAfterUnlock: boolean;
  /** D11: device write permission taken from the VMA (VM_WRITE), not HMM_PFN_WRITE. */
  readonly writeFromVmaFlags: boolean;
  /** M9: a driver-wide lock held across the device fault, also taken by `migrate_to_ram`. */
  readonly driverLockAcrossFault: boolean;
  /** L1: the retry loop's deadline (HMM_RANGE_DEFAULT_TIMEOUT) forgotten. */
  readonly retryWithoutDeadline: boolean;
}

/** Which flag each driver-side mutant sets. */
export const DMIRROR_QUIRK_OF: Readonly<Partial<Record<MutantId, keyof DmirrorQuirks>>> = {
  D1: 'readBeginHoisted',
  D2: 'commitWithoutReadRetry',
  D3: 'invalidateWithoutSetSeq',
  D4: 'invalidateBeforeFlush',
  D5: 'invalidateSleepsUnblockable',
  D6: 'pagesUsedAfterUnlock',
  D11: 'writeFromVmaFlags',
  M9: 'driverLockAcrossFault',
  L1: 'retryWithoutDeadline',
};

/** dmirror as lib/test_hmm.c has it: every flag false. */
export const NO_DMIRROR_QUIRKS: DmirrorQuirks = Object.freeze({
  readBeginHoisted: false,
  commitWithoutReadRetry: false,
  invalidateWithoutSetSeq: false,
  invalidateBeforeFlush: false,
  invalidateSleepsUnblockable: false,
  pagesUsedAfterUnlock: false,
  writeFromVmaFlags: false,
  driverLockAcrossFault: false,
  retryWithoutDeadline: false,
});

/** dmirror's failpoints for `mutant`: its one flag set, or none for a kernel-side mutant or none. */
export function dmirrorQuirks(mutant: MutantId | null): DmirrorQuirks {
  return chooseQuirks(NO_DMIRROR_QUIRKS, DMIRROR_QUIRK_OF, mutant);
}

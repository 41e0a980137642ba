/**
 * The hook of `hmmsim workload --functional`: the functional tier (residency changes through the
 * real hmmRangeFault, migrate_vma, device-private chunks and interval notifiers) plugs in here by
 * returning its {@link ResidencyBackend} factory. Until it does, `--functional` is a usage error
 * that says so.
 * @module
 */
import type { ResidencyBackend } from '../../workload/engine/backend.ts';

/** The functional tier's backend factory, or undefined when this build has none. */
export function functionalBackend(): ((pages: number) => ResidencyBackend) | undefined {
  return undefined;
}

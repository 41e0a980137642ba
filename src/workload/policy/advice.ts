/**
 * Memory advice (`cudaMemAdvise`) and where nvidia-uvm puts a page a GPU faults on.
 *
 * The decision is `block_select_processor_residency` (uvm_va_block.c), for a GPU fault on a page
 * that is not GPU-resident, in the driver's order:
 * 1. the GPU is the preferred location → migrate to the GPU;
 * 2. (thrashing pins are decided before, by the thrashing detector);
 * 3. the page is resident nowhere → the preferred location when one is set (here: the CPU, so the
 *    page is populated in system memory and the GPU maps it remotely), else the GPU;
 * 4. the GPU is in the page's `accessed_by` mask (cudaMemAdviseSetAccessedBy) and can reach system
 *    memory → the page stays where it is and the GPU only gets the missing mapping; not for
 *    access-counter servicing, which migrates;
 * 5. a preferred location (the CPU) is set → the page stays there, mapped remotely;
 * 6. otherwise → migrate to the GPU.
 *
 * Read duplication (cudaMemAdviseSetReadMostly) is the step before 1 in the driver: on a
 * read-mostly range (`uvm_va_policy_is_read_duplicate`) a read or prefetch fault always copies the
 * page to the faulting processor and any other access gives it a local copy, so none of steps 1–6
 * applies; see {@link splitReadDuplicate}.
 * @module
 */
import { BLOCK_WORDS } from '../units.ts';

/** Advice bit (one byte of bits per 2 MiB block): cudaMemAdviseSetPreferredLocation(GPU). */
export const ADVISE_PREFER_GPU = 1;
/** cudaMemAdviseSetPreferredLocation(cudaCpuDeviceId). */
export const ADVISE_PREFER_CPU = 2;
/** cudaMemAdviseSetAccessedBy(GPU). */
export const ADVISE_ACCESSED_BY_GPU = 4;
/** cudaMemAdviseSetReadMostly (`UVM_READ_DUPLICATION_ENABLED`). */
export const ADVISE_READ_MOSTLY = 8;

/**
 * How the driver services the pages `bring` (block-relative words: faulted and prefetched pages
 * of one block that are not GPU-resident) of a read-mostly block, after
 * `block_select_processor_residency` (read duplication first: the faulting processor, whatever the
 * preferred location or accessed-by) and `uvm_va_block_service_copy`: pages whose highest access
 * is READ or PREFETCH (`written` clear; prefetched pages get the PREFETCH type) are
 * read-duplicated (`uvm_va_block_make_resident_read_duplicate`, transfer mode COPY) when they hold
 * data in system memory; the others — written pages, and pages resident nowhere, which
 * `block_copy_set_first_touch_residency` populates at the destination without a second copy —
 * migrate as usual. Writes `dupOut` (pages to duplicate) and removes them from `bring`; returns
 * their number.
 */
export function splitReadDuplicate(
  bring: Uint32Array,
  written: Uint32Array,
  populated: Uint32Array,
  populatedOff: number,
  dupOut: Uint32Array,
): number {
  let n = 0;
  for (let i = 0; i < BLOCK_WORDS; i++) {
    const d = bring[i]! & ~written[i]! & populated[populatedOff + i]!;
    dupOut[i] = d;
    if (d === 0) continue;
    bring[i] = bring[i]! & ~d;
    for (let w = d; w !== 0; w &= w - 1) n++;
  }
  return n;
}

/**
 * Splits the faulted pages of one block (`faulted`, block-relative words, none GPU-resident) by
 * the residency the driver selects for a GPU fault (steps 3–5 above). Pages that stay in system
 * memory are moved from `faulted` to `remoteOut`; those of them that hold no data yet (resident
 * nowhere, preferred location CPU) are also set in `populateOut`, to be populated there first.
 * Pages left in `faulted` migrate to the GPU. Returns the number of pages moved to `remoteOut`.
 */
export function splitGpuFaultResidency(
  advice: number,
  faulted: Uint32Array,
  populated: Uint32Array,
  populatedOff: number,
  remoteOut: Uint32Array,
  populateOut: Uint32Array,
): number {
  let n = 0;
  const preferCpu = (advice & ADVISE_PREFER_CPU) !== 0;
  const stayResident = preferCpu || (advice & ADVISE_ACCESSED_BY_GPU) !== 0;
  for (let i = 0; i < BLOCK_WORDS; i++) {
    const f = faulted[i]!;
    remoteOut[i] = 0;
    populateOut[i] = 0;
    if (f === 0 || (advice & ADVISE_PREFER_GPU) !== 0) continue;
    const inCpu = f & populated[populatedOff + i]!;
    // Resident nowhere: the preferred location (CPU) if set, else the faulting GPU.
    const nowhere = preferCpu ? f & ~inCpu : 0;
    // Resident in system memory: stays there for an accessed-by GPU or a CPU preferred location.
    const stay = (stayResident ? inCpu : 0) | nowhere;
    if (stay === 0) continue;
    remoteOut[i] = stay;
    populateOut[i] = nowhere;
    faulted[i] = f & ~stay;
    for (let w = stay; w !== 0; w &= w - 1) n++;
  }
  return n;
}

/**
 * Whether pages that became resident in system memory (CPU faults, evictions) get a remote
 * mapping for the GPU because of AccessedBy (`uvm_va_block_add_mappings_after_migration`:
 * accessed-by processors are mapped, except the preferred location when the new residency is not
 * the preferred location; `block_add_eviction_mappings`: accessed-by processors after eviction).
 */
export function accessedByMapsAfterMigration(advice: number, eviction: boolean): boolean {
  if ((advice & ADVISE_ACCESSED_BY_GPU) === 0) return false;
  // After an eviction the mappings are re-established through uvm_va_block_set_accessed_by,
  // which does not exclude the preferred location.
  return eviction || (advice & ADVISE_PREFER_GPU) === 0;
}

/**
 * The kernel's CPU-side costs: how much virtual time the simulated kernel charges for the work
 * it does on the CPU — a page fault, clearing mappings, a TLB shootdown, an mmu-notifier
 * callback, the per-page and per-folio work of a device migration, a `hmm_range_fault` pass.
 * Each machine carries its own record ({@link Kernel.costs}); a platform preset of the workload
 * model sets it. Every cost but the `hmm_range_fault` walk is zero by default, so a machine
 * nobody configures runs as it always did: CPU work takes no virtual time.
 *
 * Each cost is charged where the kernel does the work (docs/semantics.md, "Time"):
 * `handle_mm_fault`; `unmap_single_vma` and its `zap_pte_range` / `zap_huge_pmd`; the TLB flushes
 * of an unmap (`tlb_finish_mmu`), of `migrate_vma_collect_pmd`, `set_pmd_migration_entry`,
 * `try_to_migrate_one`, `wp_page_copy`, `change_protection` and `dup_mmap`; each interval
 * notifier's `invalidate` callback; `migrate_device_unmap` for every slot that stays migrating;
 * each walk pass of `hmm_range_fault`.
 * @module
 */

import { UsageError } from '../sim/errors.ts';

/** Virtual nanoseconds the kernel charges for its CPU-side work (all non-negative). */
export interface KernelCostHooks {
  /** Per `handle_mm_fault` call, whoever faults (a CPU access, GUP, `hmm_range_fault`). */
  pageFaultNs: number;
  /** Per entry cleared when unmapping: a PTE-level entry (present, swap, device…) or a huge PMD leaf. */
  zapPteNs: number;
  /** Per `unmap_single_vma` (one VMA's part of munmap, exit, MADV_DONTNEED, the OOM reaper). */
  zapRangeNs: number;
  /** Per TLB flush of a range or an address space (the IPI round to the other CPUs included). */
  tlbShootdownNs: number;
  /** Per call of an interval notifier's `invalidate` callback (the driver's work inside it not included). */
  notifierCallbackNs: number;
  /** Per base page of the slots a `migrate_vma` / `migrate_device` collects and unmaps. */
  migrateVmaPageNs: number;
  /** Per folio (a 2 MiB THP is one) of the slots a `migrate_vma` / `migrate_device` collects and unmaps. */
  migrateVmaFolioNs: number;
  /** Per `hmm_range_fault` walk pass (a restart after a fault is another pass). */
  hmmRangeFaultPassNs: number;
  /** Per page a `hmm_range_fault` pass still has to describe. */
  hmmRangeFaultPageNs: number;
}

/** The names of the cost fields, in declaration order. */
export const KERNEL_COST_NAMES: readonly (keyof KernelCostHooks)[] = [
  'pageFaultNs',
  'zapPteNs',
  'zapRangeNs',
  'tlbShootdownNs',
  'notifierCallbackNs',
  'migrateVmaPageNs',
  'migrateVmaFolioNs',
  'hmmRangeFaultPassNs',
  'hmmRangeFaultPageNs',
];

/**
 * The defaults: zero for every cost except the `hmm_range_fault` walk, which has always charged
 * 200 ns per pass and 1 ns per page so that walks and their `-EBUSY` retries take time.
 */
export const DEFAULT_KERNEL_COSTS: Readonly<KernelCostHooks> = Object.freeze({
  pageFaultNs: 0,
  zapPteNs: 0,
  zapRangeNs: 0,
  tlbShootdownNs: 0,
  notifierCallbackNs: 0,
  migrateVmaPageNs: 0,
  migrateVmaFolioNs: 0,
  hmmRangeFaultPassNs: 200,
  hmmRangeFaultPageNs: 1,
});

/**
 * How often each charging site ran on a machine since it was built (`kernel.work`): the counts the
 * costs multiply, kept whether or not the costs are zero, so that a caller can tell what work the
 * kernel did (the workload model's functional tier reads them around each operation).
 */
export interface KernelWorkCounts {
  /** `handle_mm_fault` calls. */
  pageFaults: number;
  /** Entries cleared by unmaps (PTE-level entries and huge PMD leaves). */
  zapPtes: number;
  /** `unmap_single_vma` calls that had a range to clear. */
  zapRanges: number;
  /** TLB flushes. */
  tlbShootdowns: number;
  /** Interval-notifier `invalidate` callbacks. */
  notifierCallbacks: number;
  /** Base pages of the slots migrations collected and unmapped. */
  migratePages: number;
  /** Folios of those slots. */
  migrateFolios: number;
  /** `hmm_range_fault` walk passes. */
  hmmPasses: number;
  /** Pages those passes had to describe. */
  hmmPages: number;
}

/** A zeroed {@link KernelWorkCounts}. */
export function newKernelWork(): KernelWorkCounts {
  return {
    pageFaults: 0,
    zapPtes: 0,
    zapRanges: 0,
    tlbShootdowns: 0,
    notifierCallbacks: 0,
    migratePages: 0,
    migrateFolios: 0,
    hmmPasses: 0,
    hmmPages: 0,
  };
}

/**
 * Checks a partial cost record (`where` names it in the error): an object whose keys are cost
 * names and whose values are finite non-negative numbers. Throws a {@link UsageError} otherwise.
 */
export function checkKernelCosts(where: string, costs: unknown): asserts costs is Partial<KernelCostHooks> {
  if (typeof costs !== 'object' || costs === null || Array.isArray(costs))
    throw new UsageError(where, `must be an object of costs in ns, got ${String(costs)}`);
  for (const [key, value] of Object.entries(costs)) {
    if (!(KERNEL_COST_NAMES as readonly string[]).includes(key))
      throw new UsageError(`${where}.${key}`, `is not a kernel cost; known: ${KERNEL_COST_NAMES.join(', ')}`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
      throw new UsageError(
        `${where}.${key}`,
        `must be a finite non-negative number of ns, got ${String(value)}`,
      );
  }
}

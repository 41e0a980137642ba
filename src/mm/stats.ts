/**
 * What a kernel counted since boot (`kernel.stats`), for traces, benchmarks and tests. The counts
 * live on the kernel, not in the modules that increment them, so that two machines in one process
 * (a test run, the explorer's workers, a web page) count apart.
 * @module
 */

/** Page faults handled (`handle_mm_fault`), by outcome. */
export interface FaultStats {
  /** Faults handled. */
  total: number;
  /** Faults that mapped a new THP. */
  thp: number;
  /** Copy-on-write breaks. */
  cow: number;
  /** Pages read back from swap. */
  swapin: number;
}

/** `hmm_range_fault` walks. */
export interface HmmStats {
  /** hmmRangeFault calls. */
  calls: number;
  /** Walks of the range (a restart after a fault is another pass). */
  passes: number;
  /** Pages handed to handle_mm_fault. */
  faults: number;
  /** Calls that returned -EBUSY. */
  ebusy: number;
}

/**
 * Pages `migrate_vma_finalize` / `migrate_device_finalize` left at their destination, by
 * direction (a compound slot counts its 512 pages). 6.12 has no vmstat for device migrations;
 * these count what moved: a slot still marked MIGRATE_PFN_MIGRATE with a destination page.
 */
export interface MigrateStats {
  /** Pages moved from RAM (or an empty slot populated) into device memory. */
  toDevice: number;
  /** Pages moved from device memory into RAM (migrate_to_ram, MIGRATE_VMA_SELECT_DEVICE_PRIVATE/COHERENT, eviction). */
  fromDevice: number;
}

/** Everything a kernel counts. */
export interface KernelStats {
  /** Page faults handled, by outcome. */
  readonly fault: FaultStats;
  /** `hmm_range_fault` calls, passes, faults and -EBUSY returns. */
  readonly hmm: HmmStats;
  /** Pages device migrations moved, by direction. */
  readonly migrate: MigrateStats;
}

/** Zeroed statistics for a new kernel. */
export function newKernelStats(): KernelStats {
  return {
    fault: { total: 0, thp: 0, cow: 0, swapin: 0 },
    hmm: { calls: 0, passes: 0, faults: 0, ebusy: 0 },
    migrate: { toDevice: 0, fromDevice: 0 },
  };
}

/**
 * The residency backend: the one interface through which the engine changes and reads where
 * pages live. The fast tier implements it with per-2 MiB bitmaps (`residency/fast-backend.ts`);
 * the functional tier implements it with the real kernel (hmmRangeFault, migrate_vma,
 * device-private chunks and interval notifiers) and keeps the same bitmaps as mirrors, so that
 * policies read residency the same way in both tiers.
 *
 * Bitmaps hold `BLOCK_WORDS` (16) 32-bit words per 2 MiB block, block `b` at words
 * `[b*BLOCK_WORDS, (b+1)*BLOCK_WORDS)`, bit `p & 31` of word `p >> 5` for page `p` of the block.
 * Callers only read them; the backend writes them.
 * @module
 */
/** Why pages move. Thrashing detection ignores `eviction` (uvm_perf_thrashing.c). */
export type MigrationCause = 'fault' | 'prefetch' | 'hint' | 'eviction' | 'cpu-fault';

/** What one migration of pages of a block to the GPU did, counted for the cost model. */
export interface GpuMigration {
  /** Pages that became GPU-resident (already-resident pages of the mask are not counted). */
  readonly pages: number;
  /** Of those, pages that were mapped on the CPU and had to be unmapped there first. */
  readonly cpuUnmapped: number;
  /** Of those, pages with no data anywhere, zero-filled on the GPU. */
  readonly zeroed: number;
  /** Pages that were copied from the CPU (pages − zeroed). */
  readonly copied: number;
  /** True when this was the GPU's first touch of the block (its pages get DMA-mapped). */
  readonly firstTouch: boolean;
  /** Pages DMA-mapped for the GPU by this call (the whole block on first touch). */
  readonly dmaMapped: number;
  /** Kernel-side work, for {@link kernelMigrationNs}: PTEs zapped, ranges, shootdowns, callbacks, folios. */
  readonly kernel: KernelWork;
}

/** Kernel-side work counted by a backend (the functional tier counts it on the real kernel). */
export interface KernelWork {
  readonly ptes: number;
  readonly ranges: number;
  readonly shootdowns: number;
  readonly callbacks: number;
  readonly pages: number;
  readonly folios: number;
}

/** What evicting a block's GPU-resident pages to the CPU did. */
export interface Eviction {
  /** Pages freed on the GPU: those copied back (`runs`) and the read-duplicated ones (`dropped`). */
  readonly pages: number;
  /**
   * Read-duplicated pages among them: their system-memory copy is current, so they are freed
   * without a copy (`block_copy_resident_pages` skips pages resident at the destination).
   */
  readonly dropped: number;
  /** Runs of contiguous pages (one D2H transfer each), in page counts. */
  readonly runs: readonly number[];
  /** Kernel-side work. */
  readonly kernel: KernelWork;
}

/** What a CPU access to pages of a block did. */
export interface CpuAccess {
  /** Pages that were GPU-resident and migrated back (CPU fault). */
  readonly migratedBack: number;
  /** Runs of those pages, in page counts (one D2H transfer each). */
  readonly runs: readonly number[];
  /** Pages populated on the CPU for the first time (first touch). */
  readonly populated: number;
  /**
   * Read-duplicated pages the access wrote: their GPU copy is dropped without a copy (the CPU
   * copy is current) and the CPU mapping becomes writable (one CPU fault each, counted in `faults`).
   */
  readonly collapsed: number;
  /** CPU page faults taken. */
  readonly faults: number;
  /** Kernel-side work. */
  readonly kernel: KernelWork;
}

/** What a GPU write to read-duplicated pages did (`break_read_duplication_in_region`). */
export interface Collapse {
  /** Pages whose system-memory copy was dropped; they stay GPU-resident, now writable. */
  readonly pages: number;
  /** Of those, pages the CPU mapped (read-only) and that were unmapped there. */
  readonly cpuUnmapped: number;
  /** Kernel-side work. */
  readonly kernel: KernelWork;
}

/** What read-duplicating pages from the GPU to the CPU did. */
export interface CpuDuplication {
  /** Pages the CPU got a copy of (mapped read-only); the GPU keeps its own. */
  readonly pages: number;
  /** Kernel-side work. */
  readonly kernel: KernelWork;
}

/** What the GPU's first use of a block without a migration did (a remote mapping). */
export interface FirstTouch {
  /** Pages DMA-mapped for the GPU: the whole block, or 0 when the GPU had touched it before. */
  readonly dmaMapped: number;
  /** Kernel-side work. */
  readonly kernel: KernelWork;
}

/** Counters a backend owns. */
export interface BackendCounters {
  /** mmu-notifier invalidations delivered to the GPU's mirror (functional tier) or modelled (fast tier). */
  invalidations: number;
  /** `-EBUSY` retries of migrations (functional tier; always 0 in the fast tier). */
  ebusyRetries: number;
}

/** Where pages live, and the operations that move them. */
export interface ResidencyBackend {
  /** Name of the tier (`fast`, `functional`). */
  readonly tier: string;
  /** Number of 2 MiB blocks of the footprint. */
  readonly blockCount: number;
  /** Pages in the footprint (the last block may be partial). */
  readonly pageCount: number;
  /** GPU-resident pages, `BLOCK_WORDS` (16) words per block. */
  readonly gpuResident: Uint32Array;
  /** Pages mapped in the CPU page tables. */
  readonly cpuMapped: Uint32Array;
  /** Pages that hold data somewhere (written or populated by anyone). */
  readonly populated: Uint32Array;
  /** 1 when the GPU has touched the block (its CPU pages are DMA-mapped for the GPU). */
  readonly gpuTouched: Uint8Array;
  /**
   * Read-duplicated pages (nvidia-uvm `read_duplicated_pages`): GPU-resident (set in
   * `gpuResident` too, mapped read-only there) and resident in system memory as well.
   */
  readonly readDuplicated: Uint32Array;
  /**
   * Pages the CPU maps read-only: read-duplicated pages, and pages whose duplication an eviction
   * broke (the CPU mapping stays read-only until a CPU write upgrades it, a CPU fault).
   */
  readonly cpuReadOnly: Uint32Array;
  /** Counters the backend owns. */
  readonly counters: BackendCounters;

  /**
   * Makes the pages of `mask` (words at `maskOff`) of block `block` GPU-resident and mapped. The
   * result is valid until the next call: a backend may reuse the object (the fast tier does, it
   * runs once per VA block per batch).
   */
  migrateToGpu(block: number, mask: Uint32Array, maskOff: number, cause: MigrationCause): GpuMigration;
  /**
   * Moves the GPU-resident pages of `mask` (words at `maskOff`) of `block` to the CPU — the whole
   * block for a root-chunk eviction, a page or a 64 KiB basic block for UVM Smart's policies.
   */
  evictToCpu(block: number, mask: Uint32Array, maskOff: number): Eviction;
  /**
   * Read-duplicates the pages of `mask` of `block` (each holding data in system memory, none
   * GPU-resident) onto the GPU (`uvm_va_block_make_resident_read_duplicate`): copies them, keeps
   * the system-memory copy and maps it read-only on the CPU (`block_prep_read_duplicate_mapping`
   * revokes write: an unmap, then a read-only map). `cpuUnmapped` counts the CPU-writable pages so
   * revoked; `zeroed` is 0. The result may be reused as for {@link migrateToGpu}.
   */
  duplicateToGpu(block: number, mask: Uint32Array, maskOff: number): GpuMigration;
  /**
   * A GPU write to the read-duplicated pages of `mask` of `block`: the system-memory copies are
   * dropped (unmapped on the CPU), the GPU copies stay and become the only ones.
   */
  collapseOnGpu(block: number, mask: Uint32Array, maskOff: number): Collapse;
  /**
   * Read-duplicates the GPU-resident pages of `mask` of `block` (none read-duplicated yet) to the
   * CPU, as a CPU read fault on a read-mostly block does: the CPU gets a read-only copy, the GPU
   * keeps its own (read-only too).
   */
  duplicateToCpu(block: number, mask: Uint32Array, maskOff: number): CpuDuplication;
  /**
   * The GPU maps pages of `block` remotely (in system memory) for the first time: when it has
   * not touched the block before, the block's CPU pages are DMA-mapped for it, as on a first
   * migration (nvidia-uvm `uvm_va_block_map` → `uvm_va_block_gpu_state_get_alloc` →
   * `block_gpu_map_phys_all_cpu_pages`), and the block counts as touched.
   */
  gpuFirstTouch(block: number): FirstTouch;
  /** A CPU access (read or write) to the pages of `mask` of `block`: faults pages back, populates. */
  cpuAccess(block: number, mask: Uint32Array, maskOff: number, write: boolean): CpuAccess;
}

/** Kernel work of nothing. */
export const NO_KERNEL_WORK: KernelWork = {
  ptes: 0,
  ranges: 0,
  shootdowns: 0,
  callbacks: 0,
  pages: 0,
  folios: 0,
};

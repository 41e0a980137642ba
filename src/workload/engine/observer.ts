/**
 * What the engine reports while it runs, for the uvm-eval CSVs, the Chrome trace and progress.
 * Every callback is optional; with none attached the engine records nothing per event.
 * @module
 */

/** One serviced fault batch (a uvm-eval batch CSV row). */
export interface BatchRecord {
  /** Batch number from 0. */
  readonly id: number;
  readonly startNs: number;
  readonly durNs: number;
  /** Fault buffer entries fetched (uvm-eval `num_cached_faults`). */
  readonly cached: number;
  /** Entries after coalescing (`num_coalesced_faults`). */
  readonly coalesced: number;
  /** Duplicates: a page already serviced in the batch or already resident (`num_duplicate_faults`). */
  readonly duplicates: number;
  /** VA blocks serviced (`num_vablock`). */
  readonly blocks: number;
  /** Pages migrated to the GPU (faulted + prefetched). */
  readonly pages: number;
  /** Of those, pages migrated without a fault (`num_prefetch`). */
  readonly prefetched: number;
  /** Blocks (or units) evicted (`num_evict`). */
  readonly evictions: number;
  /** Copies issued (`num_transfers`) and their bytes (`transfer_size`). */
  readonly transfers: number;
  readonly transferBytes: number;
  /** Time of the batch's copies, CPU unmaps, and GPU map/populate work, ns. */
  readonly transferNs: number;
  readonly unmapNs: number;
  readonly mapNs: number;
  /** Blocks touched by the GPU for the first time (`num_new_vablock`). */
  readonly newBlocks: number;
  /** Replays issued after this batch. */
  readonly replays: number;
}

/** One copy on a copy engine. */
export interface TransferRecord {
  readonly dir: 'h2d' | 'd2h';
  readonly startNs: number;
  readonly durNs: number;
  /** Byte offset in the footprint. */
  readonly addr: number;
  readonly bytes: number;
  /** Why: a GPU fault, prefetch, hint, eviction or CPU fault. */
  readonly cause: string;
}

/** One GPU fault buffer entry as the driver fetched it (a uvm-eval fault CSV `f` record). */
export interface FaultRecord {
  readonly timeNs: number;
  /** Byte offset in the footprint. */
  readonly addr: number;
  /** 0 read, 1 write, 2 prefetch (an L2 prefetch instruction). */
  readonly access: number;
  readonly utlb: number;
  readonly sm: number;
  readonly batch: number;
}

/** A span of work on a track (CPU phase, CPU unmap, kernel). */
export interface SpanRecord {
  readonly track: 'kernel' | 'cpu' | 'cpu-unmap' | 'fault-handler' | 'eviction';
  readonly name: string;
  readonly startNs: number;
  readonly durNs: number;
  readonly args?: Record<string, number | string>;
}

/**
 * A span during which an SM group (the SMs sharing one μTLB) had faults outstanding: from the
 * round in which its first fault was raised to the replay after which none was left.
 */
export interface SmGroupRecord {
  /** μTLB index; its SMs are `utlb × smsPerUtlb …` (`firstSm`, `sms`). */
  readonly utlb: number;
  readonly firstSm: number;
  readonly sms: number;
  readonly startNs: number;
  readonly durNs: number;
  /** Most faults outstanding at once in the span. */
  readonly maxOutstanding: number;
  /** Kernel name. */
  readonly kernel: string;
}

/**
 * The faults the GPU raised in one round — at a kernel's start or after a replay: accesses retried
 * and faulting again plus new faults, prefetch faults not included.
 */
export interface RoundRecord {
  readonly timeNs: number;
  /** Faults raised by all SMs. */
  readonly faults: number;
  /** SMs that raised at least one. */
  readonly sms: number;
  /** Most faults raised by one SM. */
  readonly maxPerSm: number;
}

/** Receives the engine's events. */
export interface RunObserver {
  onBatch?(b: BatchRecord): void;
  onTransfer?(t: TransferRecord): void;
  onFault?(f: FaultRecord): void;
  onSpan?(s: SpanRecord): void;
  /** SM-group waits (one span per μTLB per stretch of outstanding faults). */
  onSmGroup?(g: SmGroupRecord): void;
  /** One round of the GPU's fault issue (how many faults a replay brings into the buffer). */
  onRound?(r: RoundRecord): void;
  /** Called every few thousand faults with the accesses done and the total known so far. */
  onProgress?(done: number, total: number): void;
}

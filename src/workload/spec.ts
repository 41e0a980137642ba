/**
 * A workload as the engine runs it: allocations, then steps (kernels from generators, CPU
 * phases, prefetch hints, repeats). The JSON workload file (`hmmsim workload FILE.json`) and
 * `--gen` both produce this; the CLI validates files into it.
 * @module
 */
import type { KernelTrace } from './generators/trace.ts';

/** One managed allocation (`cudaMallocManaged`), placed at a 2 MiB boundary. */
export interface AllocationSpec {
  readonly name: string;
  /** Bytes. */
  readonly size: number;
  /** `cpu`: the CPU writes it before the first kernel (init phase); `none`: untouched (zero-filled on first touch). */
  readonly init: 'cpu' | 'none';
  /** CPU threads of the init phase. */
  readonly initThreads?: number;
  /**
   * `cudaMemAdviseSetPreferredLocation`: with `gpu`, a first touch populates the whole block on
   * the GPU; with `cpu`, GPU faults leave the pages in system memory (populated there on first
   * touch) and map them remotely, and access counters do not migrate them.
   */
  readonly preferredLocation?: 'gpu' | 'cpu';
  /**
   * `cudaMemAdviseSetAccessedBy(gpu)`: the GPU keeps a mapping of the pages wherever they are
   * resident in system memory (mapped after CPU faults and evictions), so its accesses to them
   * are remote and never migrate them; only access counters (when on) and prefetch hints do.
   */
  readonly accessedBy?: 'gpu';
  /**
   * `cudaMemAdviseSetReadMostly`: GPU read and prefetch faults copy the pages to the GPU and leave
   * the system-memory copy mapped read-only (read duplication); a write by either side collapses
   * the copies onto the writer (docs/workload.md, "Read duplication").
   */
  readonly readMostly?: boolean;
}

/** A kernel launch made by a generator over some allocations. */
export interface KernelStep {
  readonly kernel: string;
  readonly gen: string;
  /** Allocation names, in the generator's array order. */
  readonly arrays: readonly string[];
  readonly args: Readonly<Record<string, number>>;
}

/** A CPU phase over one allocation. */
export interface CpuStep {
  readonly cpu: 'read' | 'write';
  readonly array: string;
  readonly threads: number;
}

/** `cudaMemPrefetchAsync` of an allocation. */
export interface PrefetchStep {
  readonly prefetch: string;
  readonly to: 'gpu';
}

/** A kernel given as a ready access trace (a replayed uvm-eval fault CSV), pages relative to `array`. */
export interface TraceStep {
  readonly replay: KernelTrace;
  readonly array: string;
}

/** Steps repeated `repeat` times. */
export interface RepeatStep {
  readonly repeat: number;
  readonly steps: readonly Step[];
}

/** One step. */
export type Step = KernelStep | CpuStep | PrefetchStep | RepeatStep | TraceStep;

/** A workload. */
export interface WorkloadSpec {
  readonly name: string;
  readonly description?: string;
  readonly allocations: readonly AllocationSpec[];
  readonly steps: readonly Step[];
  /** Platform and policy names (the command line may override them). */
  readonly platform?: string;
  readonly policy?: string;
  /** Parameter settings (`--set` adds to them). */
  readonly set?: Readonly<Record<string, string | number>>;
  /** Footprint ÷ device memory; 1 = fits. */
  readonly oversub?: number;
  /** How oversubscription is made: shrink device memory, or reserve part of it. */
  readonly oversubMode?: 'shrink' | 'reserve';
  readonly seed?: number;
}

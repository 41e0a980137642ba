/**
 * Published measurements the presets are calibrated on, with their sources. Only micro-level
 * measurements appear here (transfer durations, fault-group durations), never application results.
 * @module
 */
import type { LinkPoint } from './link.ts';

/** Where the GTX 1080 Ti numbers come from. */
export const P1_SOURCE =
  'GPGPU-Sim UVM Smart micro-benchmarks/getHWPrefetcherP1.cu: nvprof output of a GTX 1080 Ti (PCIe 3.0 x16) pasted in the file';

/** Unified-memory HtoD migration durations on the GTX 1080 Ti (P1 trace): 4 KiB, 60, 124, 252, 508, 1020 KiB. */
export const PASCAL_UM_HTOD: readonly LinkPoint[] = [
  { bytes: 4 * 1024, ns: 1730 },
  { bytes: 60 * 1024, ns: 5760 },
  { bytes: 124 * 1024, ns: 11230 },
  { bytes: 252 * 1024, ns: 21700 },
  { bytes: 508 * 1024, ns: 43260 },
  { bytes: 1020 * 1024, ns: 86400 },
];

/**
 * Durations of the P1 trace's "GPU page fault" groups after the first (64 KiB blocks 1, 2, 4, 8,
 * 16 of a fresh 2 MiB buffer): 25.22, 31.84, 49.28, 84.38, 157.02 µs; the first group (block 0)
 * lasted 183.74 µs.
 */
export const PASCAL_FAULT_GROUPS_NS: readonly number[] = [183740, 25220, 31840, 49280, 84380, 157020];

/** Pages migrated by each P1 fault group: 16, 16, 32, 64, 128, 256. */
export const PASCAL_FAULT_GROUP_PAGES: readonly number[] = [16, 16, 32, 64, 128, 256];

/**
 * Pageable `cudaMemcpy` HtoD bandwidth on the GTX 1080 Ti (UVM Smart
 * micro-benchmarks/transferBandwidth.cu, nvprof), sizes 4 KiB … 1 MiB, in GiB/s as nvprof prints.
 */
export const PASCAL_PAGEABLE_GIBPS: readonly (readonly [number, number])[] = [
  [4096, 3.22],
  [8192, 4.87],
  [16384, 6.44],
  [32768, 7.69],
  [65536, 8.48],
  [131072, 9.63],
  [262144, 10.51],
  [524288, 10.99],
  [1048576, 11.22],
];

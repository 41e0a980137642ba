/**
 * Driver policy presets: the parameters of each driver's fault handling (batching, replay and
 * flush, prefetch, eviction, placement), as data with sources. The engine reads a policy only
 * through these parameters, so `--set` can change any of them.
 * @module
 */
import { choice, num, type Param, type ParamSet } from '../params.ts';
import { EVICTION_POLICIES } from './eviction.ts';

/** Replay policies of `uvm_gpu_replayable_faults.h` (`uvm_perf_fault_replay_policy`). */
export const REPLAY_POLICIES = ['block', 'batch', 'batch-flush', 'once'] as const;
/** Prefetchers. */
export const PREFETCHERS = ['density', 'tbn', 'sl', 'random', 'on-demand', 'window', 'xe-range'] as const;
/** UVM Smart's prefetch choice once evictions started (`-hwprefetch_oversub`), plus `same` (no change). */
export const OVERSUB_PREFETCH = ['same', 'off', 'tbn', 'sl', 'random'] as const;

/** The parameter names of a policy. */
export interface PolicyParams extends ParamSet {
  readonly batchSize: Param<number>;
  readonly coalesce: Param<number>;
  readonly replayPolicy: Param<string>;
  readonly replayScope: Param<string>;
  readonly updatePutRatio: Param<number>;
  readonly maxBatchesPerService: Param<number>;
  readonly maxThrottlePerService: Param<number>;
  readonly faultBufferEntries: Param<number>;
  readonly prefetch: Param<string>;
  readonly prefetchEnable: Param<number>;
  readonly prefetchThreshold: Param<number>;
  readonly prefetchMinFaults: Param<number>;
  readonly prefetchFaultsReenableLapseMs: Param<number>;
  readonly accessCounterMigration: Param<string>;
  readonly accessCounterThreshold: Param<number>;
  readonly accessCounterBatchCount: Param<number>;
  readonly mapRemoteOnEviction: Param<number>;
  readonly cpuChunkSize: Param<string>;
  readonly windowPages: Param<number>;
  readonly eviction: Param<string>;
  readonly oversubPrefetch: Param<string>;
  readonly placement: Param<string>;
  readonly cpuFaultGrowPages: Param<number>;
  readonly thrashingEnable: Param<number>;
  readonly thrashingThreshold: Param<number>;
  readonly thrashingPinThreshold: Param<number>;
  readonly thrashingLapseUs: Param<number>;
  readonly thrashingNap: Param<number>;
  readonly thrashingEpoch: Param<number>;
  readonly thrashingPin: Param<number>;
  readonly thrashingMaxResets: Param<number>;
}

/** A policy preset. */
export interface PolicyPreset {
  readonly name: string;
  readonly description: string;
  readonly params: PolicyParams;
}

const RF = 'nvidia-uvm uvm_gpu_replayable_faults.c';
const PF = 'nvidia-uvm uvm_perf_prefetch.c';
const PMM = 'nvidia-uvm uvm_pmm_gpu.c pick_root_chunk_to_evict';
const UVMS = 'UVM Smart gpu-sim.cc / configs/GeForceGTX1080Ti/gpgpusim.config';
const TH = 'nvidia-uvm uvm_perf_thrashing.c';

/** nvidia-uvm's thrashing detection and prevention tunables, with their module defaults. */
function thrashingParams(enable: number, source: string) {
  return {
    thrashingEnable: num(enable, 'bool', 'thrashing detection, throttling and pinning', source),
    thrashingThreshold: num(
      3,
      'events',
      'consecutive migrations of a page less than a lapse apart that make it thrashing (at most 7)',
      `${TH} uvm_perf_thrashing_threshold`,
    ),
    thrashingPinThreshold: num(
      10,
      'throttles',
      'throttles of a page before it is pinned',
      `${TH} uvm_perf_thrashing_pin_threshold`,
    ),
    thrashingLapseUs: num(
      500,
      'µs',
      'two migrations of a page closer than this are a thrashing event',
      `${TH} uvm_perf_thrashing_lapse_usec`,
    ),
    thrashingNap: num(1, '× lapse', 'length of a throttling period', `${TH} uvm_perf_thrashing_nap`),
    thrashingEpoch: num(
      2000,
      '× lapse',
      "time without thrashing after which a block's tracking is dropped",
      `${TH} uvm_perf_thrashing_epoch`,
    ),
    thrashingPin: num(
      300,
      '× lapse',
      'how long a page stays pinned (0 = forever)',
      `${TH} uvm_perf_thrashing_pin`,
    ),
    thrashingMaxResets: num(
      4,
      'count',
      "times a block's tracking may be dropped",
      `${TH} uvm_perf_thrashing_max_resets`,
    ),
  };
}

function nvidiaBase(): PolicyParams {
  return {
    batchSize: num(256, 'faults', 'faults fetched per batch', `${RF} uvm_perf_fault_batch_count`),
    coalesce: num(
      1,
      'bool',
      'merge duplicate faults while fetching',
      `${RF} uvm_perf_fault_coalesce, fetch_fault_buffer_try_merge_entry`,
    ),
    replayPolicy: choice(
      'batch-flush',
      REPLAY_POLICIES,
      'when faulting accesses are replayed',
      `${RF} uvm_perf_fault_replay_policy (UVM_PERF_FAULT_REPLAY_POLICY_BATCH_FLUSH)`,
    ),
    replayScope: choice(
      'all',
      ['all', 'serviced'],
      'what a replay retries: every stalled access of the GPU (NVIDIA replayable faults), or only the accesses whose faults were serviced (per-fault replies)',
      'Allen & Ge SC21 §4.2: after a replay SMs re-issue their outstanding faults, creating duplicates',
    ),
    updatePutRatio: num(
      50,
      '%',
      'flush with UPDATE_PUT when duplicates × 100 > cached × ratio, else CACHED_PUT',
      `${RF} uvm_perf_fault_replay_update_put_ratio`,
    ),
    maxBatchesPerService: num(
      20,
      'batches',
      'batches serviced per bottom-half run',
      `${RF} uvm_perf_fault_max_batches_per_service`,
    ),
    maxThrottlePerService: num(
      5,
      'batches',
      'batches with throttled faults per bottom-half run',
      `${RF} uvm_perf_fault_max_throttle_per_service`,
    ),
    faultBufferEntries: num(
      8192,
      'entries',
      'entries of the GPU replayable fault buffer; a full buffer stalls new faults',
      'hardware-dependent (fault_buffer_info.replayable.max_faults); not checked',
      true,
    ),
    prefetch: choice(
      'density',
      PREFETCHERS,
      'prefetcher',
      `${PF} uvm_perf_prefetch_prenotify_fault_migrations`,
    ),
    prefetchEnable: num(
      1,
      'bool',
      'prefetching on (big-page growth happens regardless)',
      `${PF} uvm_perf_prefetch_enable`,
    ),
    prefetchThreshold: num(
      51,
      '%',
      'a subregion is prefetched when resident×100 > pages×threshold',
      `${PF} UVM_PREFETCH_THRESHOLD_DEFAULT, compute_prefetch_region`,
    ),
    prefetchMinFaults: num(
      1,
      'faults',
      'fault migrations to the same processor before prefetching starts',
      `${PF} uvm_perf_prefetch_min_faults`,
    ),
    prefetchFaultsReenableLapseMs: num(
      1000,
      'ms',
      'GPU prefetch faults (L2 prefetch instructions) are turned off after a batch whose invalid prefetch faults × 3 exceed batchSize × 2, and on again at the first batch end this long after; 0 = never off',
      `${RF} uvm_perf_reenable_prefetch_faults_lapse_msec, enable_disable_prefetch_faults`,
    ),
    windowPages: num(
      1,
      'pages',
      'fault window of the window prefetcher (unused by density)',
      'not used by nvidia-uvm',
    ),
    eviction: choice(
      'root-chunk',
      EVICTION_POLICIES,
      'eviction policy',
      `${PMM}: UNUSED → DISCARDED → USED lists, allocation order`,
    ),
    oversubPrefetch: choice(
      'same',
      OVERSUB_PREFETCH,
      'prefetcher once evictions have started',
      'nvidia-uvm does not change its prefetcher under oversubscription',
    ),
    placement: choice(
      'migrate',
      ['migrate', 'map-remote'],
      'migrate pages to the GPU, or map them remotely (no copy)',
      'nvidia-uvm migrates on replayable faults',
    ),
    cpuFaultGrowPages: num(
      16,
      'pages',
      'pages a CPU fault migrates back at least (64 KiB big page around the fault)',
      'P1 nvprof trace: CPU read-back is 4 KiB + 60 KiB DtoH per touched block; density prefetcher with the CPU as destination',
    ),
    ...thrashingParams(1, `${TH} uvm_perf_thrashing_enable`),
    ...accessCounterParams('default', `${AC} uvm_perf_access_counter_migration_enable, is_migration_enabled`),
  };
}

const AC = 'nvidia-uvm uvm_gpu_access_counters.c';

function accessCounterParams(migration: 'default' | 'off' | 'on', source: string) {
  return {
    accessCounterMigration: choice(
      migration,
      ['default', 'off', 'on'],
      'migrations on access-counter notifications: default = the driver policy (uvm_perf_access_counter_migration_enable = -1: on only with ATS), off (0), on (1); needs a GPU with access counters',
      source,
    ),
    accessCounterThreshold: num(
      256,
      'accesses',
      'remote accesses to a 2 MiB region (UVM_PERF_ACCESS_COUNTER_GRANULARITY) that raise a notification',
      `${AC} uvm_perf_access_counter_threshold (UVM_PERF_ACCESS_COUNTER_THRESHOLD_DEFAULT)`,
    ),
    accessCounterBatchCount: num(
      256,
      'notifications',
      'notifications fetched and serviced per batch',
      `${AC} uvm_perf_access_counter_batch_count`,
    ),
    mapRemoteOnEviction: num(
      1,
      'bool',
      'after an eviction the GPU maps the evicted pages remotely (only while access-counter migrations are on)',
      'nvidia-uvm uvm_va_block.c uvm_perf_map_remote_on_eviction, uvm_va_space_map_remote_on_eviction',
    ),
    cpuChunkSize: choice(
      '2m',
      ['2m', '4k'],
      'CPU chunks backing system memory: 2m = a 2 MiB chunk per block, so an access-counter notification migrates the remotely accessed 64 KiB sub-regions; 4k = 4 KiB chunks, so it migrates the page at its address only (the model takes the region base; the driver asserts only 64 KiB alignment)',
      `${AC} expand_notification_block (uvm_va_block_get_physical_size != granularity); nvidia-uvm uvm_pmm_sysmem.c uvm_cpu_chunk_allocation_sizes (4k = 0x1000)`,
      true,
    ),
  };
}

function uvmsmart(name: string, prefetch: string, description: string): PolicyPreset {
  const b = nvidiaBase();
  return {
    name,
    description,
    params: {
      ...b,
      prefetch: choice(
        prefetch,
        PREFETCHERS,
        'prefetcher',
        `${UVMS} -hardware_prefetch (do_hardware_prefetch)`,
      ),
      prefetchThreshold: num(
        50,
        '%',
        'TBN fills a subtree when valid > size/2 (strict)',
        `${UVMS} traverse_and_fill_lp_tree`,
      ),
      eviction: choice(
        'lru-2m',
        EVICTION_POLICIES,
        'eviction policy',
        `${UVMS} -eviction_policy 0 (LRU 2MB, default)`,
      ),
      oversubPrefetch: choice(
        'off',
        OVERSUB_PREFETCH,
        'prefetcher once evictions have started',
        `${UVMS} -hwprefetch_oversub 0 ("disable upon eviction (default)")`,
      ),
      cpuFaultGrowPages: num(
        16,
        'pages',
        'pages a CPU read-back migrates (UVM Smart does not model the CPU side)',
        'same as nvidia-uvm; UVM Smart README: CPU page tables not simulated',
        true,
      ),
      ...thrashingParams(0, 'UVM Smart gpu-sim.cc: no thrashing detection'),
      ...accessCounterParams('off', "UVM Smart's access counters (-enable_dma) are not modelled"),
    },
  };
}

function hmmDriver(
  name: string,
  description: string,
  o: {
    window: number;
    windowSource: string;
    prefetch: string;
    batch: number;
    batchSource: string;
    replay: string;
    scope: string;
    placement: string;
    eviction: string;
    evictionSource: string;
  },
): PolicyPreset {
  const b = nvidiaBase();
  return {
    name,
    description,
    params: {
      ...b,
      batchSize: num(o.batch, 'faults', 'faults handled together', o.batchSource, true),
      replayPolicy: choice(
        o.replay,
        REPLAY_POLICIES,
        'when faulting accesses are replayed',
        o.batchSource,
        true,
      ),
      replayScope: choice(o.scope, ['all', 'serviced'], 'what a replay retries', o.batchSource, true),
      prefetch: choice(o.prefetch, PREFETCHERS, 'fault range', o.windowSource),
      windowPages: num(o.window, 'pages', 'pages faulted in around each fault', o.windowSource),
      eviction: choice(o.eviction, EVICTION_POLICIES, 'eviction policy', o.evictionSource, true),
      placement: choice(o.placement, ['migrate', 'map-remote'], 'migrate or map remotely', o.windowSource),
      cpuFaultGrowPages: num(
        1,
        'pages',
        'pages a CPU fault migrates back (do_swap_page → migrate_to_ram of one page)',
        'mm/memory.c do_swap_page → pgmap->ops->migrate_to_ram',
        true,
      ),
      ...thrashingParams(0, 'HMM drivers (xe, amdkfd, nouveau, dmirror) have no thrashing detection'),
      ...accessCounterParams(
        'off',
        'HMM drivers (xe, amdkfd, nouveau, dmirror) have no access-counter migrations',
      ),
    },
  };
}

/** The built-in policies. */
export const POLICIES: readonly PolicyPreset[] = [
  {
    name: 'nvidia-uvm',
    description:
      "NVIDIA's open nvidia-uvm driver: batched replayable faults, density prefetcher, root-chunk eviction",
    params: nvidiaBase(),
  },
  uvmsmart(
    'uvmsmart-ondemand',
    'on-demand',
    'UVM Smart, on-demand migration (faulted 4 KiB page only), LRU 2MB eviction',
  ),
  uvmsmart(
    'uvmsmart-random',
    'random',
    'UVM Smart, random prefetcher (faulted page + one random 4 KiB page of the 2 MiB block)',
  ),
  uvmsmart('uvmsmart-sl', 'sl', 'UVM Smart, sequential-local 64 KiB prefetcher'),
  uvmsmart(
    'uvmsmart-tbn',
    'tbn',
    'UVM Smart, tree-based neighbourhood prefetcher (64 KiB leaves, > 50 % fills the subtree)',
  ),
  hmmDriver(
    'amdkfd-xnack',
    'amdgpu KFD SVM with XNACK on: retry faults migrate the 2 MiB-aligned range ∩ VMA',
    {
      window: 512,
      windowSource: 'amdgpu svm_range_get_range_boundaries, svm_default_granularity = 9 (2 MiB)',
      prefetch: 'window',
      batch: 256,
      batchSource: 'batching per IH ring not checked; NVIDIA defaults used',
      replay: 'batch',
      scope: 'all',
      placement: 'migrate',
      eviction: 'root-chunk',
      evictionSource: 'TTM LRU of SVM BOs approximated by allocation order (not checked)',
    },
  ),
  hmmDriver(
    'xe-gpusvm',
    'Intel xe with drm_gpusvm: per-fault ranges of 2M/64K/4K (largest that fits the VMA)',
    {
      window: 512,
      windowSource: 'drm_gpusvm fault_chunk_sizes {2M, 64K, 4K} (xe_svm.c xe_svm_init)',
      prefetch: 'xe-range',
      batch: 1,
      batchSource: 'xe services page faults one at a time (__xe_svm_handle_pagefault)',
      replay: 'block',
      scope: 'serviced',
      placement: 'migrate',
      eviction: 'root-chunk',
      evictionSource: 'xe VRAM eviction through TTM (not modelled in detail)',
    },
  ),
  hmmDriver(
    'nouveau',
    'nouveau SVM: sorted fault buffer, 16-page windows mapped from system memory (no migration)',
    {
      window: 16,
      windowSource: 'nouveau_svm_fault (u64 phys[16] window, maps system memory pages)',
      prefetch: 'window',
      batch: 8192,
      batchSource: 'nouveau_svm_fault reads the whole buffer and replays once',
      replay: 'once',
      scope: 'all',
      placement: 'map-remote',
      eviction: 'root-chunk',
      evictionSource: 'no VRAM used by faults',
    },
  ),
  hmmDriver(
    'dmirror',
    "the kernel's test driver: hmm_range_fault in 32-page windows, mirrored (no migration)",
    {
      window: 32,
      windowSource: 'lib/test_hmm.c dmirror_fault (pfns[32]); hmmsim DMIRROR_FAULT_BATCH',
      prefetch: 'window',
      batch: 1,
      batchSource: 'dmirror faults one range at a time',
      replay: 'block',
      scope: 'serviced',
      placement: 'map-remote',
      eviction: 'root-chunk',
      evictionSource: 'no device memory used by faults',
    },
  ),
];

/** Names of the built-in policies. */
export const POLICY_NAMES: readonly string[] = POLICIES.map((p) => p.name);

/** The policy called `name`, or undefined. */
export function findPolicy(name: string): PolicyPreset | undefined {
  return POLICIES.find((p) => p.name === name);
}

/**
 * Platform presets: a GPU, its link to the CPU, the driver's per-step service costs and the CPU
 * kernel's costs, as data. Every value is a {@link Param} carrying its source; values that were
 * not checked against a measurement are marked `unverified`. Presets are JSON-serializable and
 * addressed by flat parameter names (`--set h2dBytesPerNs=25`).
 *
 * The `pascal-pcie3` preset is calibrated on the GTX 1080 Ti nvprof trace of UVM Smart's
 * micro-benchmarks (see `calibration-data.ts` and docs/workload.md "Calibrating a platform").
 * @module
 */
import { choice, num, type Param, type ParamSet } from '../params.ts';
import type { LinkModel } from './link.ts';

/** The parameter names of a platform (every preset defines all of them). */
export interface PlatformParams extends ParamSet {
  // GPU
  /** Streaming multiprocessors (count). */
  readonly sms: Param<number>;
  /** SMs sharing one μTLB (each μTLB has its own fault limit) (count). */
  readonly smsPerUtlb: Param<number>;
  /** Outstanding replayable faults one μTLB holds (count). */
  readonly utlbMaxOutstanding: Param<number>;
  /** Per-SM fault rate limiter: new faults one SM raises per service round; 56 (the μTLB's limit) = none visible (count). */
  readonly smMaxOutstanding: Param<number>;
  /** How thread blocks reach SMs: `dynamic` (the next block to the first free slot) or `static` (block b to SM b mod sms). */
  readonly blockDispatch: Param<string>;
  /** Device memory available to managed data (bytes). */
  readonly deviceMemory: Param<number>;
  /** GPU compute time per page-sized access wave (0 = fault-bound: only memory management is timed) (ns). */
  readonly computeNsPerAccess: Param<number>;
  /** The GPU has access counters (notifications of remote accesses) (bool). */
  readonly accessCounters: Param<number>;
  /** The system has ATS (address translation services: the GPU walks the CPU page tables) (bool). */
  readonly ats: Param<number>;
  /** Bytes one GPU access to a remotely mapped page moves over the link (bytes). */
  readonly remoteAccessBytes: Param<number>;
  // link
  /** Copy-time model: affine t0 + s/B, or UVM Smart atan curve. */
  readonly linkModel: Param<string>;
  /** Fixed cost of one H2D transfer (ns). */
  readonly h2dT0Ns: Param<number>;
  /** H2D bandwidth (GB/s) (bytes/ns). */
  readonly h2dBytesPerNs: Param<number>;
  /** Fixed cost of one D2H transfer (ns). */
  readonly d2hT0Ns: Param<number>;
  /** D2H bandwidth (GB/s) (bytes/ns). */
  readonly d2hBytesPerNs: Param<number>;
  /** UVM Smart curve_a (12 for -pcie_bandwidth 16.0GB/s) (GiB/s). */
  readonly atanCurveA: Param<number>;
  /** UVM Smart curve_b (1/KiB). */
  readonly atanCurveB: Param<number>;
  /** Core clock the atan durations are truncated to (MHz). */
  readonly atanCoreClockMhz: Param<number>;
  /** Transfers this large get half the atan speed (bytes). */
  readonly atanHalveAtBytes: Param<number>;
  // driver service costs (per batch, per block, per page)
  /** Per-batch fixed cost: wake-up, fetch set-up, preprocess (sort) (ns). */
  readonly batchFixedNs: Param<number>;
  /** Per cached fault: read and coalesce one fault buffer entry (ns). */
  readonly faultFetchNs: Param<number>;
  /** One replay push (and buffer flush) (ns). */
  readonly replayNs: Param<number>;
  /** Per VA block serviced: lock, state lookup, prefetch and thrashing hints (ns). */
  readonly blockFixedNs: Param<number>;
  /** Unmap_mapping_range of a page mapped on the CPU (first migration of the page only) (ns). */
  readonly cpuUnmapPerPageNs: Param<number>;
  /** Allocate GPU memory (chunk split) per migrated page (ns). */
  readonly populatePerPageNs: Param<number>;
  /** Zero a GPU page that has no data anywhere (first touch on the GPU) (ns). */
  readonly zeroPerPageNs: Param<number>;
  /** First touch of a block by the GPU: DMA-map every CPU page of the block (paid once per block) (ns). */
  readonly dmaMapPerPageNs: Param<number>;
  /** GPU PTE writes per mapped page (ns). */
  readonly pteUpdatePerPageNs: Param<number>;
  /** GPU TLB invalidate per block (included in the fitted per-block cost) (ns). */
  readonly tlbInvalidateNs: Param<number>;
  /** Per VA block evicted: lock, unmap GPU PTEs, free the chunk (ns). */
  readonly evictBlockFixedNs: Param<number>;
  /** CPU fault on a GPU-resident page: fault entry, UVM lock, block service (ns). */
  readonly cpuFaultFixedNs: Param<number>;
  // CPU kernel costs (the functional tier's kernel hooks; the fast tier uses the same numbers)
  /** CPU page fault entry/exit (handle_mm_fault) (ns). */
  readonly kPageFaultNs: Param<number>;
  /** Clearing one PTE in zap_pte_range / try_to_migrate (ns). */
  readonly kZapPerPteNs: Param<number>;
  /** Fixed cost of one unmap_mapping_range / zap of a range (ns). */
  readonly kZapPerRangeNs: Param<number>;
  /** One TLB shootdown (flush_tlb_range) (ns). */
  readonly kTlbShootdownNs: Param<number>;
  /** One mmu interval notifier invalidate callback (ns). */
  readonly kNotifierCallbackNs: Param<number>;
  /** Migrate_vma_* work per base page (collect, unmap, remove) (ns). */
  readonly kMigrateVmaPerPageNs: Param<number>;
  /** Migrate_vma_* work per folio (lock, isolate, refcount) (ns). */
  readonly kMigrateVmaPerFolioNs: Param<number>;
  /** One hmm_range_fault walk pass (ns). */
  readonly kHmmRangeFaultPassNs: Param<number>;
  /** One page of an hmm_range_fault walk (ns). */
  readonly kHmmRangeFaultPageNs: Param<number>;
  /** CPU copy of one 4 KiB page (copy_highpage) (ns). */
  readonly kCpuCopyPerPageNs: Param<number>;
}

/** A platform preset. */
export interface Platform {
  /** Preset name (`pascal-pcie3`). */
  readonly name: string;
  /** One line: the GPU and link. */
  readonly description: string;
  /** Every parameter with its value and source. */
  readonly params: PlatformParams;
}

const P1 = 'UVM Smart micro-benchmarks/getHWPrefetcherP1.cu nvprof trace, GTX 1080 Ti';
const FIT_LINK = `relative least-squares affine fit (fitAffineLink) on the six UM HtoD durations of the ${P1}: 1.73, 5.76, 11.23, 21.70, 43.26, 86.40 µs`;
const FIT_D2H = `affine line through the two UM DtoH sizes of the ${P1}: 4 KiB 1.056 µs, 60 KiB 5.28 µs`;
const FIT_SERVICE = `least-squares fit of (fault-group duration − its HtoD copies) on migrated pages for groups 2–6 of the ${P1}: ≈12.5 µs + 0.22 µs/page`;
const SPLIT =
  'share of the fitted per-group or per-page cost; how the driver splits it between steps is not measured';
const SC21_DEF = 'Allen & Ge SC21 §3.2';
const UTLB56 = 'Allen & Ge SC21 §3.2 (Titan V: at most 56 outstanding faults per μTLB)';
const ARIADNE_UTLB = 'ARIADNE §II-A (two SMs share a μTLB)';
const ZERO_K =
  'CPU-side kernel cost; 0 = not charged (the functional tier sets it through the kernel cost hooks)';

/** The CPU-kernel cost parameters shared by every PCIe preset (fast tier and functional hooks). */
function kernelCosts(
  unverified: boolean,
): Pick<
  PlatformParams,
  | 'kPageFaultNs'
  | 'kZapPerPteNs'
  | 'kZapPerRangeNs'
  | 'kTlbShootdownNs'
  | 'kNotifierCallbackNs'
  | 'kMigrateVmaPerPageNs'
  | 'kMigrateVmaPerFolioNs'
  | 'kHmmRangeFaultPassNs'
  | 'kHmmRangeFaultPageNs'
  | 'kCpuCopyPerPageNs'
> {
  return {
    kPageFaultNs: num(0, 'ns', 'CPU page fault entry/exit (handle_mm_fault)', ZERO_K, unverified),
    kZapPerPteNs: num(0, 'ns', 'clearing one PTE in zap_pte_range / try_to_migrate', ZERO_K, unverified),
    kZapPerRangeNs: num(
      0,
      'ns',
      'fixed cost of one unmap_mapping_range / zap of a range',
      ZERO_K,
      unverified,
    ),
    kTlbShootdownNs: num(0, 'ns', 'one TLB shootdown (flush_tlb_range)', ZERO_K, unverified),
    kNotifierCallbackNs: num(0, 'ns', 'one mmu interval notifier invalidate callback', ZERO_K, unverified),
    kMigrateVmaPerPageNs: num(
      0,
      'ns',
      'migrate_vma_* work per base page (collect, unmap, remove)',
      ZERO_K,
      unverified,
    ),
    kMigrateVmaPerFolioNs: num(
      0,
      'ns',
      'migrate_vma_* work per folio (lock, isolate, refcount)',
      ZERO_K,
      unverified,
    ),
    kHmmRangeFaultPassNs: num(
      200,
      'ns',
      'one hmm_range_fault walk pass',
      'hmmsim HMM_WALK_PASS_NS (src/hmm/hmm-range-fault.ts)',
      true,
    ),
    kHmmRangeFaultPageNs: num(
      1,
      'ns',
      'one page of an hmm_range_fault walk',
      'hmmsim HMM_WALK_PAGE_NS (src/hmm/hmm-range-fault.ts)',
      true,
    ),
    kCpuCopyPerPageNs: num(
      400,
      'ns',
      'CPU copy of one 4 KiB page (copy_highpage)',
      'hmmsim DMIRROR_COPY_PAGE_NS (src/devices/dmirror/cost.ts), ≈10 GB/s',
      true,
    ),
  };
}

interface LinkFigures {
  h2dT0: number;
  h2dB: number;
  d2hT0: number;
  d2hB: number;
  source: string;
  d2hSource: string;
  unverified: boolean;
}

function pciePreset(
  name: string,
  description: string,
  gpu: {
    sms: number;
    smsSource: string;
    memGiB: number;
    memSource: string;
    unverified: boolean;
    accessCounters: number;
    accessCountersSource: string;
    ats?: number;
    atsSource?: string;
  },
  link: LinkFigures,
  serviceUnverified: boolean,
  serviceNote: string,
): Platform {
  const sv = serviceUnverified;
  const svc = (s: string): string => (sv ? `${s}; ${serviceNote}` : s);
  return {
    name,
    description,
    params: {
      sms: num(gpu.sms, 'count', 'streaming multiprocessors', gpu.smsSource, gpu.unverified),
      smsPerUtlb: num(2, 'count', 'SMs sharing one μTLB (each μTLB has its own fault limit)', ARIADNE_UTLB),
      utlbMaxOutstanding: num(56, 'count', 'outstanding replayable faults one μTLB holds', UTLB56),
      smMaxOutstanding: num(
        56,
        'count',
        'per-SM fault rate limiter: new faults one SM raises per service round (56 = none below the μTLB limit)',
        `${SC21_DEF} names a per-SM limiter without quantifying it; uvm-eval's vector-add fault log (archive/benchmarksv3/abc/short_log_32_ts) shows one warp of one SM raising 56 faults before the first batch, so no per-SM limit below the μTLB's 56 is visible at the micro level`,
      ),
      blockDispatch: choice(
        'dynamic',
        ['dynamic', 'static'],
        'how thread blocks reach SMs: dynamic = the first blocks round-robin over the SMs, then block after block (blockIdx order) to a slot as soon as its block completes; static = block b on SM b mod sms, in the slot the block sms × blocksPerSm before it frees (the placement the generators wrote before dispatch was modelled; no source)',
        'CUDA C++ Programming Guide (Hardware Implementation: thread blocks are distributed to multiprocessors with available execution capacity; as blocks terminate, new blocks are launched on the vacated multiprocessors); the order among free SMs is not published',
      ),
      deviceMemory: num(
        gpu.memGiB * 1024 ** 3,
        'bytes',
        'device memory available to managed data',
        gpu.memSource,
        gpu.unverified,
      ),
      computeNsPerAccess: num(
        0,
        'ns',
        'GPU compute time per page-sized access wave (0 = fault-bound: only memory management is timed)',
        'workload parameter; not calibrated',
      ),
      accessCounters: num(
        gpu.accessCounters,
        'bool',
        'the GPU has access counters (notifications after a threshold of remote accesses per 2 MiB region)',
        gpu.accessCountersSource,
        gpu.accessCounters !== 0 && gpu.unverified,
      ),
      ats: num(
        gpu.ats ?? 0,
        'bool',
        'ATS (the GPU translates through the CPU page tables); nvidia-uvm turns access-counter migrations on by default only with ATS',
        gpu.atsSource ??
          'x86 with a discrete PCIe GPU: no ATS (uvm_ats.c g_uvm_global.ats.supported from the platform)',
        gpu.ats !== undefined && gpu.unverified,
      ),
      remoteAccessBytes: num(
        4096,
        'bytes',
        'bytes one page-granular GPU access to a remotely mapped page moves over the H2D link (timed at the link bandwidth, shared by all SMs)',
        'model assumption: a page-granular access reads the whole page; zero-copy moves 128 B lines (ARIADNE §III-B), so a sparse access moves less',
        true,
      ),
      linkModel: choice(
        'affine',
        ['affine', 'atan'],
        'copy-time model: affine t0 + s/B, or UVM Smart atan curve',
        'design choice (docs/workload.md)',
      ),
      h2dT0Ns: num(link.h2dT0, 'ns', 'fixed cost of one H2D transfer', link.source, link.unverified),
      h2dBytesPerNs: num(link.h2dB, 'bytes/ns', 'H2D bandwidth (GB/s)', link.source, link.unverified),
      d2hT0Ns: num(link.d2hT0, 'ns', 'fixed cost of one D2H transfer', link.d2hSource, link.unverified),
      d2hBytesPerNs: num(link.d2hB, 'bytes/ns', 'D2H bandwidth (GB/s)', link.d2hSource, link.unverified),
      atanCurveA: num(
        12,
        'GiB/s',
        'UVM Smart curve_a (12 for -pcie_bandwidth 16.0GB/s)',
        'UVM Smart gpu-sim.cc gpgpu_sim_config::convert_byte_string',
      ),
      atanCurveB: num(
        0.07292,
        '1/KiB',
        'UVM Smart curve_b',
        'UVM Smart gpu-sim.cc gpgpu_sim_config::convert_byte_string',
      ),
      atanCoreClockMhz: num(
        1481,
        'MHz',
        'core clock the atan durations are truncated to',
        'UVM Smart configs/GeForceGTX1080Ti/gpgpusim.config -gpgpu_clock_domains',
      ),
      atanHalveAtBytes: num(
        2 * 1024 * 1024,
        'bytes',
        'transfers this large get half the atan speed',
        'UVM Smart gpu-sim.cc gmmu_t::calculate_transfer_time',
      ),
      batchFixedNs: num(
        3000,
        'ns',
        'per-batch fixed cost: wake-up, fetch set-up, preprocess (sort)',
        svc(`${FIT_SERVICE}; ${SPLIT}`),
        true,
      ),
      faultFetchNs: num(
        20,
        'ns',
        'per cached fault: read and coalesce one fault buffer entry',
        svc(`${SPLIT}; SC21 §4.2 (bigger batches are cheaper despite duplicates)`),
        true,
      ),
      replayNs: num(1500, 'ns', 'one replay push (and buffer flush)', svc(`${FIT_SERVICE}; ${SPLIT}`), true),
      blockFixedNs: num(
        8000,
        'ns',
        'per VA block serviced: lock, state lookup, prefetch and thrashing hints',
        svc(`${FIT_SERVICE}; ${SPLIT}; ARIADNE §III-A "tens of µs per VABlock"`),
        true,
      ),
      cpuUnmapPerPageNs: num(
        110,
        'ns',
        'unmap_mapping_range of a page mapped on the CPU (first migration of the page only)',
        svc(`${FIT_SERVICE}; ${SPLIT}`),
        true,
      ),
      populatePerPageNs: num(
        50,
        'ns',
        'allocate GPU memory (chunk split) per migrated page',
        svc(`${FIT_SERVICE}; ${SPLIT}`),
        true,
      ),
      zeroPerPageNs: num(
        300,
        'ns',
        'zero a GPU page that has no data anywhere (first touch on the GPU)',
        'not measured: ≈ one 4 KiB write at GPU memory speed plus push overhead',
        true,
      ),
      dmaMapPerPageNs: num(
        313,
        'ns',
        'first touch of a block by the GPU: DMA-map every CPU page of the block (paid once per block)',
        svc(
          `(183.74 µs first group − its copies − the fitted 16-page service time) / 512 pages, ${P1}; SC21 §5.2`,
        ),
        true,
      ),
      pteUpdatePerPageNs: num(
        60,
        'ns',
        'GPU PTE writes per mapped page',
        svc(`${FIT_SERVICE}; ${SPLIT}`),
        true,
      ),
      tlbInvalidateNs: num(
        0,
        'ns',
        'GPU TLB invalidate per block (included in the fitted per-block cost)',
        svc(SPLIT),
        true,
      ),
      evictBlockFixedNs: num(
        8000,
        'ns',
        'per VA block evicted: lock, unmap GPU PTEs, free the chunk',
        'assumed equal to blockFixedNs (ARIADNE Fig. 2a: eviction ≈ copy time)',
        true,
      ),
      cpuFaultFixedNs: num(
        10000,
        'ns',
        'CPU fault on a GPU-resident page: fault entry, UVM lock, block service',
        'not measured; P1 trace shows CPU faults ~40–50 µs apart including the CPU loop',
        true,
      ),
      ...kernelCosts(true),
    },
  };
}

/**
 * The calibration of the dmirror-cpu-copy migration costs: single-threaded `move_pages()` of 1 GiB
 * between two NUMA nodes on a vanilla kernel (v7.1-rc1, AMD Zen 3 EPYC, serial `folio_copy`),
 * throughput by folio size 4K 3.31, 16K 5.61, 64K 6.66, 256K 7.01, 1M 7.13, 2M 11.02 GB/s
 * (Shivank Garg, "Accelerate page migration with batch copying and hardware offload", linux-mm,
 * 8 May 2026, baseline table; GB taken as 10^9 bytes). Time per folio = size / throughput:
 * 4K 1.237 µs, 2M (PMD-mapped) 190.3 µs. Solving `F + c = 1.237`, `F + 512·c = 190.3` for a per-folio
 * cost F (isolate, unmap, lock, allocate the destination, move the mapping, remap, unlock, free)
 * and a per-page copy c gives c = 0.370 µs (≈ 11.1 GB/s copy_highpage) and F = 0.867 µs, with
 * no per-page term left beyond the copy for a PMD-mapped folio. F is split into the driver's
 * destination allocation (100 ns, hmmsim's dmirror default, unverified) and the core's
 * migrate_vma work (767 ns). The measurement is a cross-node copy with its TLB flushes batched:
 * those are inside F, so the preset charges no separate shootdown.
 */
const MIGRATE_FIT =
  'fit of move_pages() throughput by folio size (Shivank Garg, linux-mm 2026-05-08, "Accelerate page migration with batch copying and hardware offload", baseline v7.1-rc1, Zen 3): 4K 3.31 GB/s = 1.237 µs/folio, 2M 11.02 GB/s = 190.3 µs/folio; F + c = 1.237, F + 512c = 190.3';
const DMIRROR_MIGRATION_COSTS: Pick<
  PlatformParams,
  | 'kMigrateVmaPerFolioNs'
  | 'kMigrateVmaPerPageNs'
  | 'kCpuCopyPerPageNs'
  | 'populatePerPageNs'
  | 'h2dBytesPerNs'
  | 'd2hBytesPerNs'
> = {
  kMigrateVmaPerFolioNs: num(
    767,
    'ns',
    'migrate_vma_* work per folio (isolate, unmap, lock, move mapping, remove migration entries, unlock, free)',
    `${MIGRATE_FIT}: F = 867 ns per folio, less the 100 ns destination allocation charged by the driver`,
  ),
  kMigrateVmaPerPageNs: num(
    0,
    'ns',
    'migrate_vma_* work per base page beyond the copy',
    `${MIGRATE_FIT}: the 2 MiB point leaves no per-page term beyond the copy for a PMD-mapped folio`,
  ),
  kCpuCopyPerPageNs: num(
    370,
    'ns',
    'CPU copy of one 4 KiB page (copy_highpage / folio_copy)',
    `${MIGRATE_FIT}: c = 0.370 µs (≈ 11.1 GB/s)`,
  ),
  populatePerPageNs: num(
    100,
    'ns',
    'one device or system page (or folio) allocation by the driver',
    'hmmsim DMIRROR_ALLOC_NS (src/devices/dmirror/cost.ts); order-0 page allocator fast path, not measured here',
    true,
  ),
  h2dBytesPerNs: num(
    4096 / 370,
    'bytes/ns',
    'CPU copy bandwidth (the "link" of a CPU-copying device)',
    `${MIGRATE_FIT}: c = 0.370 µs per 4 KiB`,
  ),
  d2hBytesPerNs: num(
    4096 / 370,
    'bytes/ns',
    'CPU copy bandwidth (the "link" of a CPU-copying device)',
    `${MIGRATE_FIT}: c = 0.370 µs per 4 KiB`,
  ),
};

const PASCAL_LINK: LinkFigures = {
  h2dT0: 1372,
  h2dB: 12.77,
  d2hT0: 754,
  d2hB: 13.58,
  source: FIT_LINK,
  d2hSource: FIT_D2H,
  unverified: false,
};

/** The built-in platforms. */
export const PLATFORMS: readonly Platform[] = [
  pciePreset(
    'pascal-pcie3',
    'GTX 1080 Ti (Pascal, 28 SMs, 11 GiB) on PCIe 3.0 x16; calibrated on the UVM Smart nvprof traces',
    {
      sms: 28,
      accessCounters: 0,
      accessCountersSource:
        'Pascal has no access counters (nvidia-uvm access_counters_supported is set from the GPU; the counters came with Volta)',
      smsSource: 'GTX 1080 Ti specification (28 SMs)',
      memGiB: 11,
      memSource: 'GTX 1080 Ti specification (11 GiB)',
      unverified: false,
    },
    PASCAL_LINK,
    false,
    '',
  ),
  pciePreset(
    'titanv-pcie3',
    'Titan V (Volta, 80 SMs, 12 GiB) on PCIe 3.0 x16 — the SC21 machine; link and service costs taken from pascal-pcie3',
    {
      sms: 80,
      accessCounters: 1,
      accessCountersSource:
        "Volta and later have access counters (nvidia-uvm uvm_gpu_access_counters.c; the open modules' HAL table uvm_hal.c starts at Turing, Volta support is in the closed-source driver SC21 used)",
      smsSource: 'Titan V specification (80 SMs); SC21 Table 2 maximum 3.20 = 256/80',
      memGiB: 12,
      memSource: 'Titan V specification (12 GiB HBM2)',
      unverified: false,
    },
    {
      ...PASCAL_LINK,
      source: `${FIT_LINK}; same PCIe 3.0 x16 generation, not refitted on a Titan V`,
      d2hSource: `${FIT_D2H}; not refitted on a Titan V`,
      unverified: true,
    },
    true,
    "taken from the GTX 1080 Ti fit; TACO'24 per-step costs not read",
  ),
  pciePreset(
    'a5000-pcie4',
    'RTX A5000 (Ampere, 64 SMs, 24 GiB) on PCIe 4.0 x16 — the ARIADNE machine (unverified link)',
    {
      sms: 64,
      accessCounters: 1,
      accessCountersSource:
        'nvidia-uvm uvm_hal.c access_counter_buffer_table (Turing and later); uvm_gpu.c access_counters_supported',
      smsSource: 'RTX A5000 specification (64 SMs)',
      memGiB: 24,
      memSource: 'RTX A5000 specification (24 GiB)',
      unverified: true,
    },
    {
      h2dT0: 1372,
      h2dB: 25,
      d2hT0: 754,
      d2hB: 25,
      source: 'PCIe 4.0 x16 ≈ 25 GB/s per direction (not fitted; t0 from pascal-pcie3)',
      d2hSource: 'PCIe 4.0 x16 ≈ 25 GB/s per direction (not fitted; t0 from pascal-pcie3)',
      unverified: true,
    },
    true,
    'taken from the GTX 1080 Ti fit',
  ),
  pciePreset(
    'h100-pcie5',
    'H100 PCIe (Hopper, 114 SMs, 80 GiB) on PCIe 5.0 x16 (unverified link)',
    {
      sms: 114,
      accessCounters: 1,
      accessCountersSource:
        'nvidia-uvm uvm_hal.c access_counter_buffer_table (Turing and later); uvm_gpu.c access_counters_supported',
      smsSource: 'H100 PCIe specification (114 SMs)',
      memGiB: 80,
      memSource: 'H100 PCIe specification (80 GB)',
      unverified: true,
    },
    {
      h2dT0: 1372,
      h2dB: 50,
      d2hT0: 754,
      d2hB: 50,
      source: 'PCIe 5.0 x16 ≈ 50 GB/s per direction (not fitted; t0 from pascal-pcie3)',
      d2hSource: 'PCIe 5.0 x16 ≈ 50 GB/s per direction (not fitted; t0 from pascal-pcie3)',
      unverified: true,
    },
    true,
    'taken from the GTX 1080 Ti fit',
  ),
  pciePreset(
    'gh200-c2c',
    'GH200 (Hopper, 132 SMs, 96 GiB) on NVLink-C2C (unverified link)',
    {
      sms: 132,
      accessCounters: 1,
      accessCountersSource:
        'nvidia-uvm uvm_hal.c access_counter_buffer_table (Turing and later); uvm_gpu.c access_counters_supported',
      ats: 1,
      atsSource: 'Grace Hopper: ATS over NVLink-C2C (uvm_ats.c g_uvm_global.ats.supported)',
      smsSource: 'GH200 specification (132 SMs)',
      memGiB: 96,
      memSource: 'GH200 specification (96 GB HBM3)',
      unverified: true,
    },
    {
      h2dT0: 1372,
      h2dB: 450,
      d2hT0: 754,
      d2hB: 450,
      source: 'NVLink-C2C ≈ 450 GB/s per direction (not fitted; t0 from pascal-pcie3)',
      d2hSource: 'NVLink-C2C ≈ 450 GB/s per direction (not fitted; t0 from pascal-pcie3)',
      unverified: true,
    },
    true,
    'taken from the GTX 1080 Ti fit',
  ),
  dmirrorPreset(),
];

/** The dmirror test driver: the "device" copies with the CPU (lib/test_hmm.c copy_highpage). */
function dmirrorPreset(): Platform {
  const base = pciePreset(
    'dmirror-cpu-copy',
    "the kernel's HMM test driver (lib/test_hmm.c): device memory is system RAM and copies are CPU copies",
    {
      sms: 1,
      accessCounters: 0,
      accessCountersSource: 'dmirror has no access counters (lib/test_hmm.c)',
      smsSource: 'dmirror has one fault path (one "SM")',
      memGiB: 1,
      memSource: 'dmirror device-private chunks are allocated on demand; 1 GiB default',
      unverified: true,
    },
    {
      h2dT0: 0,
      h2dB: 4096 / 400,
      d2hT0: 0,
      d2hB: 4096 / 400,
      source: 'hmmsim DMIRROR_COPY_PAGE_NS = 400 ns per 4 KiB page (src/devices/dmirror/cost.ts)',
      d2hSource: 'hmmsim DMIRROR_COPY_PAGE_NS = 400 ns per 4 KiB page (src/devices/dmirror/cost.ts)',
      unverified: true,
    },
    true,
    'dmirror has no fault buffer: costs are the CPU kernel costs',
  );
  const zero = (doc: string): Param<number> =>
    num(0, 'ns', doc, 'dmirror services one fault at a time with the CPU; no separate cost');
  return {
    ...base,
    params: {
      ...base.params,
      ...DMIRROR_MIGRATION_COSTS,
      smMaxOutstanding: num(
        1,
        'count',
        'dmirror faults one range at a time',
        'lib/test_hmm.c dmirror_fault',
        false,
      ),
      batchFixedNs: zero('per-batch fixed cost'),
      faultFetchNs: zero('per cached fault'),
      replayNs: zero('replay'),
      blockFixedNs: zero('per block'),
      cpuUnmapPerPageNs: zero('CPU unmap (charged through the kernel hooks instead)'),
      populatePerPageNs: num(
        100,
        'ns',
        'one device page allocation',
        'hmmsim DMIRROR_ALLOC_NS (src/devices/dmirror/cost.ts)',
        true,
      ),
      zeroPerPageNs: num(
        400,
        'ns',
        'clear one device page with the CPU',
        'hmmsim DMIRROR_COPY_PAGE_NS (src/devices/dmirror/cost.ts)',
        true,
      ),
      dmaMapPerPageNs: zero('dmirror does not DMA-map'),
      pteUpdatePerPageNs: zero('dmirror mirror page table update'),
      evictBlockFixedNs: zero('eviction'),
      cpuFaultFixedNs: zero('CPU fault entry (charged through the kernel hooks instead)'),
    },
  };
}

/** Names of the built-in platforms. */
export const PLATFORM_NAMES: readonly string[] = PLATFORMS.map((p) => p.name);

/** The platform called `name`, or undefined. */
export function findPlatform(name: string): Platform | undefined {
  return PLATFORMS.find((p) => p.name === name);
}

/** The link model of a platform in one direction. */
export function platformLink(p: PlatformParams, dir: 'h2d' | 'd2h'): LinkModel {
  if (p.linkModel.value === 'atan') {
    return {
      kind: 'atan',
      curveA: p.atanCurveA.value,
      curveB: p.atanCurveB.value,
      coreClockMhz: p.atanCoreClockMhz.value,
      halveAtBytes: p.atanHalveAtBytes.value,
    };
  }
  return dir === 'h2d'
    ? { kind: 'affine', t0Ns: p.h2dT0Ns.value, bytesPerNs: p.h2dBytesPerNs.value }
    : { kind: 'affine', t0Ns: p.d2hT0Ns.value, bytesPerNs: p.d2hBytesPerNs.value };
}

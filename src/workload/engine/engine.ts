/**
 * The engine: a GPU issue model, the replayable fault buffer, NVIDIA's fault-servicing loop and
 * a driver policy, on a virtual clock in ns.
 *
 * GPU side. A kernel is a list of thread blocks; each SM holds `blocksPerSm` of them, and a slot
 * whose block completed takes the next block in index order (`blockDispatch` dynamic, the CUDA
 * block scheduler) or the block static dispatch fixed to it. Each block walks its access list; a
 * page that is neither GPU-resident nor remotely mapped raises a replayable far fault and the
 * block keeps issuing independent accesses (Allen & Ge SC21 §3.2), until an access depends on an
 * outstanding load fault of the block (`ACC_DEP`: a store of loaded values, SC21 Listing 2;
 * stores set no register, so nothing waits on them), its SM's μTLB holds `utlbMaxOutstanding`
 * faults, or its SM raised `smMaxOutstanding` new faults since the last replay (the per-SM rate
 * limiter). SMs raise faults round-robin, and each SM round-robin over its blocks, so a batch
 * mixes SMs. A replay makes every SM retry its outstanding accesses: resolved ones complete,
 * unresolved ones fault again, reaching the buffer by the same turns.
 *
 * Driver side (`uvm_gpu_replayable_faults.c`): fetch up to `batchSize` entries; coalesce a fault
 * with the previous fault of the same μTLB on the same page; sort by page; service each 2 MiB VA
 * block once (prefetch → evict if needed → migrate → map); replay per `replayPolicy` (after each
 * block, each batch, each batch with a flush of the buffer, or once per service); flush with
 * UPDATE_PUT when duplicates exceed `updatePutRatio` % of the batch; stop a service after
 * `maxBatchesPerService` batches.
 *
 * Memory advice (`policy/advice.ts`): AccessedBy and a CPU preferred location keep faulted pages
 * in system memory, mapped remotely for the GPU; AccessedBy also maps pages whenever they become
 * resident in system memory (CPU faults, evictions).
 *
 * Time: each step of a batch is charged in sequence by the cost model (copies on the H2D or D2H
 * copy engine); kernels are fault-bound unless `computeNsPerAccess` is set.
 * @module
 */
import { Prng } from '../../sim/prng.ts';
import {
  type Breakdown,
  COST_COMPONENTS,
  type CostComponent,
  CostModel,
  type KernelCosts,
  kernelCosts,
  kernelMigrationNs,
} from '../cost/cost-model.ts';
import type { PlatformParams } from '../cost/platform.ts';
import type { KernelTrace } from '../generators/trace.ts';
import * as trace from '../generators/trace.ts';
import {
  ADVISE_ACCESSED_BY_GPU,
  ADVISE_PREFER_CPU,
  ADVISE_READ_MOSTLY,
  accessedByMapsAfterMigration,
  splitGpuFaultResidency,
  splitReadDuplicate,
} from '../policy/advice.ts';
import { createEvictor, type EvictionPolicyName, type Evictor } from '../policy/eviction.ts';
import {
  densityPrefetch,
  onDemandPrefetch,
  type PrefetchInput,
  randomPrefetch,
  slPrefetch,
  tbnPrefetch,
  windowPrefetch,
} from '../policy/prefetch.ts';
import type { PolicyParams } from '../policy/presets.ts';
import { HINT_PIN, HINT_THROTTLE, PROC_CPU, PROC_GPU, ThrashingDetector } from '../policy/thrashing.ts';
import * as units from '../units.ts';
import type { KernelWork, ResidencyBackend } from './backend.ts';
import type { RunObserver } from './observer.ts';

// Local copies: imported bindings are read through getters by some loaders, too slow in hot loops.
const { ACC_DEP, ACC_PREFETCH, ACC_WRITE } = trace;
const { BLOCK_PAGES, BLOCK_SHIFT, BLOCK_WORDS, maskNextClear, maskNextSet, popcount32, WL_PAGE_SIZE } = units;
// Indices of the time components in the engine's breakdown array (COST_COMPONENTS order): a
// typed array indexed by constants, where an object keyed by name made every charge a keyed store.
const ix = (c: CostComponent): number => COST_COMPONENTS.indexOf(c);
const T_BATCH_FIXED = ix('batchFixed');
const T_FAULT_FETCH = ix('faultFetch');
const T_BLOCK_FIXED = ix('blockFixed');
const T_CPU_UNMAP = ix('cpuUnmap');
const T_POPULATE = ix('populate');
const T_ZERO = ix('zero');
const T_DMA_MAP = ix('dmaMap');
const T_COPY_H2D = ix('copyH2D');
const T_COPY_D2H = ix('copyD2H');
const T_PTE_UPDATE = ix('pteUpdate');
const T_TLB_INVALIDATE = ix('tlbInvalidate');
const T_REPLAY = ix('replay');
const T_EVICTION = ix('eviction');
const T_CPU_FAULT = ix('cpuFault');
const T_COMPUTE = ix('compute');
const T_CPU_PHASE = ix('cpuPhase');
const T_THROTTLE = ix('throttle');
const T_REMOTE_ACCESS = ix('remoteAccess');

/** The counters of a run (`counters` in `--json`). */
export interface Counters {
  /** Fault buffer entries fetched by the driver (raw faults, including re-raised ones). */
  faults: number;
  /** Entries left after coalescing (what the driver sorts and services). */
  faultsCoalesced: number;
  /** Coalesced entries whose page was already serviced in the batch or already resident. */
  duplicates: number;
  batches: number;
  /** Mean VA blocks serviced per batch. */
  blocksPerBatch: number;
  /** Mean non-duplicate coalesced faults per serviced VA block. */
  faultsPerBlock: number;
  /**
   * Mean distinct VA blocks among a batch's fetched faults, serviced or not (Allen & Ge SC21
   * Table 3 "VABlock/Batch").
   */
  vaBlocksPerBatch: number;
  /**
   * Fetched faults (duplicates included) per VA block of their batch: SC21 Table 3
   * "Faults/VABlock". Table 3 × Table 2 confirm the definition: for all seven codes, VA blocks per
   * batch × faults per VA block = faults per SM per batch × 80 SMs, the raw batch size.
   */
  faultsPerVaBlock: number;
  bytesH2D: number;
  bytesD2H: number;
  /** H2D bytes of pages migrated without a fault of their own (prefetch and big-page growth). */
  bytesPrefetched: number;
  /** Eviction operations (root chunks, or UVM Smart's units). */
  evictions: number;
  /** Thrashing throttle hints (nvidia-uvm `num_throttle`), GPU and CPU faults together. */
  throttles: number;
  /** Thrashing pin hints (nvidia-uvm `num_pin_local` + `num_pin_remote`). */
  pins: number;
  /** Pages found thrashing (nvidia-uvm `num_thrashing`). */
  thrashingDetected: number;
  /** Notifier invalidations (the backend's count). */
  invalidations: number;
  /** -EBUSY retries (functional tier only). */
  ebusyRetries: number;
  replays: number;
  flushes: number;
  /** Blocks serviced, pages migrated to the GPU, pages migrated back by CPU faults. */
  blocksServiced: number;
  pagesMigratedH2D: number;
  cpuFaults: number;
  pagesMigratedD2H: number;
  /** GPU accesses simulated (hits and faults). */
  accesses: number;
  /** Fetched faults of access type PREFETCH (L2 prefetch instructions), valid or not. */
  prefetchFaults: number;
  /** Prefetch faults on addresses outside the footprint (`num_invalid_prefetch_faults`). */
  invalidPrefetchFaults: number;
  /** Times the driver turned prefetch faults off (`uvm_parent_gpu_disable_prefetch_faults`). */
  prefetchFaultsDisabled: number;
  /** Prefetch accesses to invalid pages that raised no fault because prefetch faults were off. */
  prefetchFaultsSuppressed: number;
  /** GPU accesses to pages it maps remotely (system memory), nvidia-uvm placements only. */
  remoteAccesses: number;
  /** Access-counter notifications (a 2 MiB region reached `accessCounterThreshold` remote accesses). */
  accessCounterNotifications: number;
  /** Pages migrated to the GPU on access-counter notifications. */
  accessCounterMigrations: number;
  /** Evicted pages the GPU mapped remotely (`uvm_perf_map_remote_on_eviction`). */
  remoteMapsOnEviction: number;
  /**
   * Pages the GPU mapped remotely in system memory because of memory advice instead of migrating
   * them: AccessedBy mappings after CPU faults and evictions, and GPU faults kept in system memory
   * by AccessedBy or a CPU preferred location (`block_select_processor_residency`).
   */
  adviceRemoteMaps: number;
  /**
   * Pages read-duplicated (cudaMemAdviseSetReadMostly): copied to the faulting processor, the
   * other copy kept — to the GPU on GPU faults, to the CPU on CPU faults.
   */
  readDuplications: number;
  /** Read-duplicated pages whose copies a write (GPU or CPU) collapsed onto the writer. */
  duplicateCollapses: number;
  /** Read-duplicated pages evicted from the GPU: freed without a copy back. */
  readDuplicatesEvicted: number;
  kernels: number;
}

function emptyCounters(): Counters {
  return {
    faults: 0,
    faultsCoalesced: 0,
    duplicates: 0,
    batches: 0,
    blocksPerBatch: 0,
    faultsPerBlock: 0,
    vaBlocksPerBatch: 0,
    faultsPerVaBlock: 0,
    bytesH2D: 0,
    bytesD2H: 0,
    bytesPrefetched: 0,
    evictions: 0,
    throttles: 0,
    pins: 0,
    thrashingDetected: 0,
    invalidations: 0,
    ebusyRetries: 0,
    replays: 0,
    flushes: 0,
    blocksServiced: 0,
    pagesMigratedH2D: 0,
    cpuFaults: 0,
    pagesMigratedD2H: 0,
    accesses: 0,
    prefetchFaults: 0,
    invalidPrefetchFaults: 0,
    prefetchFaultsDisabled: 0,
    prefetchFaultsSuppressed: 0,
    remoteAccesses: 0,
    accessCounterNotifications: 0,
    accessCounterMigrations: 0,
    remoteMapsOnEviction: 0,
    adviceRemoteMaps: 0,
    readDuplications: 0,
    duplicateCollapses: 0,
    readDuplicatesEvicted: 0,
    kernels: 0,
  };
}

/** How the engine is set up. */
export interface EngineOptions {
  readonly platform: PlatformParams;
  readonly policy: PolicyParams;
  /** GPU memory available to the footprint, in pages. */
  readonly capacityPages: number;
  readonly backend: ResidencyBackend;
  readonly seed: number;
  /** Per block: 1 when its preferred location is the GPU (cudaMemAdviseSetPreferredLocation). */
  readonly preferGpu?: Uint8Array;
  /**
   * Per block: memory advice bits (`ADVISE_PREFER_GPU`, `ADVISE_PREFER_CPU`,
   * `ADVISE_ACCESSED_BY_GPU` of `policy/advice.ts`). `ADVISE_PREFER_GPU` here is the same as
   * `preferGpu`.
   */
  readonly advice?: Uint8Array;
  readonly observer?: RunObserver;
}

/** The engine error for an impossible set-up (device memory too small to make progress). */
export class EngineError extends Error {
  override readonly name = 'EngineError';
}

// Access types of fault entries as the observer reports them (FaultRecord.access).
const ACCESS_READ = 0;
const ACCESS_WRITE = 1;
const ACCESS_PREFETCH = 2;
/**
 * Rank of an access type in the driver's order (uvm_fault_access_type_t: PREFETCH < READ <
 * WRITE): the sort key's low bits and the coalescing choice of the most intrusive access.
 */
const accessRank = (a: number): number => (a === ACCESS_PREFETCH ? 0 : a + 1);

/** The simulation of one run. */
export class Engine {
  /** Virtual time, ns. */
  now = 0;
  readonly counters: Counters = emptyCounters();
  /** Time per component, ns, indexed like COST_COMPONENTS. */
  private readonly bd = new Float64Array(COST_COMPONENTS.length);
  /** Time per named component so far, ns. */
  get breakdown(): Breakdown {
    const b = {} as Breakdown;
    COST_COMPONENTS.forEach((c, i) => {
      b[c] = this.bd[i]!;
    });
    return b;
  }
  /** Busy time of each copy engine, ns. */
  readonly engineBusy = { h2d: 0, d2h: 0 };
  private readonly cost: CostModel;
  private readonly kc: KernelCosts;
  private readonly p: PolicyParams;
  private readonly b: ResidencyBackend;
  private readonly obs: RunObserver | undefined;
  private readonly evictor: Evictor;
  private readonly rng: Prng;
  /** nvidia-uvm's thrashing detection and prevention (disabled for the other drivers). */
  private readonly thr: ThrashingDetector;
  /** Faults the thrashing detector throttled in the current batch, and the earliest end of their throttling. */
  private batchThrottled = 0;
  private batchThrottleEnd = Number.POSITIVE_INFINITY;
  /** Pages the GPU maps remotely (map-remote placement): accesses hit without migration. */
  private readonly remote: Uint32Array;
  /** False until a page is first mapped remotely: lets hot loops skip reading `remote`. */
  private remoteAny = false;
  /**
   * Per block: the value of `gainGen` when pages of the block last became valid for the GPU
   * (migrated or remotely mapped). A pending access found invalid at a round stays invalid until
   * its block gains pages, so a replay re-tests only accesses to blocks that gained since the last
   * round — a read of this small array instead of a cache miss in the residency bitmaps.
   */
  private readonly blockGain: Uint32Array;
  private gainGen = 0;
  private lastRoundGen = 0;
  private usedPages = 0;
  /** Whether the GPU reports prefetch faults, and since when it does not (ns). */
  private prefetchFaultsOn = true;
  private prefetchFaultsOffAt = 0;
  /** Invalid prefetch faults fetched in the current batch. */
  private batchInvalidPrefetch = 0;
  // Access counters (uvm_gpu_access_counters.c), on when the GPU has them and migrations are on.
  private readonly acOn: boolean;
  private readonly acThreshold: number;
  private readonly acBatch: number;
  private readonly mapRemoteOnEviction: boolean;
  /** System memory backed by 4 KiB CPU chunks: a notification migrates its own page only. */
  private readonly acChunk4k: boolean;
  /** Per 2 MiB region (= VA block): remote accesses since its last notification. */
  private readonly acCount: Int32Array;
  /** Per region: the 64 KiB sub-regions (32 per 2 MiB) accessed remotely since the last notification. */
  private readonly acRegions: Uint32Array;
  private readonly acQueued: Uint8Array;
  private readonly acQueue: number[] = [];
  /** Time of one remote access on the H2D link (ns). */
  private readonly remoteAccessNs: number;
  private evictionsStarted = false;
  /** Per block: memory advice bits (policy/advice.ts), or null when no allocation has advice. */
  private readonly advice: Uint8Array | null;
  private readonly advRemote = new Uint32Array(BLOCK_WORDS);
  /** True once a page was read-duplicated: lets hot loops skip reading `readDuplicated`. */
  private dupAny = false;
  /** Faulted pages of the block being serviced whose highest access is a write (read-mostly blocks). */
  private readonly faultedWrite = new Uint32Array(BLOCK_WORDS);
  private readonly dupMask = new Uint32Array(BLOCK_WORDS);
  private readonly advPopulate = new Uint32Array(BLOCK_WORDS);
  // Fault buffer (circular).
  private readonly fbPage: Int32Array;
  private readonly fbSm: Int32Array;
  private readonly fbAccess: Uint8Array;
  private fbGet = 0;
  private fbCount = 0;
  /**
   * Entries raised but not stored: with `batch-flush` only the first `batchSize` entries after a
   * flush are ever fetched (the flush drops the rest before the GPU raises more), so the buffer
   * stores those and only counts the others — identical results, without writing and dropping
   * thousands of re-raised faults per batch.
   */
  private fbDropped = 0;
  /** Prefetch faults stored in the buffer (no SM waits for them, so they alone keep a kernel's servicing going). */
  private fbPrefetch = 0;
  private readonly fbStoreMax: number;
  // Batch scratch.
  private readonly bPage: Int32Array;
  private readonly bSm: Int32Array;
  private readonly bAccess: Uint8Array;
  /** Sort keys page × 4 + access: 32-bit when they fit (sorting them is twice as fast as doubles). */
  private readonly bKey: Uint32Array | Float64Array;
  private readonly lastUtlbPage: Int32Array;
  private readonly lastUtlbStamp: Int32Array;
  private batchStamp = 0;
  // Masks.
  private readonly faulted = new Uint32Array(BLOCK_WORDS);
  private readonly migrate = new Uint32Array(BLOCK_WORDS);
  private readonly scratch = new Uint32Array(BLOCK_WORDS);
  private readonly copyMask = new Uint32Array(BLOCK_WORDS);
  private readonly evMask = new Uint32Array(BLOCK_WORDS);
  // Policy switches read once.
  private readonly replayPolicy: string;
  private readonly mapRemote: boolean;
  private readonly replayAll: boolean;
  private readonly sms: number;
  private readonly smsPerUtlb: number;
  private readonly utlbMax: number;
  private readonly smMax: number;
  /** `blockDispatch` = static: block b runs on SM b mod sms. */
  private readonly staticDispatch: boolean;
  private readonly computeNs: number;
  private blocksInBatches = 0;
  private faultsInBlocks = 0;
  private vaBlocksInBatches = 0;
  private accessesTotal = 0;
  private lastProgress = 0;
  private minFaultsSeen: Uint16Array;

  constructor(private readonly o: EngineOptions) {
    this.cost = new CostModel(o.platform);
    this.kc = kernelCosts(o.platform);
    this.p = o.policy;
    this.b = o.backend;
    this.obs = o.observer;
    this.rng = new Prng(o.seed);
    this.evictor = createEvictor(
      o.policy.eviction.value as EvictionPolicyName,
      o.backend.pageCount,
      this.rng,
    );
    this.remote = new Uint32Array(o.backend.blockCount * BLOCK_WORDS);
    this.blockGain = new Uint32Array(o.backend.blockCount);
    const acMode = o.policy.accessCounterMigration.value;
    this.acOn =
      o.platform.accessCounters.value !== 0 &&
      (acMode === 'on' || (acMode === 'default' && o.platform.ats.value !== 0));
    this.acThreshold = Math.max(1, Math.min(65535, Math.floor(o.policy.accessCounterThreshold.value)));
    this.acBatch = Math.max(1, Math.floor(o.policy.accessCounterBatchCount.value));
    this.mapRemoteOnEviction = this.acOn && o.policy.mapRemoteOnEviction.value !== 0;
    this.acChunk4k = o.policy.cpuChunkSize.value === '4k';
    this.acCount = new Int32Array(this.acOn ? o.backend.blockCount : 0);
    this.acRegions = new Uint32Array(this.acOn ? o.backend.blockCount : 0);
    this.acQueued = new Uint8Array(this.acOn ? o.backend.blockCount : 0);
    this.remoteAccessNs = o.platform.remoteAccessBytes.value / o.platform.h2dBytesPerNs.value;
    const lapseNs = o.policy.thrashingLapseUs.value * 1000;
    this.thr = new ThrashingDetector(
      {
        enable: o.policy.thrashingEnable.value !== 0,
        threshold: Math.min(7, Math.max(1, Math.floor(o.policy.thrashingThreshold.value))),
        pinThreshold: Math.min(255, Math.max(1, Math.floor(o.policy.thrashingPinThreshold.value))),
        lapseNs,
        napNs: o.policy.thrashingNap.value * lapseNs,
        epochNs: o.policy.thrashingEpoch.value * lapseNs,
        pinNs: o.policy.thrashingPin.value * lapseNs,
        maxResets: o.policy.thrashingMaxResets.value,
      },
      o.backend.blockCount,
    );
    const cap = Math.max(1, Math.floor(o.policy.faultBufferEntries.value));
    this.fbPage = new Int32Array(cap);
    this.fbSm = new Int32Array(cap);
    this.fbAccess = new Uint8Array(cap);
    const bs = Math.max(1, Math.floor(o.policy.batchSize.value));
    this.bPage = new Int32Array(bs);
    this.bSm = new Int32Array(bs);
    this.bAccess = new Uint8Array(bs);
    this.bKey = (o.backend.pageCount + 1) * 4 <= 0xffffffff ? new Uint32Array(bs) : new Float64Array(bs);
    this.fbStoreMax = o.policy.replayPolicy.value === 'batch-flush' ? Math.min(bs, cap) : cap;
    this.sms = Math.max(1, Math.floor(o.platform.sms.value));
    this.smsPerUtlb = Math.max(1, Math.floor(o.platform.smsPerUtlb.value));
    const utlbs = Math.ceil(this.sms / this.smsPerUtlb);
    this.lastUtlbPage = new Int32Array(utlbs).fill(-1);
    this.lastUtlbStamp = new Int32Array(utlbs).fill(-1);
    this.utlbMax = Math.max(1, Math.floor(o.platform.utlbMaxOutstanding.value));
    this.smMax = Math.max(1, Math.floor(o.platform.smMaxOutstanding.value));
    this.staticDispatch = o.platform.blockDispatch.value === 'static';
    this.computeNs = o.platform.computeNsPerAccess.value;
    this.replayPolicy = o.policy.replayPolicy.value;
    this.mapRemote = o.policy.placement.value === 'map-remote';
    this.replayAll = o.policy.replayScope.value === 'all';
    this.minFaultsSeen = new Uint16Array(o.backend.blockCount);
    // Advice changes where nvidia-uvm places faulted pages; map-remote drivers map everything remotely anyway.
    this.advice =
      o.advice !== undefined && !this.mapRemote && o.advice.some((a) => a !== 0) ? o.advice : null;
    if (!this.mapRemote && o.capacityPages < 2 * BLOCK_PAGES) {
      throw new EngineError(
        `device memory for the footprint is ${(o.capacityPages * WL_PAGE_SIZE) / 1024 ** 2} MiB: at least 4 MiB (two 2 MiB chunks) is needed to make progress`,
      );
    }
  }

  /** Pages resident on the GPU now. */
  get residentPages(): number {
    return this.usedPages;
  }

  private charge(component: number, ns: number): void {
    if (ns <= 0) return;
    this.bd[component]! += ns;
    this.now += ns;
  }

  private transfer(dir: 'h2d' | 'd2h', firstPage: number, pages: number, cause: string): void {
    const bytes = pages * WL_PAGE_SIZE;
    const ns = this.cost.copy(bytes, dir);
    if (this.obs?.onTransfer) {
      this.obs.onTransfer({
        dir,
        startNs: this.now,
        durNs: ns,
        addr: firstPage * WL_PAGE_SIZE,
        bytes,
        cause,
      });
    }
    this.engineBusy[dir] += ns;
    this.charge(dir === 'h2d' ? T_COPY_H2D : T_COPY_D2H, ns);
    if (dir === 'h2d') this.counters.bytesH2D += bytes;
    else this.counters.bytesD2H += bytes;
  }

  /** Copies the pages of `m` (block-relative) as runs of contiguous pages; returns transfers. */
  private copyMaskRuns(dir: 'h2d' | 'd2h', block: number, m: Uint32Array, cause: string): number {
    let n = 0;
    for (let p = maskNextSet(m, 0, 0); p < BLOCK_PAGES; ) {
      const q = maskNextClear(m, 0, p);
      this.transfer(dir, (block << BLOCK_SHIFT) + p, q - p, cause);
      n++;
      p = maskNextSet(m, 0, q);
    }
    return n;
  }

  private kernelWork(w: KernelWork): number {
    return kernelMigrationNs(this.kc, w);
  }

  // ---------------------------------------------------------------- GPU kernels

  /** Runs one kernel to completion. */
  runKernel(trace: KernelTrace): void {
    const start = this.now;
    this.counters.kernels++;
    const sms = Math.min(trace.sms, this.sms);
    if (trace.sms > this.sms)
      throw new EngineError(`kernel ${trace.name} uses ${trace.sms} SMs; the platform has ${this.sms}`);
    // Thread blocks and the SMs' slots (resident blocks). Each block is one ordered stream with its
    // own scoreboard; an SM takes turns among its slots as the SMs take turns among themselves.
    const bps = Math.max(1, Math.min(32, Math.floor(trace.blocksPerSm)));
    const nBlocks = trace.blockStart.length - 1;
    const nSlots = sms * bps;
    const blockStart = trace.blockStart;
    const tPages = trace.pages;
    const tFlags = trace.flags;
    const slotBlock = new Int32Array(nSlots).fill(-1);
    const slotPos = new Int32Array(nSlots);
    const slotEnd = new Int32Array(nSlots);
    // Outstanding loads of a slot's block: a dependent access waits for these only. A store sets
    // no register, so later instructions never wait on a faulting store (SC21 Listing 2: the FADD
    // stalls on the two loads' registers, and the warp's 32 stores then fault together).
    const slotReads = new Int32Array(nSlots);
    // Outstanding accesses of a slot's block, loads and stores: it completes when none is left.
    const slotOut = new Int32Array(nSlots);
    const nextSlot = new Int32Array(sms);
    let running = 0;
    let nextBlock = 0;
    const dispatch = (sl: number, b: number): void => {
      slotBlock[sl] = b;
      slotPos[sl] = blockStart[b]!;
      slotEnd[sl] = blockStart[b + 1]!;
      running++;
    };
    // At launch every slot is free: block b goes to SM b mod sms, slot ⌊b / sms⌋ (the first
    // blocks spread over the SMs; the hardware's order is not published).
    for (; nextBlock < Math.min(nBlocks, nSlots); nextBlock++)
      dispatch((nextBlock % sms) * bps + Math.floor(nextBlock / sms), nextBlock);
    // A slot whose block completed takes the next block in index order (dynamic), or the block
    // nSlots further on, which static dispatch fixed to this SM and slot.
    const staticDispatch = this.staticDispatch;
    const refill = (sl: number): void => {
      const done = slotBlock[sl]!;
      slotBlock[sl] = -1;
      running--;
      if (staticDispatch) {
        if (done + nSlots < nBlocks) dispatch(sl, done + nSlots);
      } else if (nextBlock < nBlocks) dispatch(sl, nextBlock++);
    };
    const pendCap = this.utlbMax;
    // Per SM: its outstanding faults (pages), with the access type raised and the slots waiting
    // on each (a bit per slot; reads separately, for dependencies).
    const pending = new Int32Array(sms * pendCap);
    const pendAccess = new Uint8Array(sms * pendCap);
    const pendWait = new Uint32Array(sms * pendCap);
    const pendWaitRead = new Uint32Array(sms * pendCap);
    const pendCount = new Int32Array(sms);
    const utlbCount = new Int32Array(Math.ceil(sms / this.smsPerUtlb));
    const raised = new Int32Array(sms);
    const active = new Int32Array(sms);
    // Per SM: outstanding faults a replay re-raises this round, and how many it has re-raised.
    const reraise = new Int32Array(sms);
    const reraised = new Int32Array(sms);
    this.accessesTotal += trace.pages.length;
    const resident = this.b.gpuResident;
    const remote = this.remote;
    const needsAccess = this.evictor.needsAccess;
    let stuck = 0;
    let roundNo = 0;

    const blockGain = this.blockGain;
    const pageCount = this.b.pageCount;
    let remoteAny = false;
    const isValid = (page: number): boolean => {
      const w = ((page >>> BLOCK_SHIFT) * BLOCK_WORDS) | ((page & (BLOCK_PAGES - 1)) >>> 5);
      return ((((remoteAny ? remote[w]! : 0) | resident[w]!) >>> (page & 31)) & 1) === 1;
    };
    // A read-duplicated page is mapped read-only on the GPU: a write to it faults.
    const dupBits = this.b.readDuplicated;
    let dupAny = false;
    const isValidFor = (page: number, write: boolean): boolean => {
      if (!write || !dupAny) return isValid(page);
      const w = ((page >>> BLOCK_SHIFT) * BLOCK_WORDS) | ((page & (BLOCK_PAGES - 1)) >>> 5);
      return (((((remoteAny ? remote[w]! : 0) | resident[w]!) & ~dupBits[w]!) >>> (page & 31)) & 1) === 1;
    };

    const round = (): boolean => {
      // Replay: every SM retries its outstanding accesses.
      let progress = false;
      let compute = 0;
      // The order in which SMs' faults reach the buffer rotates from round to round (arbitration),
      // so that a flush does not always drop the same SMs' faults.
      const first = roundNo++ % sms;
      remoteAny = this.remoteAny;
      dupAny = this.dupAny;
      // Accesses served by a remote mapping (nvidia-uvm placements: pins, eviction mappings) are
      // timed on the link and feed the access counters.
      const trackRemote = remoteAny && !this.mapRemote;
      let remoteHits = 0;
      const since = this.lastRoundGen;
      this.lastRoundGen = this.gainGen;
      for (let j = 0; j < sms; j++) {
        const s = (first + j) % sms;
        raised[s] = 0;
        let k = 0;
        const base = s * pendCap;
        for (let i = 0; i < pendCount[s]!; i++) {
          const page = pending[base + i]!;
          if (
            blockGain[page >>> BLOCK_SHIFT]! > since &&
            isValidFor(page, pendAccess[base + i] === ACCESS_WRITE)
          ) {
            if (trackRemote && this.remoteHit(page)) remoteHits++;
            utlbCount[(s / this.smsPerUtlb) | 0]!--;
            let wait = pendWait[base + i]!;
            const waitRead = pendWaitRead[base + i]!;
            while (wait !== 0) {
              const bit = wait & -wait;
              wait ^= bit;
              const sl = s * bps + (31 - Math.clz32(bit));
              slotOut[sl]!--;
              if ((waitRead & bit) !== 0) slotReads[sl]!--;
            }
            if (needsAccess) this.evictor.onAccess(page);
            progress = true;
          } else {
            pending[base + k] = page;
            pendAccess[base + k] = pendAccess[base + i]!;
            pendWait[base + k] = pendWait[base + i]!;
            pendWaitRead[base + k] = pendWaitRead[base + i]!;
            k++;
          }
        }
        pendCount[s] = k;
        // NVIDIA: a replay retries every stalled access, so unresolved ones fault again (below).
        // Per-fault replies (xe, dmirror): the fault is still queued; nothing is re-raised.
        reraise[s] = this.replayAll ? k : 0;
        reraised[s] = 0;
      }
      // Faults reach the buffer with SMs taking turns one fault at a time: the SMs write their
      // faults in parallel (uvm-eval's vector-add log: one SM's faults 14.5 ns apart), so in time
      // order parallel writers interleave. An SM's turn first re-raises its next outstanding
      // fault (the replayed accesses are its oldest), then issues new accesses of its slots, from
      // the slot after the one that raised its last fault, up to its next fault; a slot whose
      // block completed takes the next block. An SM that stops without raising a fault (every
      // slot at its block's end, a dependency, a limit, a full buffer) stops at the same accesses
      // in every later pass of this round, since nothing they wait on changes before the next
      // replay: it leaves the list of active SMs, which keeps the rotation order.
      let nActive = 0;
      for (let j = 0; j < sms; j++) active[nActive++] = (first + j) % sms;
      while (nActive > 0) {
        let kept = 0;
        for (let j = 0; j < nActive; j++) {
          const s = active[j]!;
          const r = reraised[s]!;
          if (r < reraise[s]!) {
            const base = s * pendCap;
            this.pushFault(pending[base + r]!, s, pendAccess[base + r]!);
            reraised[s] = r + 1;
            active[kept++] = s;
            continue;
          }
          let raisedOne = false;
          const u = (s / this.smsPerUtlb) | 0;
          const base = s * pendCap;
          let hits = 0;
          for (let t = 0; t < bps && !raisedOne; t++) {
            const slot = (nextSlot[s]! + t) % bps;
            const sl = s * bps + slot;
            const bit = 1 << slot;
            if (slotBlock[sl]! < 0) continue;
            let i = slotPos[sl]!;
            let end = slotEnd[sl]!;
            for (;;) {
              if (i >= end) {
                // The block's accesses are issued; it completes when none is outstanding.
                if (slotOut[sl]! > 0) break;
                this.counters.accesses += i - slotPos[sl]!;
                refill(sl);
                progress = true;
                if (slotBlock[sl]! < 0) break;
                i = slotPos[sl]!;
                end = slotEnd[sl]!;
                continue;
              }
              const page = tPages[i]!;
              const fl = tFlags[i]!;
              if ((fl & ACC_PREFETCH) !== 0) {
                // An L2 prefetch: no stall, no limit, no retry; a fault only while prefetch faults are on.
                if (page < pageCount && isValid(page)) {
                  hits++;
                  i++;
                  continue;
                }
                if (!this.prefetchFaultsOn) {
                  this.counters.prefetchFaultsSuppressed++;
                  i++;
                  continue;
                }
                if (this.fbCount + this.fbDropped >= this.fbPage.length) break;
                this.pushFault(page, s, ACCESS_PREFETCH);
                i++;
                raisedOne = true;
                break;
              }
              if ((fl & ACC_DEP) !== 0 && slotReads[sl]! > 0) break;
              if (isValidFor(page, (fl & ACC_WRITE) !== 0)) {
                if (needsAccess) this.evictor.onAccess(page);
                if (trackRemote && this.remoteHit(page)) remoteHits++;
                hits++;
                i++;
                continue;
              }
              // Another access to a page this SM already waits for: no new fault; the block waits
              // for it too. The SM's list (at most utlbMaxOutstanding entries) is scanned: cheaper
              // than a per-page table, whose random reads miss the cache on every new fault of a
              // GB footprint.
              const pc = pendCount[s]!;
              let dup = -1;
              for (let k = pc - 1; k >= 0; k--) {
                if (pending[base + k] === page) {
                  dup = base + k;
                  break;
                }
              }
              const read = (fl & ACC_WRITE) === 0;
              if (dup >= 0) {
                if ((pendWait[dup]! & bit) === 0) {
                  pendWait[dup]! |= bit;
                  slotOut[sl]!++;
                }
                if (read && (pendWaitRead[dup]! & bit) === 0) {
                  pendWaitRead[dup]! |= bit;
                  slotReads[sl]!++;
                }
                i++;
                continue;
              }
              if (raised[s]! >= this.smMax || utlbCount[u]! >= this.utlbMax || pc >= pendCap) break;
              if (this.fbCount + this.fbDropped >= this.fbPage.length) break;
              const access = read ? ACCESS_READ : ACCESS_WRITE;
              pending[base + pc] = page;
              pendAccess[base + pc] = access;
              pendWait[base + pc] = bit;
              pendWaitRead[base + pc] = read ? bit : 0;
              pendCount[s] = pc + 1;
              slotOut[sl]!++;
              if (read) slotReads[sl]!++;
              utlbCount[u]!++;
              raised[s]!++;
              this.pushFault(page, s, access);
              i++;
              raisedOne = true;
              nextSlot[s] = (slot + 1) % bps;
              break;
            }
            if (i !== slotPos[sl]) progress = true;
            this.counters.accesses += i - slotPos[sl]!;
            slotPos[sl] = i;
          }
          compute = Math.max(compute, hits * this.computeNs);
          if (raisedOne) active[kept++] = s;
        }
        nActive = kept;
      }
      this.charge(T_COMPUTE, compute);
      if (this.obs?.onRound) {
        // Every outstanding access is raised again by a replay (replayScope all); else the new ones.
        let faults = 0;
        let smsRaising = 0;
        let maxPerSm = 0;
        for (let s = 0; s < sms; s++) {
          const n = this.replayAll ? pendCount[s]! : raised[s]!;
          faults += n;
          if (n > 0) smsRaising++;
          if (n > maxPerSm) maxPerSm = n;
        }
        this.obs.onRound({ timeNs: this.now, faults, sms: smsRaising, maxPerSm });
      }
      if (groupSince !== null) smGroups(false);
      // The SMs share the link: remote accesses of a round are timed one after the other.
      this.charge(T_REMOTE_ACCESS, remoteHits * this.remoteAccessNs);
      return progress;
    };

    // Every block dispatched has completed (a slot refills as soon as its block completes).
    const done = (): boolean => running === 0;

    // SM-group spans for the observer (only when it asks: a pass over the μTLBs per round).
    const utlbs = utlbCount.length;
    const groupSince = this.obs?.onSmGroup ? new Float64Array(utlbs).fill(-1) : null;
    const groupMax = new Int32Array(groupSince ? utlbs : 0);
    const smGroups = (end: boolean): void => {
      const obs = this.obs;
      if (groupSince === null || !obs?.onSmGroup) return;
      for (let u = 0; u < utlbs; u++) {
        const out = end ? 0 : utlbCount[u]!;
        const since = groupSince[u]!;
        if (out > 0) {
          if (since < 0) groupSince[u] = this.now;
          if (out > groupMax[u]!) groupMax[u] = out;
        } else if (since >= 0) {
          const firstSm = u * this.smsPerUtlb;
          obs.onSmGroup({
            utlb: u,
            firstSm,
            sms: Math.min(this.smsPerUtlb, sms - firstSm),
            startNs: since,
            durNs: this.now - since,
            maxOutstanding: groupMax[u]!,
            kernel: trace.name,
          });
          groupSince[u] = -1;
          groupMax[u] = 0;
        }
      }
    };

    this.roundFn = round;
    round();
    while (!done()) {
      if (this.acQueue.length > 0) this.serviceAccessCounters();
      if (this.fbCount === 0) {
        if (!round() && this.fbCount === 0) {
          if (++stuck > 2) throw new EngineError(`kernel ${trace.name}: no SM can make progress (internal)`);
        }
        continue;
      }
      stuck = 0;
      this.serviceFaults();
      if (this.obs?.onProgress && this.counters.faults - this.lastProgress > 20000) {
        this.lastProgress = this.counters.faults;
        this.obs.onProgress(this.counters.accesses, this.accessesTotal);
      }
    }
    // Prefetch faults raised by the kernel's last accesses are still in the buffer: the driver
    // services them (the pages migrate) although no SM waits for them.
    while (this.fbPrefetch > 0) this.serviceFaults();
    if (this.acQueue.length > 0) this.serviceAccessCounters();
    smGroups(true);
    this.roundFn = null;
    this.obs?.onSpan?.({ track: 'kernel', name: trace.name, startNs: start, durNs: this.now - start });
  }

  private roundFn: (() => boolean) | null = null;

  /**
   * A GPU access served by a valid mapping: when the page is not GPU-resident (a remote mapping
   * of system memory), counts it, and with access counters on adds it to its 2 MiB region's
   * counter; at `accessCounterThreshold` the region raises a notification. Returns whether the
   * access was remote.
   */
  private remoteHit(page: number): boolean {
    const block = page >>> BLOCK_SHIFT;
    const rel = page & (BLOCK_PAGES - 1);
    if (((this.b.gpuResident[block * BLOCK_WORDS + (rel >>> 5)]! >>> (rel & 31)) & 1) === 1) return false;
    this.counters.remoteAccesses++;
    if (!this.acOn) return true;
    this.acRegions[block]! |= 1 << (rel >>> 4);
    if (++this.acCount[block]! >= this.acThreshold) {
      this.acCount[block] = 0;
      this.counters.accessCounterNotifications++;
      if (this.acQueued[block] === 0) {
        this.acQueued[block] = 1;
        this.acQueue.push(block);
      }
    }
    return true;
  }

  /**
   * Services the queued access-counter notifications in batches of `accessCounterBatchCount`
   * (`uvm_service_access_counters` → `service_va_block_locked`): for each notified region, the
   * pages of its remotely accessed 64 KiB sub-regions that are resident in system memory migrate
   * to the GPU — no prefetching, throttled pages skipped, pages pinned in system memory left
   * there (`expand_notification_block` when system memory is backed by 2 MiB CPU chunks,
   * `cpuChunkSize` = 2m). With 4 KiB CPU chunks (`cpuChunkSize` = 4k) the driver takes only the
   * page at the notification's address, which the model takes to be the region's base: that page
   * migrates when it is in system memory, and a notification whose page is already on the GPU
   * migrates nothing. A region whose preferred location is the CPU stays there
   * (`block_select_processor_residency`).
   */
  private serviceAccessCounters(): void {
    const start = this.now;
    const q = this.acQueue;
    const populated = this.b.populated;
    const resident = this.b.gpuResident;
    for (let i = 0; i < q.length; i++) {
      if (i % this.acBatch === 0) this.charge(T_BATCH_FIXED, this.cost.batchFixed());
      const block = q[i]!;
      this.acQueued[block] = 0;
      const regions = this.acRegions[block]!;
      this.acRegions[block] = 0;
      const base = block * BLOCK_WORDS;
      const f = this.faulted;
      if (this.advice !== null && (this.advice[block]! & ADVISE_PREFER_CPU) !== 0) continue;
      let any = 0;
      if (this.acChunk4k) {
        // The notification's page alone (expand_notification_block: physical size != granularity).
        f.fill(0);
        f[0] = 1 & populated[base]! & ~resident[base]!;
        any = f[0]!;
      } else {
        // 32 sub-regions of 16 pages: two per 32-page word.
        for (let w = 0; w < BLOCK_WORDS; w++) {
          const bits = (regions >>> (2 * w)) & 3;
          const span = (bits & 1 ? 0xffff : 0) | (bits & 2 ? 0xffff0000 : 0);
          f[w] = span & populated[base + w]! & ~resident[base + w]!;
          any |= f[w]!;
        }
      }
      if (any === 0) continue;
      if (this.thr.tracked(block)) {
        for (let w = 0; w < BLOCK_WORDS; w++) {
          let word = f[w]!;
          while (word !== 0) {
            const bit = word & -word;
            word &= word - 1;
            const rel = w * 32 + (31 - Math.clz32(bit));
            const h = this.thr.hint(block, rel, PROC_GPU, PROC_CPU, this.now);
            if (h === HINT_THROTTLE || (h === HINT_PIN && this.thr.pinResidency === PROC_CPU)) f[w]! &= ~bit;
          }
        }
      }
      this.counters.accessCounterMigrations += this.serviceBlock(block, 'access-counter');
    }
    q.length = 0;
    this.obs?.onSpan?.({
      track: 'fault-handler',
      name: 'access counters',
      startNs: start,
      durNs: this.now - start,
    });
  }

  private pushFault(page: number, sm: number, access: number): void {
    if (this.fbCount + this.fbDropped >= this.fbPage.length) return;
    if (this.fbCount >= this.fbStoreMax) {
      this.fbDropped++;
      return;
    }
    const i = (this.fbGet + this.fbCount) % this.fbPage.length;
    this.fbPage[i] = page;
    this.fbSm[i] = sm;
    this.fbAccess[i] = access;
    this.fbCount++;
    if (access === ACCESS_PREFETCH) this.fbPrefetch++;
  }

  private replay(): void {
    this.counters.replays++;
    this.charge(T_REPLAY, this.cost.replay());
    this.roundFn?.();
  }

  /** One run of the bottom half (`uvm_parent_gpu_service_replayable_faults`). */
  private serviceFaults(): void {
    let batches = 0;
    let throttledBatches = 0;
    let replayed = false;
    const maxBatches = Math.max(1, this.p.maxBatchesPerService.value);
    const maxThrottled = Math.max(1, this.p.maxThrottlePerService.value);
    while (batches < maxBatches && throttledBatches < maxThrottled && this.fbCount > 0) {
      replayed = false;
      this.batchThrottled = 0;
      this.batchThrottleEnd = Number.POSITIVE_INFINITY;
      const blocksBefore = this.counters.blocksServiced;
      this.batchInvalidPrefetch = 0;
      const dups = this.serviceBatch();
      this.enableDisablePrefetchFaults();
      batches++;
      if (this.batchThrottled > 0) {
        throttledBatches++;
        // Only throttled faults in the batch: the GPU would replay them and fault again until the
        // throttling period ends; the model lets the time pass instead of spinning.
        if (this.counters.blocksServiced === blocksBefore && this.batchThrottleEnd > this.now)
          this.charge(T_THROTTLE, this.batchThrottleEnd - this.now);
      }
      if (this.replayPolicy === 'batch') {
        this.replay();
        replayed = true;
      } else if (this.replayPolicy === 'batch-flush') {
        // UPDATE_PUT when duplicates × 100 > cached × ratio: the driver re-reads PUT and drops
        // every entry up to it; CACHED_PUT drops the entries known at fetch time. The GPU only
        // adds faults after a replay here, so both drop the buffer's content.
        this.counters.flushes++;
        this.fbGet = (this.fbGet + this.fbCount) % this.fbPage.length;
        this.fbCount = 0;
        this.fbDropped = 0;
        this.fbPrefetch = 0;
        void dups;
        this.replay();
        replayed = true;
      }
    }
    if (!replayed) this.replay();
  }

  /**
   * `enable_disable_prefetch_faults`, after each batch: when more than two thirds of a batch's
   * capacity were invalid prefetch faults, the GPU stops reporting prefetch faults; at the first
   * batch end more than `prefetchFaultsReenableLapseMs` later it reports them again.
   */
  private enableDisablePrefetchFaults(): void {
    const lapseMs = this.p.prefetchFaultsReenableLapseMs.value;
    if (this.prefetchFaultsOn && lapseMs > 0 && this.batchInvalidPrefetch * 3 > this.bPage.length * 2) {
      this.prefetchFaultsOn = false;
      this.prefetchFaultsOffAt = this.now;
      this.counters.prefetchFaultsDisabled++;
    } else if (!this.prefetchFaultsOn && this.now - this.prefetchFaultsOffAt > lapseMs * 1e6) {
      this.prefetchFaultsOn = true;
    }
  }

  /**
   * Asks the thrashing detector about each faulted page of `block` (`this.faulted`), as
   * `service_fault_batch_block_locked` does: a throttled page is not serviced (the GPU faults on
   * it again after the replay), a page pinned in CPU memory is mapped remotely instead of
   * migrated, a page pinned on the GPU migrates as usual. Returns the faulted pages left.
   */
  private thrashingHints(block: number): number {
    const f = this.faulted;
    const base = block * BLOCK_WORDS;
    let left = 0;
    for (let w = 0; w < BLOCK_WORDS; w++) {
      let word = f[w]!;
      while (word !== 0) {
        const bit = word & -word;
        word &= word - 1;
        const rel = w * 32 + (31 - Math.clz32(bit));
        const h = this.thr.hint(block, rel, PROC_GPU, PROC_CPU, this.now);
        if (h === HINT_THROTTLE) {
          f[w]! &= ~bit;
          this.batchThrottled++;
          this.batchThrottleEnd = Math.min(this.batchThrottleEnd, this.thr.throttleEnd(block, rel));
        } else if (h === HINT_PIN && this.thr.pinResidency === PROC_CPU) {
          f[w]! &= ~bit;
          this.remote[base + w]! |= bit;
          this.remoteAny = true;
          this.blockGain[block] = ++this.gainGen;
          this.charge(T_PTE_UPDATE, this.cost.pteUpdate(1));
        } else {
          left++;
        }
      }
    }
    return left;
  }

  /** Fetches, coalesces, sorts and services one batch; returns its duplicates. */
  private serviceBatch(): number {
    const start = this.now;
    const bs = this.bPage.length;
    const n = Math.min(bs, this.fbCount);
    const stamp = ++this.batchStamp;
    const coalesce = this.p.coalesce.value !== 0;
    let kept = 0;
    for (let k = 0; k < n; k++) {
      const i = this.fbGet;
      this.fbGet = (this.fbGet + 1) % this.fbPage.length;
      const page = this.fbPage[i]!;
      const sm = this.fbSm[i]!;
      const access = this.fbAccess[i]!;
      if (access === ACCESS_PREFETCH) {
        this.fbPrefetch--;
        this.counters.prefetchFaults++;
        // No VA block behind the address: an invalid prefetch (service_fault_batch_fatal marks it
        // with mark_fault_invalid_prefetch; never cancelled, it vanishes on replay).
        if (page >= this.b.pageCount) {
          this.counters.invalidPrefetchFaults++;
          this.batchInvalidPrefetch++;
        }
      }
      if (this.obs?.onFault) {
        this.obs.onFault({
          timeNs: this.now,
          addr: page * WL_PAGE_SIZE,
          access,
          utlb: (sm / this.smsPerUtlb) | 0,
          sm,
          batch: this.counters.batches,
        });
      }
      const u = (sm / this.smsPerUtlb) | 0;
      if (coalesce) {
        // Merge with the last fault of the same μTLB on the same page, or with the previous
        // fault in the batch (same page): the representative keeps the most intrusive access.
        if (this.lastUtlbStamp[u] === stamp && this.lastUtlbPage[u] === page) {
          const j = this.lastUtlbSlot[u]!;
          if (accessRank(access) > accessRank(this.bAccess[j]!)) this.bAccess[j] = access;
          continue;
        }
        if (
          kept > 0 &&
          this.bPage[kept - 1] === page &&
          accessRank(access) <= accessRank(this.bAccess[kept - 1]!)
        )
          continue;
      }
      this.bPage[kept] = page;
      this.bSm[kept] = sm;
      this.bAccess[kept] = access;
      this.lastUtlbStamp[u] = stamp;
      this.lastUtlbPage[u] = page;
      this.lastUtlbSlot[u] = kept;
      kept++;
    }
    this.fbCount -= n;
    this.counters.faults += n;
    this.counters.faultsCoalesced += kept;
    this.charge(T_BATCH_FIXED, this.cost.batchFixed());
    this.charge(T_FAULT_FETCH, this.cost.faultFetch(n));
    // Sort by (page, access rank); invalid prefetches (beyond the footprint) sort last as one page.
    const key = this.bKey.subarray(0, kept);
    const pageCount = this.b.pageCount;
    for (let k = 0; k < kept; k++)
      key[k] = Math.min(this.bPage[k]!, pageCount) * 4 + accessRank(this.bAccess[k]!);
    key.sort();
    // Service per VA block.
    let dups = 0;
    let blocks = 0;
    let pages = 0;
    let prefetched = 0;
    let evictions = this.counters.evictions;
    let transfers = 0;
    const bytes0 = this.counters.bytesH2D + this.counters.bytesD2H;
    const t0 = {
      copy: this.bd[T_COPY_H2D]! + this.bd[T_COPY_D2H]!,
      unmap: this.bd[T_CPU_UNMAP]!,
      map: this.bd[T_PTE_UPDATE]! + this.bd[T_POPULATE]! + this.bd[T_DMA_MAP]!,
    };
    let newBlocks = 0;
    let vaBlocks = 0;
    let k = 0;
    while (k < kept) {
      if (Math.floor(key[k]! / 4) >= pageCount) break; // invalid prefetches: nothing to service
      const block = Math.floor(key[k]! / 4) >>> BLOCK_SHIFT;
      vaBlocks++;
      for (let i = 0; i < BLOCK_WORDS; i++) this.faulted[i] = 0;
      const adv = this.advice === null ? 0 : this.advice[block]!;
      const readMostly = (adv & ADVISE_READ_MOSTLY) !== 0;
      if (readMostly) this.faultedWrite.fill(0);
      let faultsHere = 0;
      let lastPage = -1;
      for (; k < kept && Math.floor(key[k]! / 4) >>> BLOCK_SHIFT === block; k++) {
        const page = Math.floor(key[k]! / 4);
        if (page === lastPage) {
          dups++;
          continue;
        }
        lastPage = page;
        const rel = page & (BLOCK_PAGES - 1);
        const w = block * BLOCK_WORDS + (rel >>> 5);
        let valid = (((this.remoteAny ? this.remote[w]! : 0) | this.b.gpuResident[w]!) >>> (rel & 31)) & 1;
        if (readMostly) {
          // The page's entries are sorted by access rank: the last is the most intrusive. A write
          // needs write permission, which a read-duplicated page lacks on the GPU
          // (uvm_va_block_page_is_gpu_authorized).
          let j = k;
          while (j + 1 < kept && Math.floor(key[j + 1]! / 4) === page) j++;
          if (key[j]! - page * 4 === accessRank(ACCESS_WRITE)) {
            if (((this.b.readDuplicated[w]! >>> (rel & 31)) & 1) === 1) valid = 0;
            if (valid === 0) this.faultedWrite[rel >>> 5]! |= 1 << (rel & 31);
          }
        }
        if (valid === 1) {
          dups++;
          continue;
        }
        this.faulted[rel >>> 5]! |= 1 << (rel & 31);
        faultsHere++;
      }
      // Thrashing detection is off on read-duplicated ranges (uvm_perf_thrashing.c resets it).
      if (faultsHere > 0 && !readMostly && this.thr.tracked(block)) faultsHere = this.thrashingHints(block);
      if (faultsHere === 0) continue;
      blocks++;
      this.faultsInBlocks += faultsHere;
      if (
        !readMostly &&
        (adv & (ADVISE_PREFER_CPU | ADVISE_ACCESSED_BY_GPU)) !== 0 &&
        this.adviseRemote(block, adv) === faultsHere
      ) {
        // Every faulted page stays in system memory: the block is serviced by mappings alone.
        this.charge(T_BLOCK_FIXED, this.cost.blockFixed());
        this.charge(T_TLB_INVALIDATE, this.cost.tlbInvalidate(1));
        if (this.replayPolicy === 'block') this.replay();
        continue;
      }
      pages += this.serviceBlock(block, 'fault');
      prefetched += this.svcPrefetched;
      transfers += this.svcTransfers;
      if (this.svcFirstTouch) newBlocks++;
      if (this.replayPolicy === 'block') this.replay();
    }
    this.counters.duplicates += dups;
    this.counters.batches++;
    this.blocksInBatches += blocks;
    this.counters.blocksServiced += blocks;
    this.counters.blocksPerBatch = this.blocksInBatches / this.counters.batches;
    this.counters.faultsPerBlock = this.blocksInBatches > 0 ? this.faultsInBlocks / this.blocksInBatches : 0;
    this.vaBlocksInBatches += vaBlocks;
    this.counters.vaBlocksPerBatch = this.vaBlocksInBatches / this.counters.batches;
    this.counters.faultsPerVaBlock =
      this.vaBlocksInBatches > 0 ? this.counters.faults / this.vaBlocksInBatches : 0;
    evictions = this.counters.evictions - evictions;
    if (this.obs?.onBatch) {
      this.obs.onBatch({
        id: this.counters.batches - 1,
        startNs: start,
        durNs: this.now - start,
        cached: n,
        coalesced: kept,
        duplicates: dups,
        blocks,
        pages,
        prefetched,
        evictions,
        transfers,
        transferBytes: this.counters.bytesH2D + this.counters.bytesD2H - bytes0,
        transferNs: this.bd[T_COPY_H2D]! + this.bd[T_COPY_D2H]! - t0.copy,
        unmapNs: this.bd[T_CPU_UNMAP]! - t0.unmap,
        mapNs: this.bd[T_PTE_UPDATE]! + this.bd[T_POPULATE]! + this.bd[T_DMA_MAP]! - t0.map,
        newBlocks,
        replays: this.replayPolicy === 'block' ? blocks : 1,
      });
      this.obs.onSpan?.({
        track: 'fault-handler',
        name: 'batch',
        startNs: start,
        durNs: this.now - start,
        args: { faults: n, blocks },
      });
    }
    return dups;
  }

  private readonly lastUtlbSlot = new Int32Array(1024);
  /** The prefetchers' input, reused for every block (a fresh object per block costs measurably). */
  private readonly pin: { -readonly [K in keyof PrefetchInput]: PrefetchInput[K] } = {
    resident: this.faulted,
    residentOff: 0,
    faulted: this.faulted,
    faultedOff: 0,
    thrashing: null,
    thrashingOff: 0,
    blockPages: BLOCK_PAGES,
    firstTouchPreferred: false,
  };

  private prefetchKind(): string {
    if (this.evictionsStarted) {
      const o = this.p.oversubPrefetch.value;
      if (o === 'off') return 'on-demand';
      if (o !== 'same') return o;
    }
    return this.p.prefetch.value;
  }

  /** Computes the pages to bring for the faulted pages of `block` into `this.migrate`. */
  private computeMigrateMask(
    block: number,
    destResident: Uint32Array,
    destOff: number,
    firstTouchPreferred: boolean,
  ): void {
    const inp = this.pin;
    inp.resident = destResident;
    inp.residentOff = destOff;
    inp.faulted = this.faulted;
    inp.faultedOff = 0;
    inp.blockPages = Math.min(BLOCK_PAGES, this.b.pageCount - (block << BLOCK_SHIFT));
    inp.firstTouchPreferred = firstTouchPreferred;
    // Thrashing pages are neither grown nor prefetched (uvm_perf_prefetch.c).
    inp.thrashing = this.thr.thrashingMask(block);
    const m = this.migrate;
    switch (this.prefetchKind()) {
      case 'density': {
        this.minFaultsSeen[block] = Math.min(65535, this.minFaultsSeen[block]! + 1);
        const enabled =
          this.p.prefetchEnable.value !== 0 && this.minFaultsSeen[block]! >= this.p.prefetchMinFaults.value;
        densityPrefetch(inp, this.p.prefetchThreshold.value, enabled, m, 0, this.scratch);
        break;
      }
      case 'tbn':
        tbnPrefetch(inp, m, 0, this.scratch);
        break;
      case 'sl':
        slPrefetch(inp, m, 0);
        break;
      case 'random':
        randomPrefetch(inp, this.rng, m, 0);
        break;
      case 'window':
        windowPrefetch(inp, Math.max(1, Math.floor(this.p.windowPages.value)), m, 0);
        break;
      case 'xe-range': {
        // drm_gpusvm: the largest chunk of {2M, 64K, 4K} that fits inside the VMA.
        const win = inp.blockPages === BLOCK_PAGES ? BLOCK_PAGES : 16;
        windowPrefetch(inp, win, m, 0);
        if (win === 16) {
          // 64K windows crossing the end of the VMA fall back to 4K.
          for (let p = inp.blockPages; p < BLOCK_PAGES; p++) m[p >>> 5]! &= ~(1 << (p & 31));
        }
        break;
      }
      default:
        onDemandPrefetch(inp, m, 0);
    }
  }

  /** What the last {@link serviceBlock} did (fields, not a result object: it runs per block per batch). */
  private svcPrefetched = 0;
  private svcTransfers = 0;
  private svcFirstTouch = false;

  /**
   * Services the faulted pages (`this.faulted`) of `block`; returns the pages migrated and leaves
   * the prefetched pages, transfers and first touch in `svc…`.
   */
  private serviceBlock(block: number, cause: 'fault' | 'hint' | 'access-counter'): number {
    const base = block * BLOCK_WORDS;
    const populated = this.b.populated;
    const resident = this.b.gpuResident;
    const remote = this.remote;
    let firstTouchPreferred = false;
    if (this.o.preferGpu !== undefined && this.o.preferGpu[block] === 1) {
      firstTouchPreferred = true;
      for (let i = 0; i < BLOCK_WORDS; i++) if (populated[base + i] !== 0) firstTouchPreferred = false;
    }
    if (cause !== 'fault') this.migrate.set(this.faulted);
    else this.computeMigrateMask(block, resident, base, firstTouchPreferred);
    const m = this.migrate;
    const f = this.faulted;
    let need = 0;
    let prefetched = 0;
    // Remote mappings hold back a fault's migration (a remotely mapped page does not fault), not
    // an access counter's or a cudaMemPrefetchAsync's: those migrate and replace the mapping.
    const remoteAny = this.remoteAny && cause === 'fault';
    for (let i = 0; i < BLOCK_WORDS; i++) {
      const w = m[i]! & ~(resident[base + i]! | (remoteAny ? remote[base + i]! : 0));
      m[i] = w;
      if (w !== 0) {
        need += popcount32(w);
        prefetched += popcount32(w & ~f[i]!);
      }
    }
    this.counters.bytesPrefetched += prefetched * WL_PAGE_SIZE;
    this.svcPrefetched = prefetched;
    this.svcTransfers = 0;
    this.svcFirstTouch = false;
    this.charge(T_BLOCK_FIXED, this.cost.blockFixed());
    if (this.mapRemote) {
      // Map system memory pages for the GPU (nouveau, dmirror): walk with hmm_range_fault, write PTEs.
      for (let i = 0; i < BLOCK_WORDS; i++) remote[base + i]! |= m[i]!;
      this.remoteAny = true;
      this.blockGain[block] = ++this.gainGen;
      this.charge(T_CPU_UNMAP, this.kc.hmmRangeFaultPassNs + need * this.kc.hmmRangeFaultPageNs);
      this.charge(T_PTE_UPDATE, this.cost.pteUpdate(need));
      this.charge(T_TLB_INVALIDATE, this.cost.tlbInvalidate(1));
      this.svcPrefetched = 0;
      return 0;
    }
    while (this.usedPages + need > this.o.capacityPages) this.evictOne(block);
    // Pages that hold data are copied; the faulted ones first, then the rest (P1 nvprof trace:
    // each fault's 4 KiB page is copied before the remainder of the region).
    const c = this.copyMask;
    const sc = this.scratch;
    let rest = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      const ci = m[i]! & populated[base + i]!;
      c[i] = ci;
      sc[i] = ci & f[i]!;
      rest |= ci & ~f[i]!;
    }
    // Read-mostly blocks: read duplication first (uvm_va_block_service_copy), then the rest moves.
    const readMostly = this.advice !== null && (this.advice[block]! & ADVISE_READ_MOSTLY) !== 0;
    this.svcCollapseUnmapped = 0;
    this.svcCollapseKernelNs = 0;
    let dupPages = 0;
    let dupUnmapped = 0;
    let dupDmaMapped = 0;
    let dupFirstTouch = false;
    let dupKernelNs = 0;
    if (readMostly) {
      if (cause !== 'fault') this.faultedWrite.fill(0); // access counters and hints are PREFETCH
      if (splitReadDuplicate(m, this.faultedWrite, populated, base, this.dupMask) > 0) {
        const d = this.b.duplicateToGpu(block, this.dupMask, 0);
        dupPages = d.pages;
        dupUnmapped = d.cpuUnmapped;
        dupDmaMapped = d.dmaMapped;
        dupFirstTouch = d.firstTouch;
        dupKernelNs = this.kernelWork(d.kernel);
        this.counters.readDuplications += dupPages;
        this.dupAny = true;
      }
    }
    const res = this.b.migrateToGpu(block, m, 0, cause === 'hint' ? 'hint' : 'fault');
    let collapsed = 0;
    if (readMostly) {
      for (let i = 0; i < BLOCK_WORDS; i++) m[i]! |= this.dupMask[i]!;
      if (cause === 'fault' && this.dupAny) collapsed = this.collapseWrites(block);
    }
    this.blockGain[block] = ++this.gainGen;
    this.usedPages += res.pages + dupPages;
    // The GPU's remote mappings of the migrated pages now point to its own memory.
    if (cause !== 'fault' && this.remoteAny)
      for (let i = 0; i < BLOCK_WORDS; i++) remote[base + i]! &= ~m[i]!;
    // Thrashing detection sees the copied pages (fault and prefetch causes); a hint resets them,
    // and so does read duplication (uvm_perf_thrashing.c: read_duplication ENABLED).
    if (cause === 'hint' || readMostly) this.thr.onUserMigration(block, m);
    else this.thr.onMigration(block, c, PROC_GPU, this.now);
    this.evictor.onMigrateIn(block, m, 0);
    const unmapStart = this.now;
    const unmapped = res.cpuUnmapped + dupUnmapped + this.svcCollapseUnmapped;
    this.charge(
      T_CPU_UNMAP,
      this.cost.cpuUnmap(unmapped) + this.kernelWork(res.kernel) + dupKernelNs + this.svcCollapseKernelNs,
    );
    if (unmapped > 0) {
      this.obs?.onSpan?.({
        track: 'cpu-unmap',
        name: 'unmap_mapping_range',
        startNs: unmapStart,
        durNs: this.now - unmapStart,
        args: { pages: unmapped },
      });
    }
    this.charge(T_POPULATE, this.cost.populate(res.pages + dupPages));
    this.charge(T_ZERO, this.cost.zero(res.zeroed));
    this.charge(T_DMA_MAP, this.cost.dmaMap(res.dmaMapped + dupDmaMapped));
    let transfers = this.copyMaskRuns('h2d', block, sc, cause);
    if (rest !== 0) {
      for (let i = 0; i < BLOCK_WORDS; i++) sc[i] = c[i]! & ~f[i]!;
      transfers += this.copyMaskRuns('h2d', block, sc, cause === 'hint' ? 'hint' : 'prefetch');
    }
    // Collapsed pages get their GPU mapping upgraded to read-write.
    this.charge(T_PTE_UPDATE, this.cost.pteUpdate(res.pages + dupPages + collapsed));
    this.charge(T_TLB_INVALIDATE, this.cost.tlbInvalidate(1));
    this.counters.pagesMigratedH2D += res.pages + dupPages;
    this.svcTransfers = transfers;
    this.svcFirstTouch = res.firstTouch || dupFirstTouch;
    return res.pages + dupPages;
  }

  /** CPU unmaps and kernel time of the last {@link collapseWrites}, charged with the block's unmaps. */
  private svcCollapseUnmapped = 0;
  private svcCollapseKernelNs = 0;

  /**
   * GPU write faults on read-duplicated pages of `block` (`this.faulted` ∩ `this.faultedWrite`):
   * the GPU keeps its copy, the system-memory copies are unmapped and dropped
   * (`uvm_va_block_make_resident_copy` unmaps read-duplicated pages from the other processors,
   * `break_read_duplication_in_region`); nothing is copied. Returns the pages collapsed.
   */
  private collapseWrites(block: number): number {
    const base = block * BLOCK_WORDS;
    const cm = this.evMask;
    let any = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      cm[i] = this.faulted[i]! & this.faultedWrite[i]! & this.b.readDuplicated[base + i]!;
      any |= cm[i]!;
    }
    this.svcCollapseUnmapped = 0;
    this.svcCollapseKernelNs = 0;
    if (any === 0) return 0;
    const r = this.b.collapseOnGpu(block, cm, 0);
    this.svcCollapseUnmapped = r.cpuUnmapped;
    this.svcCollapseKernelNs = this.kernelWork(r.kernel);
    this.counters.duplicateCollapses += r.pages;
    return r.pages;
  }

  /**
   * GPU faults of `block` (`this.faulted`) whose pages the driver keeps in system memory because
   * of advice (AccessedBy, CPU preferred location): pages resident nowhere are first populated
   * there (preferred location CPU), then the GPU maps them remotely; they leave `this.faulted`.
   * Returns the pages so mapped.
   */
  private adviseRemote(block: number, adv: number): number {
    const n = splitGpuFaultResidency(
      adv,
      this.faulted,
      this.b.populated,
      block * BLOCK_WORDS,
      this.advRemote,
      this.advPopulate,
    );
    if (n === 0) return 0;
    let fresh = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) fresh |= this.advPopulate[i]!;
    if (fresh !== 0) {
      const r = this.b.cpuAccess(block, this.advPopulate, 0, true);
      this.charge(T_POPULATE, this.cost.populate(r.populated));
      this.charge(T_ZERO, this.cost.zero(r.populated));
      this.charge(T_CPU_UNMAP, this.kernelWork(r.kernel));
    }
    this.adviceMap(block, this.advRemote);
    return n;
  }

  /**
   * Maps the pages of `mask` of `block` that hold data in system memory for the GPU (remote
   * mappings made because of advice), charging one PTE write per page. Returns the pages newly
   * mapped.
   */
  private adviceMap(block: number, mask: Uint32Array): number {
    const base = block * BLOCK_WORDS;
    let n = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      const w =
        mask[i]! & this.b.populated[base + i]! & ~this.b.gpuResident[base + i]! & ~this.remote[base + i]!;
      if (w === 0) continue;
      this.remote[base + i]! |= w;
      n += popcount32(w);
    }
    if (n === 0) return 0;
    this.remoteAny = true;
    this.blockGain[block] = ++this.gainGen;
    this.counters.adviceRemoteMaps += n;
    // The GPU's first mapping in the block DMA-maps the block's system memory for it, as a first
    // migration does (uvm_va_block_map → uvm_va_block_gpu_state_get_alloc).
    const t = this.b.gpuFirstTouch(block);
    this.charge(T_DMA_MAP, this.cost.dmaMap(t.dmaMapped) + this.kernelWork(t.kernel));
    this.charge(T_PTE_UPDATE, this.cost.pteUpdate(n));
    return n;
  }

  private evictOne(exclude: number): void {
    const ev = this.evMask;
    const b = this.evictor.pickVictim(exclude, this.b.gpuResident, ev);
    if (b < 0)
      throw new EngineError(
        'device memory full and nothing evictable (the footprint of one block exceeds it)',
      );
    const start = this.now;
    // Read-duplicated pages are current in system memory: only the others are copied back.
    const copy = this.copyMask;
    for (let i = 0; i < BLOCK_WORDS; i++) copy[i] = ev[i]! & ~this.b.readDuplicated[b * BLOCK_WORDS + i]!;
    const res = this.b.evictToCpu(b, ev, 0);
    this.usedPages -= res.pages;
    this.counters.readDuplicatesEvicted += res.dropped;
    let empty = true;
    for (let i = 0; i < BLOCK_WORDS; i++) if (this.b.gpuResident[b * BLOCK_WORDS + i] !== 0) empty = false;
    this.evictor.onEvicted(b, ev, 0, empty);
    this.counters.evictions++;
    this.evictionsStarted = true;
    this.charge(T_EVICTION, this.cost.evictBlock() + this.kernelWork(res.kernel));
    // One transfer per run of the evicted mask (ev holds the requested pages; all were resident).
    this.copyMaskRuns('d2h', b, copy, 'eviction');
    let off = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) off += popcount32(ev[i]!);
    this.counters.pagesMigratedD2H += off - res.dropped;
    if (off > 0 && this.advice !== null && accessedByMapsAfterMigration(this.advice[b]!, true)) {
      // block_add_eviction_mappings: AccessedBy mappings are re-established (uvm_va_block_set_accessed_by);
      // the map-remote-on-eviction set excludes accessed-by processors.
      this.adviceMap(b, ev);
    } else if (this.mapRemoteOnEviction && off > 0) {
      // block_add_eviction_mappings: the GPU maps the evicted pages in system memory remotely.
      const rb = b * BLOCK_WORDS;
      for (let i = 0; i < BLOCK_WORDS; i++) this.remote[rb + i]! |= ev[i]!;
      this.remoteAny = true;
      this.blockGain[b] = ++this.gainGen;
      this.counters.remoteMapsOnEviction += off;
      this.charge(T_PTE_UPDATE, this.cost.pteUpdate(off));
    }
    this.obs?.onSpan?.({
      track: 'eviction',
      name: 'evict',
      startNs: start,
      durNs: this.now - start,
      args: { block: b, pages: res.pages },
    });
  }

  // ---------------------------------------------------------------- CPU side and hints

  /**
   * A CPU phase touching pages `[first, first+count)` in order with `threads` threads. GPU-resident
   * pages fault back one CPU fault at a time (the fault migrates a region, faulted page first);
   * these serialize in the driver and are charged in full. First touches and minor faults are
   * kernel work shared among the threads. Written pages the GPU maps remotely are invalidated.
   */
  cpuAccess(first: number, count: number, write: boolean, threads: number, name: string): void {
    const start = this.now;
    let shared = 0;
    const resident = this.b.gpuResident;
    for (let page = first; page < first + count; ) {
      const block = page >>> BLOCK_SHIFT;
      const blockEnd = Math.min(first + count, (block + 1) << BLOCK_SHIFT);
      const base = block * BLOCK_WORDS;
      // Read-duplicated pages are resident in system memory too: no fault back.
      const dup = this.b.readDuplicated;
      for (let p = page; p < blockEnd; p++) {
        const rel = p & (BLOCK_PAGES - 1);
        const w = base + (rel >>> 5);
        if ((((resident[w]! & ~dup[w]!) >>> (rel & 31)) & 1) === 1) this.cpuFaultBack(block, rel, write);
        else if (write && this.dupAny && ((dup[w]! >>> (rel & 31)) & 1) === 1)
          this.cpuWriteDuplicated(block, rel);
      }
      const touched = this.scratch2;
      touched.fill(0);
      for (let p = page; p < blockEnd; p++) {
        const rel = p & (BLOCK_PAGES - 1);
        touched[rel >>> 5]! |= 1 << (rel & 31);
      }
      // HMM mirrors (map-remote placement) lose the written pages; a page nvidia-uvm pinned in
      // CPU memory stays mapped by the GPU.
      if (write && this.mapRemote) {
        let inval = false;
        for (let i = 0; i < BLOCK_WORDS; i++) {
          if ((this.remote[base + i]! & touched[i]!) !== 0) {
            this.remote[base + i]! &= ~touched[i]!;
            inval = true;
          }
        }
        if (inval) {
          this.b.counters.invalidations++;
          shared += this.kc.notifierCallbackNs + this.kc.tlbShootdownNs;
        }
      }
      let dropped = 0;
      if (write && this.dupAny) {
        const cm = this.evMask;
        for (let i = 0; i < BLOCK_WORDS; i++) {
          cm[i] = touched[i]! & dup[base + i]!;
          dropped |= cm[i]!;
        }
      }
      const r = this.b.cpuAccess(block, touched, 0, write);
      shared += r.faults * this.kc.pageFaultNs + this.kernelWork(r.kernel);
      if (dropped !== 0) this.collapseOnCpu(block, r.collapsed);
      if (this.advice !== null && accessedByMapsAfterMigration(this.advice[block]!, false))
        this.adviceMap(block, touched);
      page = blockEnd;
    }
    this.charge(T_CPU_PHASE, shared / Math.max(1, threads));
    this.obs?.onSpan?.({
      track: 'cpu',
      name,
      startNs: start,
      durNs: this.now - start,
      args: { pages: count, threads },
    });
  }

  /**
   * CPU writes collapsed `pages` read-duplicated pages of `block` (their mask in `this.evMask`):
   * each write faulted on the read-only CPU mapping and the driver serviced it like any CPU fault
   * (`uvm_va_block_cpu_fault`, charged in full, serialized), unmapping the GPU copy and dropping
   * it without a copy; the GPU's memory for them is freed.
   */
  private collapseOnCpu(block: number, pages: number): void {
    this.counters.cpuFaults += pages;
    this.counters.duplicateCollapses += pages;
    this.charge(T_CPU_FAULT, pages * this.cost.cpuFault());
    this.usedPages -= pages;
    let empty = true;
    for (let i = 0; i < BLOCK_WORDS; i++)
      if (this.b.gpuResident[block * BLOCK_WORDS + i] !== 0) empty = false;
    this.evictor.onEvicted(block, this.evMask, 0, empty);
  }

  /**
   * The pages of `block` a CPU fault on page `rel` brings to the CPU (in `this.migrate`, with the
   * faulting page in `this.faulted`): the prefetcher runs with the CPU as destination
   * (`uvm_va_block_service_locked` → `uvm_perf_prefetch_get_hint_va_block`, for every fault whose
   * pages go to one processor), restricted to pages on the GPU only.
   */
  private cpuFaultRegion(block: number, rel: number): Uint32Array {
    const base = block * BLOCK_WORDS;
    const resident = this.b.gpuResident;
    const dup = this.b.readDuplicated;
    // Resident on the CPU = has data, not on the GPU only (read-duplicated pages are on both).
    const cpuRes = this.copyMask;
    for (let i = 0; i < BLOCK_WORDS; i++)
      cpuRes[i] = this.b.populated[base + i]! & ~(resident[base + i]! & ~dup[base + i]!);
    this.faulted.fill(0);
    this.faulted[rel >>> 5] = 1 << (rel & 31);
    const m = this.migrate;
    const inp: PrefetchInput = {
      resident: cpuRes,
      residentOff: 0,
      faulted: this.faulted,
      faultedOff: 0,
      thrashing: null,
      thrashingOff: 0,
      blockPages: Math.min(BLOCK_PAGES, this.b.pageCount - (block << BLOCK_SHIFT)),
      firstTouchPreferred: false,
    };
    if (this.p.prefetch.value === 'density') {
      densityPrefetch(
        inp,
        this.p.prefetchThreshold.value,
        this.p.prefetchEnable.value !== 0,
        m,
        0,
        this.scratch,
      );
    } else {
      windowPrefetch(inp, Math.max(1, Math.floor(this.p.cpuFaultGrowPages.value)), m, 0);
    }
    for (let i = 0; i < BLOCK_WORDS; i++) m[i]! &= resident[base + i]! & ~dup[base + i]!;
    return m;
  }

  /**
   * A CPU write fault on read-duplicated page `rel` of `block` (the page itself collapses onto the
   * CPU later, with the other written pages): the driver services it like any CPU fault, so the
   * prefetcher runs with the CPU as destination, and the region's pages on the GPU only get the
   * PREFETCH access type and, the range being read-mostly, are read-duplicated to the CPU
   * (`uvm_va_block_service_locked`: prefetched pages join `read_duplicate_mask`).
   */
  private cpuWriteDuplicated(block: number, rel: number): void {
    const m = this.cpuFaultRegion(block, rel);
    let any = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      this.dupMask[i] = m[i]!;
      any |= m[i]!;
    }
    if (any === 0) return;
    this.copyMaskRuns('d2h', block, this.dupMask, 'cpu-fault');
    this.duplicateOnCpu(block);
  }

  /**
   * A CPU fault on GPU-resident page `rel` of `block`: migrates the fault region back. On a
   * read-mostly block the region is read-duplicated instead (the GPU keeps its copies), except
   * the faulting page of a write, which migrates.
   */
  private cpuFaultBack(block: number, rel: number, write: boolean): void {
    const base = block * BLOCK_WORDS;
    const resident = this.b.gpuResident;
    const dup = this.b.readDuplicated;
    const readMostly = this.advice !== null && (this.advice[block]! & ADVISE_READ_MOSTLY) !== 0;
    this.counters.cpuFaults++;
    // uvm_vm_fault: a throttled CPU sleeps until the throttling period ends, then faults again.
    let pinCpu = false;
    if (this.thr.tracked(block)) {
      let h = this.thr.hint(block, rel, PROC_CPU, PROC_GPU, this.now);
      if (h === HINT_THROTTLE) {
        this.charge(T_THROTTLE, this.thr.throttleEnd(block, rel) - this.now);
        h = this.thr.hint(block, rel, PROC_CPU, PROC_GPU, this.now);
      }
      pinCpu = h === HINT_PIN && this.thr.pinResidency === PROC_CPU;
    }
    const m = this.cpuFaultRegion(block, rel);
    this.charge(T_CPU_FAULT, this.cost.cpuFault());
    for (let i = 0; i < BLOCK_WORDS; i++) this.evMask[i] = m[i]! & this.faulted[i]!;
    this.copyMaskRuns('d2h', block, this.evMask, 'cpu-fault');
    for (let i = 0; i < BLOCK_WORDS; i++) this.evMask[i] = m[i]! & ~this.faulted[i]!;
    this.copyMaskRuns('d2h', block, this.evMask, 'cpu-fault');
    // The pages that move: all of the region, or on a read-mostly block only a written faulting page.
    let mv = m;
    if (readMostly) {
      mv = this.scratch;
      let dupAny = 0;
      for (let i = 0; i < BLOCK_WORDS; i++) {
        const d = m[i]! & ~(write ? this.faulted[i]! : 0);
        this.dupMask[i] = d;
        mv[i] = m[i]! & ~d;
        dupAny |= d;
      }
      if (dupAny !== 0) this.duplicateOnCpu(block);
    }
    const was = this.scratch3;
    let asked = 0;
    for (let i = 0; i < BLOCK_WORDS; i++) {
      was[i] = resident[base + i]! & ~dup[base + i]!;
      asked += popcount32(mv[i]!);
    }
    const res = readMostly && !mv.some((w) => w !== 0) ? null : this.b.cpuAccess(block, mv, 0, false);
    const migratedBack = res === null ? 0 : res.migratedBack;
    if (res !== null) this.charge(T_CPU_FAULT, this.kernelWork(res.kernel));
    if (migratedBack > asked) {
      // An HMM device's fault handler moved a whole device THP (the block arrived as one device
      // folio): the pages beyond the region came back with it, copied in the same migration.
      const extra = this.evMask;
      for (let i = 0; i < BLOCK_WORDS; i++) {
        extra[i] = was[i]! & ~resident[base + i]! & ~mv[i]!;
        was[i] = mv[i]! | extra[i]!;
      }
      this.copyMaskRuns('d2h', block, extra, 'cpu-fault');
      mv = was;
    }
    if (this.advice !== null && accessedByMapsAfterMigration(this.advice[block]!, false))
      this.adviceMap(block, mv);
    if (readMostly) this.thr.onUserMigration(block, m);
    else this.thr.onMigration(block, m, PROC_CPU, this.now);
    // Pinned in CPU memory: the GPU maps the page remotely from now on.
    if (pinCpu) {
      this.remote[base + (rel >>> 5)]! |= 1 << (rel & 31);
      this.remoteAny = true;
      this.blockGain[block] = ++this.gainGen;
    }
    this.usedPages -= migratedBack;
    this.counters.pagesMigratedD2H += migratedBack;
    let empty = true;
    for (let i = 0; i < BLOCK_WORDS; i++) if (resident[base + i] !== 0) empty = false;
    this.evictor.onEvicted(block, mv, 0, empty);
  }

  /**
   * Read duplication to the CPU of the pages in `this.dupMask` of `block` (their D2H copies are
   * charged by the caller): the GPU keeps its copies, its write permission revoked (a PTE write
   * each and a TLB invalidate, `block_prep_read_duplicate_mapping`); the CPU maps them read-only.
   */
  private duplicateOnCpu(block: number): void {
    const r = this.b.duplicateToCpu(block, this.dupMask, 0);
    this.charge(T_CPU_FAULT, this.kernelWork(r.kernel));
    this.charge(T_PTE_UPDATE, this.cost.pteUpdate(r.pages));
    this.charge(T_TLB_INVALIDATE, this.cost.tlbInvalidate(1));
    this.counters.readDuplications += r.pages;
    this.counters.pagesMigratedD2H += r.pages;
    this.dupAny = true;
  }

  private readonly scratch2 = new Uint32Array(BLOCK_WORDS);
  private readonly scratch3 = new Uint32Array(BLOCK_WORDS);

  /** `cudaMemPrefetchAsync` of pages `[first, first+count)` to the GPU: whole blocks, no faults. */
  prefetchToGpu(first: number, count: number): void {
    const start = this.now;
    for (let page = first; page < first + count; ) {
      const block = page >>> BLOCK_SHIFT;
      const blockEnd = Math.min(first + count, (block + 1) << BLOCK_SHIFT);
      this.faulted.fill(0);
      for (let p = page; p < blockEnd; p++) {
        const rel = p & (BLOCK_PAGES - 1);
        this.faulted[rel >>> 5]! |= 1 << (rel & 31);
      }
      this.serviceBlock(block, 'hint');
      page = blockEnd;
    }
    this.obs?.onSpan?.({
      track: 'fault-handler',
      name: 'cudaMemPrefetchAsync',
      startNs: start,
      durNs: this.now - start,
      args: { pages: count },
    });
  }

  /** Final counters with the backend's. */
  finish(): Counters {
    this.counters.throttles = this.thr.stats.throttles;
    this.counters.pins = this.thr.stats.pins;
    this.counters.thrashingDetected = this.thr.stats.detected;
    this.counters.invalidations = this.b.counters.invalidations;
    this.counters.ebusyRetries = this.b.counters.ebusyRetries;
    return this.counters;
  }
}

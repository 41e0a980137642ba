/**
 * The seeded workload generators. Each turns arrays (page ranges of the footprint) and arguments
 * into kernel launches at page granularity: which SM touches which page in which order, with the
 * write and dependency flags the issue model needs. They follow the access patterns of the codes
 * the published studies ran (NVIDIA's `uvm_oversubs.cu`, SC21's Regular/Random, BabelStream,
 * Rodinia hotspot/nw/bfs, cuBLAS sgemm tiles).
 * @module
 */
import type { Prng } from '../../sim/prng.ts';
import { num, type ParamSet } from '../params.ts';
import * as units from '../units.ts';
import * as trace from './trace.ts';
import { BlockTraceBuilder, type KernelTrace, TraceBuilder } from './trace.ts';

// Local copies: imported bindings are read through getters by some loaders, too slow in hot loops.
const { WL_PAGE_SIZE } = units;
const { ACC_DEP, ACC_PREFETCH, ACC_WRITE } = trace;

/** One array of the footprint, as pages. */
export interface ArrayView {
  readonly name: string;
  /** First global page. */
  readonly first: number;
  /** Pages. */
  readonly pages: number;
  /** Bytes (pages × 4 KiB at most). */
  readonly bytes: number;
}

/** What a generator is given. */
export interface GenContext {
  readonly sms: number;
  readonly arrays: readonly ArrayView[];
  /** Numeric arguments, defaults filled in. */
  readonly args: Readonly<Record<string, number>>;
  readonly rng: Prng;
  readonly name: string;
}

/** A generator. */
export interface Generator {
  readonly name: string;
  readonly description: string;
  /** The arrays it uses, in order (the footprint of `--gen` is split evenly over them). */
  readonly arrays: readonly string[];
  /** Arguments, with defaults and sources. */
  readonly args: ParamSet;
  generate(ctx: GenContext): KernelTrace[];
}

const OVERSUBS = 'NVIDIA-developer-blog/code-samples posts/unified-memory-oversubscription uvm_oversubs.cu';
const eb = num(4, 'bytes', 'element size', 'workload choice (float)');

/** Page of byte offset `off` in array `a`. */
function pageOf(a: ArrayView, off: number): number {
  return a.first + Math.min(a.pages - 1, Math.floor(off / WL_PAGE_SIZE));
}

/** Where a thread block's accesses go: a {@link BlockTraceBuilder}, or a filter in front of one. */
interface AccessSink {
  push(page: number, flags: number): void;
}

/**
 * Passes on a thread block's first access of a page and every write; a later read of a page the
 * block already read or wrote is left out, its dependency carried to the block's next access.
 * The engine would find such a read valid, or waiting on the block's own outstanding fault (no
 * new fault, nothing more to wait for), as long as nothing evicts the page, so without
 * oversubscription the run is the same (only the count of accesses differs), with a much
 * shorter trace. Which SM runs a block is known only when the engine dispatches it, so an SM's
 * reads of a page another of its blocks read are kept.
 */
class FirstReads implements AccessSink {
  /** Per page: the stamp of the last block that read it. */
  private readonly seen: Int32Array;
  private stamp = 0;
  private carry = 0;
  constructor(
    private readonly t: BlockTraceBuilder,
    pages: number,
  ) {
    this.seen = new Int32Array(pages);
  }

  /** Starts the next thread block (on the builder too). */
  block(): void {
    this.t.block();
    this.stamp++;
    this.carry = 0;
  }

  push(page: number, flags: number): void {
    if ((flags & ACC_WRITE) === 0 && this.seen[page] === this.stamp) {
      this.carry |= flags & ACC_DEP;
      return;
    }
    this.seen[page] = this.stamp;
    this.t.push(page, flags | this.carry);
    this.carry = 0;
  }
}

/**
 * Pages `[off, off + bytes)` of array `a` spans, in ascending order, pushed to the current block.
 * The first push carries `firstFlags` (e.g. a dependency), the rest `flags`.
 */
function pushRange(
  t: AccessSink,
  a: ArrayView,
  off: number,
  bytes: number,
  flags: number,
  firstFlags = flags,
): void {
  const p0 = Math.floor(off / WL_PAGE_SIZE);
  const p1 = Math.floor((off + bytes - 1) / WL_PAGE_SIZE);
  for (let p = p0; p <= p1; p++) t.push(pageOf(a, p * WL_PAGE_SIZE), p === p0 ? firstFlags : flags);
}

/** Resident blocks per SM as a trace takes them: 1 to 32 (Volta's and Hopper's limit). */
function slots(blocksPerSm: number): number {
  return Math.max(1, Math.min(32, Math.floor(blocksPerSm)));
}

const BABELSTREAM = 'uvm-eval archive/benchmarksv3/stream (BabelStream, the SC21 stream code)';

/**
 * BabelStream's triad as uvm-eval runs it (`CUDAStream.cu` `triad_kernel`): one element per
 * thread, `a[i] = b[i] + scalar · c[i]`, launched as `array_size / TBSIZE` blocks of TBSIZE threads
 * (no grid-stride loop). A block's 1024 doubles are 8 KiB, two pages of each array: its warps
 * load the pages of b and c (independent loads, issued together) and then store a, which waits for
 * both loads.
 */
const stream: Generator = {
  name: 'stream',
  description: `BabelStream triad a = b + s·c, one element per thread, array_size ÷ TBSIZE blocks (${BABELSTREAM}; ${OVERSUBS} "streaming")`,
  arrays: ['a', 'b', 'c'],
  args: {
    threadsPerBlock: num(
      1024,
      'threads',
      'threads per thread block, one element each',
      `${BABELSTREAM}: CUDAStream.h TBSIZE 1024`,
    ),
    blocksPerSm: num(
      2,
      'blocks',
      'resident thread blocks per SM',
      'Volta (Titan V): 2048 threads, 32 blocks, 65,536 registers per SM; the kernel uses 16 registers per thread (uvm-eval benchmarksv3/stream/copy.nvprof: BabelStream copy_kernel, registersPerThread 16, blockX 1024), so min(2048 ÷ 1024, 65536 ÷ (16 × 1024), 32) = 2',
    ),
    elementBytes: num(8, 'bytes', 'element size', `${BABELSTREAM}: main.cpp runs double unless --float`),
    iterations: num(1, 'count', 'kernel launches', 'workload choice (uvm-eval runs -n 1 --triad-only)'),
  },
  generate(ctx) {
    const [a, b, c] = ctx.arrays as [ArrayView, ArrayView, ArrayView];
    const e = ctx.args.elementBytes!;
    const tpb = Math.max(1, Math.floor(ctx.args.threadsPerBlock!));
    const chunk = tpb * e;
    const bytes = Math.floor(Math.min(a.bytes, b.bytes, c.bytes) / e) * e;
    const blocks = Math.ceil(bytes / chunk);
    const out: KernelTrace[] = [];
    for (let it = 0; it < ctx.args.iterations!; it++) {
      const t = new BlockTraceBuilder(`${ctx.name}#${it}`, ctx.sms, slots(ctx.args.blocksPerSm!));
      for (let blk = 0; blk < blocks; blk++) {
        // The block's warps load b then c, page by page; the stores wait for the loads.
        t.block();
        const off = blk * chunk;
        const len = Math.min(chunk, bytes - off);
        const p0 = Math.floor(off / WL_PAGE_SIZE);
        const p1 = Math.floor((off + len - 1) / WL_PAGE_SIZE);
        for (let p = p0; p <= p1; p++) {
          t.push(pageOf(b, p * WL_PAGE_SIZE), 0);
          t.push(pageOf(c, p * WL_PAGE_SIZE), 0);
        }
        pushRange(t, a, off, len, ACC_WRITE | ACC_DEP);
      }
      out.push(t.build());
    }
    return out;
  },
};

/**
 * Thread blocks each own a contiguous chunk of `chunkPages` pages and touch one page per thread
 * (SC21 "Regular": thread t touches page t, 256 pages per thread block); with `chunkPages` 0 the
 * footprint is split over the resident grid and each block walks its chunk page by page
 * (`uvm_oversubs.cu` "block_streaming"). Blocks run `blocksPerSm` at a time per SM; the engine
 * dispatches them and interleaves an SM's resident blocks.
 */
const blockStream: Generator = {
  name: 'block-stream',
  description: `contiguous chunk per thread block, one page per thread (SC21 "Regular"; ${OVERSUBS} "block_streaming" with chunkPages 0)`,
  arrays: ['data'],
  args: {
    chunkPages: num(
      64,
      'pages',
      'pages per thread block, one per thread; 0 = footprint ÷ resident grid, walked page by page',
      'uvm-eval linear/page.cu (SC21 Regular): THREADS 64, thread idx reads page idx',
    ),
    blocksPerSm: num(
      32,
      'blocks',
      'resident thread blocks per SM',
      'Volta: 2048 threads and at most 32 blocks per SM, so 32 blocks of 64 threads',
    ),
    iterations: num(1, 'count', 'kernel launches', 'workload choice'),
    l2PrefetchAhead: num(
      0,
      'pages',
      'each thread first issues an L2 prefetch (prefetch.global.L2) of the page this many pages ahead in the array, unclamped (past the footprint it is an invalid prefetch); 0 = none',
      'Allen & Ge SC21 Fig. 5 (prefetch instructions fill a batch from one warp); workload choice',
    ),
  },
  generate(ctx) {
    const [d] = ctx.arrays as [ArrayView];
    const ahead = Math.max(0, Math.floor(ctx.args.l2PrefetchAhead!));
    const bps = slots(ctx.args.blocksPerSm!);
    const resident = ctx.sms * bps;
    const per = ctx.args.chunkPages! > 0 ? ctx.args.chunkPages! : Math.ceil(d.pages / resident);
    const blocks = Math.ceil(d.pages / per);
    const out: KernelTrace[] = [];
    for (let it = 0; it < ctx.args.iterations!; it++) {
      const t = new BlockTraceBuilder(`${ctx.name}#${it}`, ctx.sms, bps);
      for (let blk = 0; blk < blocks; blk++) {
        t.block();
        for (let i = 0; i < per; i++) {
          const p = blk * per + i;
          if (p >= d.pages) break;
          if (ahead > 0) t.push(d.first + p + ahead, ACC_PREFETCH);
          t.push(d.first + p, 0);
        }
      }
      out.push(t.build());
    }
    return out;
  },
};

/** Every page touched once (or `touches` times) in a seeded random order (SC21 "Random"). */
const randomPage: Generator = {
  name: 'random-page',
  description: `each page touched in a seeded random order, warps spread over the SMs (SC21 "Random"; ${OVERSUBS} "random_warp")`,
  arrays: ['data'],
  args: { touches: num(1, 'count', 'times each page is touched', 'workload choice') },
  generate(ctx) {
    const [d] = ctx.arrays as [ArrayView];
    const n = d.pages * ctx.args.touches!;
    const perm = new Int32Array(n);
    for (let i = 0; i < n; i++) perm[i] = i % d.pages;
    for (let i = n - 1; i > 0; i--) {
      const j = ctx.rng.nextInt(i + 1);
      const x = perm[i]!;
      perm[i] = perm[j]!;
      perm[j] = x;
    }
    const t = new TraceBuilder(ctx.name, ctx.sms);
    for (let i = 0; i < n; i++) t.push(i % ctx.sms, d.first + perm[i]!, 0);
    return [t.build()];
  },
};

/** A 5-point stencil sweeping rows: each row reads rows r−1..r+1 of `in` and writes row r of `out`; arrays swap each iteration. */
const stencil2d: Generator = {
  name: 'stencil2d',
  description:
    'Jacobi-style 2-D stencil (hotspot, srad, fdtd, 2DCONV): rows of in → out, swapping each iteration',
  arrays: ['in', 'out'],
  args: {
    cols: num(4096, 'elements', 'row length', 'workload choice'),
    elementBytes: eb,
    halo: num(1, 'rows', 'rows read above and below', 'workload choice'),
    iterations: num(2, 'count', 'kernel launches (in and out swap)', 'workload choice'),
  },
  generate(ctx) {
    const rowBytes = ctx.args.cols! * ctx.args.elementBytes!;
    const halo = ctx.args.halo!;
    const out: KernelTrace[] = [];
    for (let it = 0; it < ctx.args.iterations!; it++) {
      const src = ctx.arrays[it % 2]!;
      const dst = ctx.arrays[(it + 1) % 2]!;
      const rows = Math.floor(Math.min(src.bytes, dst.bytes) / rowBytes);
      const t = new TraceBuilder(`${ctx.name}#${it}`, ctx.sms);
      for (let r = 0; r < rows; r++) {
        const sm = r % ctx.sms;
        for (let off = 0; off < rowBytes; off += WL_PAGE_SIZE) {
          for (let h = -halo; h <= halo; h++) {
            const rr = r + h;
            if (rr >= 0 && rr < rows) t.push(sm, pageOf(src, rr * rowBytes + off), 0);
          }
          t.push(sm, pageOf(dst, r * rowBytes + off), ACC_WRITE | ACC_DEP);
        }
      }
      out.push(t.build());
    }
    return out;
  },
};

const CUTLASS_SIMT =
  "CUTLASS include/cutlass/gemm/device/default_gemm_configuration.h, OpClassSimt (SGEMM) default; cuBLAS's own kernel is not public";

/**
 * cuBLAS `cublasSgemm(N, N)` on square column-major n×n matrices, as uvm-eval's `matrixMul2.cu`
 * calls it (β = 0, so C is only written), with the tiled structure every SGEMM shares and
 * CUTLASS documents: thread block (x, y) owns the `tileM`×`tileN` tile of C at M tile x and N tile
 * y (`GemmIdentityThreadblockSwizzle`: blockIdx.x runs over M), and steps k by `tileK`, loading
 * per k-step an A tile (`tileK` columns of `tileM` contiguous floats: one page or two per column)
 * and a B tile (`tileN` columns of `tileK` floats: a page per column), A before B (each thread
 * issues its A loads, then its B loads). With two stages (global → registers → shared memory)
 * the loads of k-step t+1 are issued after the barrier that follows storing k-step t, so they
 * wait for k-step t's loads. The epilogue writes the C tile.
 */
const gemmTiles: Generator = {
  name: 'gemm-tiles',
  description:
    'cuBLAS-style column-major SGEMM C = A·B (uvm-eval matrixMul2.cu cublasSgemm; CUTLASS SIMT 128×128×8 tiles, 2 stages)',
  arrays: ['A', 'B', 'C'],
  args: {
    tileM: num(128, 'elements', 'C tile rows per thread block (threadblock shape M)', CUTLASS_SIMT),
    tileN: num(128, 'elements', 'C tile columns per thread block (threadblock shape N)', CUTLASS_SIMT),
    tileK: num(8, 'elements', 'k step per main-loop iteration (threadblock shape K)', CUTLASS_SIMT),
    blocksPerSm: num(
      2,
      'blocks',
      'resident thread blocks per SM',
      "Volta (Titan V): 2048 threads, 65,536 registers and 96 KiB shared memory per SM; a block has 256 threads (CUTLASS SIMT warp shape 32×64×8: 4 × 2 warps) and 16 KiB of shared memory (2 stages × (128×8 + 8×128) × 4 B); at 128 registers per thread (an 8×8 thread tile's 64 accumulators plus fragments; cuBLAS's count is not published) 65,536 ÷ (256 × 128) = 2 blocks",
      true,
    ),
    elementBytes: num(4, 'bytes', 'element size', 'sgemm: float (uvm-eval matrixMul2.cu)'),
    retouch: num(
      1,
      'flag',
      "1 = every access; 0 = a thread block's repeated reads of a page are left out (the same run without oversubscription, where the page is still resident or its fault still outstanding; under eviction it would have faulted again): B's pages are read once per block instead of once per k-step",
      'simulation choice',
    ),
  },
  generate(ctx) {
    const [A, B, C] = ctx.arrays as [ArrayView, ArrayView, ArrayView];
    const e = ctx.args.elementBytes!;
    // matrixMul2.cu runs -wA=-hA=-wB=-hB=psize: three square matrices of n² elements.
    const n = Math.floor(Math.sqrt(Math.min(A.bytes, B.bytes, C.bytes) / e));
    const TM = Math.max(1, Math.min(ctx.args.tileM!, n));
    const TN = Math.max(1, Math.min(ctx.args.tileN!, n));
    const TK = Math.max(1, Math.min(ctx.args.tileK!, n));
    const gridX = Math.ceil(n / TM);
    const blocks = gridX * Math.ceil(n / TN);
    // Element (r, c) of a column-major n×n matrix (leading dimension n) is at (c·n + r)·e.
    const col = (c: number, r: number): number => (c * n + r) * e;
    const t = new BlockTraceBuilder(ctx.name, ctx.sms, slots(ctx.args.blocksPerSm!));
    const firstOnly = ctx.args.retouch! <= 0;
    let pages = 0;
    for (const m of [A, B, C]) pages = Math.max(pages, m.first + m.pages);
    const filter = firstOnly ? new FirstReads(t, pages) : null;
    const sink: AccessSink = filter ?? t;
    // B's rows kk… of every column lie in the same pages as the previous k-step's when the
    // columns are page-aligned and the row range stays in its page: with FirstReads, skip them.
    const alignedCols = (n * e) % WL_PAGE_SIZE === 0;
    const rowPage = (kk: number): number => Math.floor((kk * e) / WL_PAGE_SIZE);
    for (let blk = 0; blk < blocks; blk++) {
      if (filter) filter.block();
      else t.block();
      const i = blk % gridX;
      const j = Math.floor(blk / gridX);
      const rows = Math.min(TM, n - i * TM);
      for (let kk = 0; kk < n; kk += TK) {
        const kn = Math.min(TK, n - kk);
        // Only the first access of a k-step after the first waits (for the block's earlier loads).
        let dep = kk > 0 ? ACC_DEP : 0;
        for (let c = kk; c < kk + kn; c++) {
          pushRange(sink, A, col(c, i * TM), rows * e, 0, dep);
          dep = 0;
        }
        const sameB =
          firstOnly &&
          alignedCols &&
          kk > 0 &&
          rowPage(kk - TK) === rowPage(kk) &&
          rowPage(kk + kn - 1) === rowPage(kk);
        if (sameB) continue;
        for (let c = j * TN; c < Math.min(n, (j + 1) * TN); c++) pushRange(sink, B, col(c, kk), kn * e, 0);
      }
      for (let c = j * TN; c < Math.min(n, (j + 1) * TN); c++)
        pushRange(sink, C, col(c, i * TM), rows * e, ACC_WRITE | ACC_DEP);
    }
    return [t.build()];
  },
};

/** Breadth-first search over a seeded power-law CSR graph: one kernel per level. */
const graphFrontier: Generator = {
  name: 'graph-frontier',
  description:
    'BFS levels over a seeded power-law CSR graph (bfs, sssp): streaming edge lists, random visited checks',
  arrays: ['rowPtr', 'colIdx', 'visited'],
  args: {
    alpha: num(2.5, 'exponent', 'power-law exponent of the degree distribution', 'workload choice'),
    minDegree: num(2, 'edges', 'smallest out-degree', 'workload choice'),
    source: num(0, 'vertex', 'BFS source vertex', 'workload choice'),
  },
  generate(ctx) {
    const [rowPtr, colIdx, visited] = ctx.arrays as [ArrayView, ArrayView, ArrayView];
    const Emax = Math.floor(colIdx.bytes / 4);
    // Mean out-degree of the truncated power law ≈ minDegree·(α−1)/(α−2); size V so the edges fit.
    const a0 = ctx.args.alpha!;
    const mean = a0 > 2 ? (ctx.args.minDegree! * (a0 - 1)) / (a0 - 2) : ctx.args.minDegree! * 4;
    const V = Math.max(
      2,
      Math.min(Math.floor(Math.min(rowPtr.bytes, visited.bytes) / 4), Math.floor(Emax / mean)),
    );
    const deg = new Int32Array(V);
    let E = 0;
    const a = ctx.args.alpha!;
    for (let v = 0; v < V; v++) {
      const u = 1 - ctx.rng.nextFloat();
      const d = Math.min(V - 1, Math.floor(ctx.args.minDegree! * u ** (-1 / (a - 1))));
      deg[v] = d;
      E += d;
    }
    const scale = E > Emax ? Emax / E : 1;
    const start = new Int32Array(V + 1);
    for (let v = 0; v < V; v++) start[v + 1] = start[v]! + Math.floor(deg[v]! * scale);
    const adj = new Int32Array(start[V]!);
    for (let i = 0; i < adj.length; i++) adj[i] = ctx.rng.nextInt(V);
    const seen = new Uint8Array(V);
    let frontier = [Math.min(V - 1, ctx.args.source!)];
    seen[frontier[0]!] = 1;
    const out: KernelTrace[] = [];
    for (let level = 0; frontier.length > 0; level++) {
      const t = new TraceBuilder(`${ctx.name}#L${level}`, ctx.sms);
      const next: number[] = [];
      frontier.forEach((v, i) => {
        const sm = i % ctx.sms;
        t.push(sm, pageOf(rowPtr, v * 4), 0);
        for (let k = start[v]!; k < start[v + 1]!; k++) {
          t.push(sm, pageOf(colIdx, k * 4), 0);
          const w = adj[k]!;
          t.push(sm, pageOf(visited, w * 4), 0);
          if (seen[w] === 0) {
            seen[w] = 1;
            next.push(w);
            t.push(sm, pageOf(visited, w * 4), ACC_WRITE | ACC_DEP);
          }
        }
      });
      out.push(t.build());
      frontier = next;
    }
    return out;
  },
};

/** Needleman–Wunsch-style anti-diagonal sweep over tiles: one kernel per diagonal. */
const wavefront: Generator = {
  name: 'wavefront',
  description: 'anti-diagonal tile sweep over an n×n matrix (Rodinia nw): one kernel per diagonal',
  arrays: ['matrix'],
  args: {
    block: num(64, 'elements', 'tile edge', 'Rodinia nw BLOCK_SIZE-like (workload choice)'),
    elementBytes: eb,
  },
  generate(ctx) {
    const [m] = ctx.arrays as [ArrayView];
    const e = ctx.args.elementBytes!;
    const n = Math.floor(Math.sqrt(m.bytes / e));
    const B = Math.max(1, Math.min(ctx.args.block!, n));
    const tiles = Math.ceil(n / B);
    const rowStep = Math.max(1, Math.floor(WL_PAGE_SIZE / (n * e)));
    const out: KernelTrace[] = [];
    for (let d = 0; d < 2 * tiles - 1; d++) {
      const t = new TraceBuilder(`${ctx.name}#d${d}`, ctx.sms);
      let k = 0;
      for (let i = Math.max(0, d - tiles + 1); i <= Math.min(d, tiles - 1); i++, k++) {
        const j = d - i;
        const sm = k % ctx.sms;
        // The row above the tile and the tile's own rows; writes depend on the reads.
        if (i > 0) t.push(sm, pageOf(m, ((i * B - 1) * n + j * B) * e), 0);
        for (let r = i * B; r < Math.min(n, (i + 1) * B); r += rowStep)
          t.push(sm, pageOf(m, (r * n + j * B) * e), 0);
        for (let r = i * B; r < Math.min(n, (i + 1) * B); r += rowStep) {
          t.push(sm, pageOf(m, (r * n + j * B) * e), ACC_WRITE | ACC_DEP);
        }
      }
      out.push(t.build());
    }
    return out;
  },
};

/** Every generator. */
export const GENERATORS: readonly Generator[] = [
  stream,
  blockStream,
  randomPage,
  stencil2d,
  gemmTiles,
  graphFrontier,
  wavefront,
];

/** The generator called `name`, or undefined. */
export function findGenerator(name: string): Generator | undefined {
  return GENERATORS.find((g) => g.name === name);
}

/**
 * Reads of a hand-made trace: `pages` in order on SM 0, each depending on the one before
 * (pointer chasing), so they fault one at a time.
 */
export function serialTrace(name: string, pages: readonly number[]): KernelTrace {
  const t = new TraceBuilder(name, 1);
  for (const p of pages) t.push(0, p, ACC_DEP);
  return t.build();
}

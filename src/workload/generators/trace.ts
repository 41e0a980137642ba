/**
 * A kernel's accesses as the GPU issue model consumes them: for each SM, the pages it touches in
 * order, each with flags (write, dependent on the SM's earlier accesses). Stored as one
 * compressed-row structure of typed arrays; no per-access objects.
 * @module
 */

/** The access is a write. */
export const ACC_WRITE = 1;
/** The access depends on the SM's earlier loads (e.g. a store of loaded values): it issues only when none of the SM's load faults is outstanding (a store sets no register, so nothing waits on a store). */
export const ACC_DEP = 2;

/**
 * The access is an L2 prefetch instruction (`prefetch.global.L2`): when its page is not valid it
 * raises a fault of access type PREFETCH (if the driver has prefetch faults on), and the SM
 * neither waits for it nor retries it after a replay — a prefetch fault "disappears on replay"
 * (nvidia-uvm `uvm_gpu_replayable_faults.c`), and prefetches bypass the μTLB and per-SM limits
 * (Allen & Ge SC21 Fig. 5). Its page may lie beyond the footprint: an invalid prefetch.
 */
export const ACC_PREFETCH = 4;

/** One kernel launch. */
export interface KernelTrace {
  /** Kernel name (for reports and traces). */
  readonly name: string;
  /** Number of SMs. */
  readonly sms: number;
  /**
   * Thread blocks resident on one SM at a time: the SM's slots (1 to 32, Volta's and Hopper's
   * limit). The GPU's block scheduler hands blocks to free slots in index order (the engine's
   * `blockDispatch`).
   */
  readonly blocksPerSm: number;
  /**
   * Block `b`'s accesses are `[blockStart[b], blockStart[b+1])`: one ordered stream with its own
   * scoreboard. A trace written per SM ({@link TraceBuilder}) has one block per SM and one slot,
   * so block `s` is SM `s`'s whole list.
   */
  readonly blockStart: Int32Array;
  /** Global page index of each access. */
  readonly pages: Int32Array;
  /** {@link ACC_WRITE} | {@link ACC_DEP} | {@link ACC_PREFETCH} per access. */
  readonly flags: Uint8Array;
}

/** Page × 8 + flags of each access, collapsed to a {@link KernelTrace}. */
function decode(
  name: string,
  sms: number,
  blocksPerSm: number,
  blockStart: Int32Array,
  enc: Int32Array,
  total: number,
): KernelTrace {
  const pages = new Int32Array(total);
  const flags = new Uint8Array(total);
  for (let i = 0; i < total; i++) {
    pages[i] = enc[i]! >>> 3;
    flags[i] = enc[i]! & 7;
  }
  return { name, sms, blocksPerSm, blockStart, pages, flags };
}

/**
 * Builds a {@link KernelTrace} written per SM (one block per SM, which runs on that SM),
 * collapsing an SM's immediate repeats of the same page and flags. Pages are below 2^28 (1 TiB
 * footprints).
 */
export class TraceBuilder {
  private readonly bufs: Int32Array[];
  private readonly lens: Int32Array;
  constructor(
    readonly name: string,
    readonly sms: number,
  ) {
    this.bufs = Array.from({ length: sms }, () => new Int32Array(64));
    this.lens = new Int32Array(sms);
  }

  /** Appends an access of SM `sm` to `page` with `flags`. */
  push(sm: number, page: number, flags = 0): void {
    let b = this.bufs[sm]!;
    const n = this.lens[sm]!;
    const enc = page * 8 + flags;
    if (n > 0 && b[n - 1] === enc) return;
    if (n === b.length) {
      const nb = new Int32Array(b.length * 2);
      nb.set(b);
      this.bufs[sm] = nb;
      b = nb;
    }
    b[n] = enc;
    this.lens[sm] = n + 1;
  }

  /** Total accesses so far. */
  get length(): number {
    let t = 0;
    for (let s = 0; s < this.sms; s++) t += this.lens[s]!;
    return t;
  }

  /** The finished trace. */
  build(): KernelTrace {
    const total = this.length;
    const start = new Int32Array(this.sms + 1);
    const enc = new Int32Array(total);
    let k = 0;
    for (let s = 0; s < this.sms; s++) {
      start[s] = k;
      enc.set(this.bufs[s]!.subarray(0, this.lens[s]!), k);
      k += this.lens[s]!;
    }
    start[this.sms] = k;
    return decode(this.name, this.sms, 1, start, enc, total);
  }
}

/**
 * Builds a {@link KernelTrace} of thread blocks, written one block after the other in block
 * index order ({@link BlockTraceBuilder.block} starts the next), collapsing a block's immediate
 * repeats of the same page and flags. Which SM runs a block is the engine's dispatch.
 */
export class BlockTraceBuilder {
  private pages = new Int32Array(1024);
  private flags = new Uint8Array(1024);
  private n = 0;
  /** Where the current block's accesses start (a repeat is collapsed only within a block). */
  private cur = 0;
  private starts = new Int32Array(64);
  private blocks = 0;
  constructor(
    readonly name: string,
    readonly sms: number,
    readonly blocksPerSm: number,
  ) {}

  /** Starts the next thread block. */
  block(): void {
    if (this.blocks + 1 >= this.starts.length) {
      const ns = new Int32Array(this.starts.length * 2);
      ns.set(this.starts);
      this.starts = ns;
    }
    this.starts[this.blocks++] = this.n;
    this.cur = this.n;
  }

  /** Appends an access of the current block to `page` with `flags`. */
  push(page: number, flags = 0): void {
    const n = this.n;
    if (n > this.cur && this.pages[n - 1] === page && this.flags[n - 1] === flags) return;
    if (n === this.pages.length) {
      const np = new Int32Array(n * 2);
      np.set(this.pages);
      this.pages = np;
      const nf = new Uint8Array(n * 2);
      nf.set(this.flags);
      this.flags = nf;
    }
    this.pages[n] = page;
    this.flags[n] = flags;
    this.n = n + 1;
  }

  /** Accesses so far. */
  get length(): number {
    return this.n;
  }

  /** The finished trace. */
  build(): KernelTrace {
    const blockStart = new Int32Array(this.blocks + 1);
    blockStart.set(this.starts.subarray(0, this.blocks));
    blockStart[this.blocks] = this.n;
    return {
      name: this.name,
      sms: this.sms,
      blocksPerSm: this.blocksPerSm,
      blockStart,
      pages: this.pages.slice(0, this.n),
      flags: this.flags.slice(0, this.n),
    };
  }
}

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
  /** SM `s`'s accesses are `[smStart[s], smStart[s+1])`. */
  readonly smStart: Int32Array;
  /** Global page index of each access. */
  readonly pages: Int32Array;
  /** {@link ACC_WRITE} | {@link ACC_DEP} | {@link ACC_PREFETCH} per access. */
  readonly flags: Uint8Array;
}

/**
 * Builds a {@link KernelTrace}, collapsing an SM's immediate repeats of the same page and flags.
 * Pages are below 2^28 (1 TiB footprints).
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
    const smStart = new Int32Array(this.sms + 1);
    const pages = new Int32Array(total);
    const flags = new Uint8Array(total);
    let k = 0;
    for (let s = 0; s < this.sms; s++) {
      smStart[s] = k;
      const b = this.bufs[s]!;
      for (let i = 0; i < this.lens[s]!; i++) {
        pages[k] = b[i]! >>> 3;
        flags[k] = b[i]! & 7;
        k++;
      }
    }
    smStart[this.sms] = k;
    return { name: this.name, sms: this.sms, smStart, pages, flags };
  }
}

/**
 * The contents of a run of pages as they were at one moment, kept compactly and turned into bytes
 * only when someone reads them: the user buffer a dmirror command fills (MIGRATE_TO_DEV reads the
 * whole range back) need not be written, page by page, into a fresh buffer the caller may never
 * look at. A page without data costs nothing, a page holding a few words their slot (36 bytes),
 * any other page a 4 KiB copy; {@link ContentSnapshot.bytes} builds the buffer once, on demand.
 * The copy is taken when the snapshot is, so later changes to the pages are not seen: the result
 * is exactly what an eager copy would hold.
 * @module
 */
import { PAGE_SIZE } from './constants.ts';
import type { PhysMem } from './physmem.ts';
import { SPARSE_STRIDE } from './sparse-words.ts';

/** Pages per block of 4 KiB copies. */
const BLOCK_PAGES = 16;

/** The saved contents of `npages` pages, in order. */
export class ContentSnapshot {
  /** Per page: 0 none (zeros), k > 0 sparse slot k − 1 of {@link words}, k < 0 full copy −k − 1. */
  private readonly ref: Int32Array;
  /** Sparse slots, {@link SPARSE_STRIDE} words each. */
  private words = new Int32Array(0);
  private nWords = 0;
  /** Full copies, {@link BLOCK_PAGES} pages per block. */
  private readonly blocks: Uint8Array[] = [];
  private nFull = 0;
  private built: Uint8Array | null = null;

  /** An empty snapshot of `npages` pages (every page reads as zeros until saved). */
  constructor(readonly npages: number) {
    this.ref = new Int32Array(npages);
  }

  /** Saves the current contents of frame `pfn` as page `i`. */
  save(pm: PhysMem, i: number, pfn: number): void {
    if (!pm.hasData(pfn)) return;
    if (this.nWords + SPARSE_STRIDE > this.words.length) {
      const w = new Int32Array(Math.max(64 * SPARSE_STRIDE, this.words.length * 2));
      w.set(this.words);
      this.words = w;
    }
    if (pm.copySparseWords(pfn, this.words, this.nWords)) {
      this.ref[i] = this.nWords / SPARSE_STRIDE + 1;
      this.nWords += SPARSE_STRIDE;
      return;
    }
    const n = this.nFull++;
    const b = Math.floor(n / BLOCK_PAGES);
    if (b === this.blocks.length) this.blocks.push(new Uint8Array(BLOCK_PAGES * PAGE_SIZE));
    pm.readBytes(pfn, 0, this.blocks[b]!, (n % BLOCK_PAGES) * PAGE_SIZE, PAGE_SIZE);
    this.ref[i] = -n - 1;
  }

  /** The saved pages as one buffer, built on the first call. */
  bytes(): Uint8Array {
    if (this.built !== null) return this.built;
    const out = new Uint8Array(this.npages * PAGE_SIZE);
    for (let i = 0; i < this.npages; i++) {
      const r = this.ref[i]!;
      const base = i * PAGE_SIZE;
      if (r < 0) {
        const n = -r - 1;
        const off = (n % BLOCK_PAGES) * PAGE_SIZE;
        out.set(this.blocks[Math.floor(n / BLOCK_PAGES)]!.subarray(off, off + PAGE_SIZE), base);
      } else if (r > 0) {
        const s = (r - 1) * SPARSE_STRIDE;
        const count = this.words[s]!;
        for (let j = 0; j < count; j++) {
          const at = base + this.words[s + 1 + 2 * j]! * 4;
          const v = this.words[s + 2 + 2 * j]!;
          out[at] = v;
          out[at + 1] = v >>> 8;
          out[at + 2] = v >>> 16;
          out[at + 3] = v >>> 24;
        }
      }
    }
    this.built = out;
    this.words = new Int32Array(0);
    this.blocks.length = 0;
    return out;
  }
}

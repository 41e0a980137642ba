/**
 * The contents of a run of pages as they were at one moment, kept compactly and turned into bytes
 * only when someone reads them: the user buffer a dmirror command fills (MIGRATE_TO_DEV reads the
 * whole range back) need not be written, page by page, into a fresh buffer the caller may never
 * look at. A page without data costs nothing, a page holding a few words their slot (36 bytes),
 * any other page a pin on its 4 KiB content slot (content-slots.ts): the slot is shared with the
 * frame, and a frame writing it afterwards gets a copy first, so later changes to the pages are
 * not seen and the result is exactly what an eager copy would hold.
 * {@link ContentSnapshot.bytes} builds the buffer once, on demand, and releases the pins; a
 * snapshot never read releases them when it is collected.
 * @module
 */
import { kernelBug } from '../sim/errors.ts';
import { PAGE_SIZE } from './constants.ts';
import type { PhysMem } from './physmem.ts';
import { SPARSE_STRIDE } from './sparse-words.ts';

/** The saved contents of `npages` pages, in order. */
export class ContentSnapshot {
  /**
   * Per page: 0 none (zeros), k > 0 sparse slot k − 1 of {@link words}, k < 0 pinned content slot
   * −k − 1 of {@link pm} (see `PhysMem.saveForSnapshot`).
   */
  private readonly ref: Int32Array;
  /** The memory whose slots are pinned (null until one is). */
  private pm: PhysMem | null = null;
  /** Sparse slots, {@link SPARSE_STRIDE} words each. */
  private words = new Int32Array(0);
  private nWords = 0;
  private built: Uint8Array | null = null;

  /** An empty snapshot of `npages` pages (every page reads as zeros until saved). */
  constructor(readonly npages: number) {
    this.ref = new Int32Array(npages);
  }

  /** Saves the current contents of frame `pfn` as page `i` (each page once). */
  save(pm: PhysMem, i: number, pfn: number): void {
    let r = pm.saveForSnapshot(pfn, this.words, this.nWords);
    if (r === 2) {
      // Room is made only for a page that holds sparse words, for all the pages still to come
      // at once (a range of sparse pages, like a migration's read-back, then grows the array
      // once, not by doubling — each new buffer costs zeroing, copying and page faults); a
      // snapshot of 4 KiB or empty pages allocates nothing here.
      const need = Math.max(64, this.npages - i) * SPARSE_STRIDE;
      const w = new Int32Array(Math.max(need, this.words.length * 2));
      w.set(this.words);
      this.words = w;
      r = pm.saveForSnapshot(pfn, this.words, this.nWords);
    }
    if (r === 1) {
      this.ref[i] = this.nWords / SPARSE_STRIDE + 1;
      this.nWords += SPARSE_STRIDE;
    } else if (r < 0) {
      if (this.pm === null) {
        this.pm = pm;
        pm.registerPins(this, this.ref);
      } else if (this.pm !== pm) kernelBug('ContentSnapshot: pages of two machines in one snapshot');
      this.ref[i] = r;
    }
  }

  /**
   * Page `i`'s content slot while it is pinned (−slot − 1, negative), else 0: two pages naming
   * the same pinned slot of the same memory hold the same bytes (a comparison need not read them).
   */
  pinnedRef(i: number): number {
    return this.built === null && this.pm !== null ? Math.min(0, this.ref[i]!) : 0;
  }

  /** The memory whose slots this snapshot pins (null when none is pinned or it was built). */
  get memory(): PhysMem | null {
    return this.built === null ? this.pm : null;
  }

  /**
   * Copies page `i` as saved into `dst[dstOff..]` (4096 bytes), without building the whole
   * buffer; `zeroed`: those bytes of `dst` are zeros already.
   */
  pageInto(i: number, dst: Uint8Array, dstOff: number, zeroed = false): void {
    if (this.built !== null) {
      dst.set(this.built.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE), dstOff);
      return;
    }
    const r = this.ref[i]!;
    if (r < 0) {
      this.pm!.readPinnedSlot(-r - 1, dst, dstOff);
      return;
    }
    if (!zeroed) dst.fill(0, dstOff, dstOff + PAGE_SIZE);
    if (r === 0) return;
    const s = (r - 1) * SPARSE_STRIDE;
    const count = this.words[s]!;
    for (let j = 0; j < count; j++) {
      const at = dstOff + this.words[s + 1 + 2 * j]! * 4;
      const v = this.words[s + 2 + 2 * j]!;
      dst[at] = v;
      dst[at + 1] = v >>> 8;
      dst[at + 2] = v >>> 16;
      dst[at + 3] = v >>> 24;
    }
  }

  /** The saved pages as one buffer, built on the first call. */
  bytes(): Uint8Array {
    if (this.built !== null) return this.built;
    const out = new Uint8Array(this.npages * PAGE_SIZE);
    for (let i = 0; i < this.npages; i++) this.pageInto(i, out, i * PAGE_SIZE, true);
    this.built = out;
    this.words = new Int32Array(0);
    if (this.pm !== null) this.pm.unpinSlots(this, this.ref);
    this.pm = null;
    return out;
  }
}

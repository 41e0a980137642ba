/**
 * The contents of a run of pages as they were at one moment, kept compactly and turned into bytes
 * only when someone reads them: the user buffer a dmirror command fills (MIGRATE_TO_DEV reads the
 * whole range back) need not be written, page by page, into a fresh buffer the caller may never
 * look at. A page without data costs nothing, a page holding one word 8 bytes, a page holding a
 * few words their count and (index, value) pairs, any other page a pin on its 4 KiB content slot
 * (content-slots.ts): the slot is shared with the frame, and a frame writing it afterwards gets a
 * copy first, so later changes to the pages are not seen and the result is exactly what an eager
 * copy would hold.
 * {@link ContentSnapshot.bytes} builds the buffer once, on demand, and releases the pins; a
 * snapshot never read releases them when it is collected.
 * @module
 */
import { kernelBug } from '../sim/errors.ts';
import { PAGE_SIZE } from './constants.ts';
import type { PhysMem } from './physmem.ts';
import { SPARSE_WORDS } from './sparse-words.ts';

/** An empty array, shared until a snapshot needs room. */
const NO_WORDS = new Int32Array(0);

/** Words of a page: a page holding one sparse word names it by `ref` 1 to this. */
const PAGE_WORDS = PAGE_SIZE / 4;

/** The saved contents of `npages` pages, in order. */
export class ContentSnapshot {
  /**
   * Per page: 0 none (zeros); −k − 1 < 0 pinned content slot k of {@link pm} (see
   * `PhysMem.saveForSnapshot`); 1 to {@link PAGE_WORDS}: one word, at word index `ref − 1`, whose
   * value is in {@link single}; above: several words, their count and (index, value) pairs at
   * {@link words}`[ref − PAGE_WORDS − 1]`.
   */
  private readonly ref: Int32Array;
  /** Per page holding one word: its value (made at the first such page). */
  private single = NO_WORDS;
  /** The memory whose slots are pinned (null until one is). */
  private pm: PhysMem | null = null;
  /** Pages of several words: count, then pairs, one page after another. */
  private words = NO_WORDS;
  private nWords = 0;
  /** Where {@link save} receives a page's pairs. */
  private readonly pairs = new Int32Array(2 * SPARSE_WORDS);
  private built: Uint8Array | null = null;

  /** An empty snapshot of `npages` pages (every page reads as zeros until saved). */
  constructor(readonly npages: number) {
    this.ref = new Int32Array(npages);
  }

  /**
   * Saves the current contents of frame `pfn` as page `i` (each page once). A page of one word
   * (a tag per page, the common case) costs 8 bytes; the arrays are made once, for every page
   * still to come — a fresh buffer's memory is backed by the host only where it is written, and
   * each new host page is a page fault, so they are neither grown by doubling nor written twice.
   */
  save(pm: PhysMem, i: number, pfn: number): void {
    const pairs = this.pairs;
    const r = pm.saveForSnapshot(pfn, pairs);
    if (r === 1) {
      if (this.single.length === 0) this.single = new Int32Array(this.npages);
      this.ref[i] = pairs[0]! + 1;
      this.single[i] = pairs[1]!;
    } else if (r > 1) {
      const n = 1 + 2 * r;
      if (this.nWords + n > this.words.length) {
        const w = new Int32Array(Math.max((this.npages - i) * (1 + 2 * SPARSE_WORDS), this.words.length * 2));
        w.set(this.words);
        this.words = w;
      }
      const at = this.nWords;
      this.words[at] = r;
      for (let j = 0; j < 2 * r; j++) this.words[at + 1 + j] = pairs[j]!;
      this.ref[i] = PAGE_WORDS + 1 + at;
      this.nWords += n;
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
    if (r <= PAGE_WORDS) {
      putWord(dst, dstOff + (r - 1) * 4, this.single[i]!);
      return;
    }
    const s = r - PAGE_WORDS - 1;
    const count = this.words[s]!;
    for (let j = 0; j < count; j++)
      putWord(dst, dstOff + this.words[s + 1 + 2 * j]! * 4, this.words[s + 2 + 2 * j]!);
  }

  /** The saved pages as one buffer, built on the first call. */
  bytes(): Uint8Array {
    if (this.built !== null) return this.built;
    const out = new Uint8Array(this.npages * PAGE_SIZE);
    for (let i = 0; i < this.npages; i++) this.pageInto(i, out, i * PAGE_SIZE, true);
    this.built = out;
    this.words = NO_WORDS;
    this.single = NO_WORDS;
    if (this.pm !== null) this.pm.unpinSlots(this, this.ref);
    this.pm = null;
    return out;
  }
}

/**
 * A snapshot of no pages, frozen and never read: it keeps the class's hidden class alive. A dmirror
 * read-back nobody reads dies before the next command, and when the last snapshot has died a full
 * collection frees the hidden class with it and V8 throws away the optimized code of the loops
 * that fill snapshots (`dmirror_do_read`'s read-back, {@link ContentSnapshot.save}), to be
 * recompiled at the next command (the migration benchmark collects before each round trip).
 */
const _KEEP_HIDDEN_CLASS = Object.freeze(new ContentSnapshot(0));

/** Stores `v` little-endian at `dst[at..at + 4)`. */
function putWord(dst: Uint8Array, at: number, v: number): void {
  dst[at] = v;
  dst[at + 1] = v >>> 8;
  dst[at + 2] = v >>> 16;
  dst[at + 3] = v >>> 24;
}

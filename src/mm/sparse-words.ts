/**
 * Sparse page contents: the few 32-bit words of a page that holds little data, kept apart from
 * the 4 KiB content store until more is written (a simulation device, invisible to semantics:
 * such a page reads exactly as a 4 KiB slot holding those words over zeros would).
 *
 * Most pages a test or benchmark writes hold a word or two (`store32` per page, a tag per page
 * before a migration). Giving each a 4 KiB slot costs a zero-fill, host memory the host must back
 * (a host page fault per simulated page on a fresh machine) and garbage to collect. Here such a
 * page costs one slot of {@link SPARSE_STRIDE} 32-bit words: a count, then up to
 * {@link SPARSE_WORDS} (word index, value) pairs in the order first written.
 *
 * Slots come in records of {@link SPARSE_GROUP_FRAMES} frames (the frames of one content chunk),
 * so the directory costs 4 bytes per 16 frames and is allocated on first use. A record, once
 * given to a group, stays with it for the life of the memory (its size is bounded by the
 * frames). A slot whose count is {@link SPARSE_FULL} belongs to a frame whose contents live in
 * the 4 KiB content store; a slot's count means something only while its frame has PG_hasdata.
 * @module
 */

/** Words a page can hold apart before it moves to a 4 KiB slot. */
export const SPARSE_WORDS = 4;
/** Int32 words per frame slot: the count, then the (word index, value) pairs. */
export const SPARSE_STRIDE = 1 + 2 * SPARSE_WORDS;
/** Frames per record, as a shift (the content store's 16-frame chunks). */
const GROUP_SHIFT = 4;
/** Frames per record. */
export const SPARSE_GROUP_FRAMES = 1 << GROUP_SHIFT;
/** Int32 words per record. */
const RECORD_WORDS = SPARSE_GROUP_FRAMES * SPARSE_STRIDE;
/** Count of a slot whose frame's contents are in the 4 KiB content store. */
export const SPARSE_FULL = -1;

/**
 * The directory and slab of a SparseWords without records: shared, never written (both grow by
 * reallocation before any write). A zero-length typed array costs ~0.7 µs to create, and the race
 * explorer builds and disposes a machine per schedule.
 */
const NO_WORDS = new Int32Array(0);

/** Records of sparse word slots, by frame. */
export class SparseWords {
  /** Per group of 16 frames: its record (0: none). */
  private dir = NO_WORDS;
  /** The records, one after another; record 0 is never used, so 0 can mean "none". */
  slab = NO_WORDS;
  private nRecords = 1;

  /** The slot of `pfn` (an index into {@link slab}), or -1 when its group has no record. */
  slot(pfn: number): number {
    const g = pfn >>> GROUP_SHIFT;
    if (g >= this.dir.length) return -1;
    const r = this.dir[g]!;
    return r === 0 ? -1 : r * RECORD_WORDS + (pfn & (SPARSE_GROUP_FRAMES - 1)) * SPARSE_STRIDE;
  }

  /**
   * The slot of `pfn`, giving its group a record if it has none (every slot of a new record says
   * {@link SPARSE_FULL}: the group's other frames may hold 4 KiB contents already). `nrFrames`
   * bounds the directory.
   */
  ensureSlot(pfn: number, nrFrames: number): number {
    const s = this.slot(pfn);
    if (s >= 0) return s;
    const g = pfn >>> GROUP_SHIFT;
    if (g >= this.dir.length) {
      const dir = new Int32Array((nrFrames + SPARSE_GROUP_FRAMES - 1) >>> GROUP_SHIFT);
      dir.set(this.dir);
      this.dir = dir;
    }
    const r = this.nRecords++;
    const end = (r + 1) * RECORD_WORDS;
    if (end > this.slab.length) {
      const slab = new Int32Array(Math.max(end, this.slab.length * 2));
      slab.set(this.slab);
      this.slab = slab;
    }
    for (let i = 0; i < SPARSE_GROUP_FRAMES; i++)
      this.slab[r * RECORD_WORDS + i * SPARSE_STRIDE] = SPARSE_FULL;
    this.dir[g] = r;
    return r * RECORD_WORDS + (pfn & (SPARSE_GROUP_FRAMES - 1)) * SPARSE_STRIDE;
  }

  /** Drops every record. */
  clear(): void {
    this.dir = NO_WORDS;
    this.slab = NO_WORDS;
    this.nRecords = 1;
  }
}

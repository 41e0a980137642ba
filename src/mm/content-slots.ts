/**
 * The 4 KiB content slots of page frames, shared by reference until one side writes (a simulation
 * device, invisible to semantics: a frame reads exactly as if it had its own copy).
 *
 * A frame whose data does not fit in a few sparse words (sparse-words.ts) keeps its 4 KiB in a
 * slot of a 64 KiB chunk. The frame names its slot (`of[pfn]`), and a slot counts its references:
 * the frames naming it, plus the pins of content snapshots (content-snapshot.ts) that saved it.
 * `copy_highpage` of such a frame (COW after fork, every migration, swap-in from the swap cache)
 * then costs one reference instead of 4 KiB of copying into host memory the host may have to
 * fault in, and a migration whose source frame is freed afterwards has moved the slot. A frame
 * about to write a slot another reference shares gets a slot of its own first (copying the bytes
 * only when the write keeps some of them).
 *
 * A frame keeps its slot while it is free (the next use of the frame reuses it, as the old fixed
 * slot per frame did) unless the slot is shared: then the frame drops its reference when it is
 * freed or cleared, so a slot whose source frame was freed belongs to the destination alone.
 * Slots without references go on a free stack and are handed out again last-freed first (memory
 * the host has backed recently).
 * @module
 */
import type { BufferPool } from './buffer-pool.ts';
import { PAGE_SIZE } from './constants.ts';

/** Slots per chunk, as a shift: 16 slots, 64 KiB (see physmem.ts for why chunks are small). */
export const SLOT_CHUNK_SHIFT = 4;
/** Slots per chunk. */
const SLOT_CHUNK_SLOTS = 1 << SLOT_CHUNK_SHIFT;
/** Bytes of a content chunk. */
export const SLOT_CHUNK_BYTES = SLOT_CHUNK_SLOTS * PAGE_SIZE;
/** Pool key of a content chunk. */
const POOL_KEY = 'content chunk';

/** The 4 KiB content slots of a {@link PhysMem}'s frames, with their references. */
export class ContentSlots {
  /** Per frame: its slot, 0 for none (slot 0 is never handed out). Grown on demand. */
  private of = new Int32Array(0);
  /** Per slot: frames naming it plus pins. */
  private refs = new Int32Array(SLOT_CHUNK_SLOTS);
  /** Per slot: pins of content snapshots (also counted in {@link refs}). */
  private pins = new Int32Array(SLOT_CHUNK_SLOTS);
  /** The chunks, slot `s` at `chunks[s >> 4]`, byte `(s & 15) * 4096`. */
  private chunks: Uint8Array[] = [];
  /** Slots without references (a stack). */
  private free = new Int32Array(SLOT_CHUNK_SLOTS);
  private nFree = 0;
  /** Pins of snapshots not yet released, released when their snapshot is collected. */
  private registry: FinalizationRegistry<Int32Array> | null = null;
  private disposed = false;
  /**
   * Slots of pages filled with one byte value (see {@link constant}), by value: each holds one
   * reference of its own, so a frame naming one always copies it before writing.
   */
  private readonly constants = new Map<number, number>();

  constructor(private readonly pool: BufferPool | null) {}

  /** The slot of frame `pfn`, 0 when it has none. */
  slotOf(pfn: number): number {
    return pfn < this.of.length ? this.of[pfn]! : 0;
  }

  /** The chunk holding slot `s`. */
  chunk(s: number): Uint8Array {
    return this.chunks[s >>> SLOT_CHUNK_SHIFT]!;
  }

  /** The byte offset of slot `s` in its {@link chunk}. */
  offset(s: number): number {
    return (s & (SLOT_CHUNK_SLOTS - 1)) * PAGE_SIZE;
  }

  /**
   * A slot that frame `pfn` (below `nrFrames`) alone names, for writing: its own when it is not
   * shared, else a new one holding the shared slot's bytes when `keep` (otherwise stale bytes the
   * caller must overwrite or zero).
   */
  own(pfn: number, nrFrames: number, keep: boolean): number {
    const s = this.slotOf(pfn);
    if (s !== 0 && this.refs[s] === 1) return s;
    const t = this.alloc();
    if (s !== 0) {
      if (keep)
        this.chunk(t).set(this.chunk(s).subarray(this.offset(s), this.offset(s) + PAGE_SIZE), this.offset(t));
      this.put(s);
    }
    if (pfn >= this.of.length) this.grow(nrFrames);
    this.of[pfn] = t;
    this.refs[t] = 1;
    return t;
  }

  /** Frame `dst` (below `nrFrames`) names slot `s` of another frame (one more reference). */
  share(dst: number, nrFrames: number, s: number): void {
    const old = this.slotOf(dst);
    if (old === s) return;
    if (old !== 0) this.put(old);
    if (dst >= this.of.length) this.grow(nrFrames);
    this.of[dst] = s;
    this.refs[s]!++;
  }

  /**
   * The slot of a page whose 4096 bytes are all `byte`, made on first use and kept (its own
   * reference) until {@link dispose}: a `memset` of many pages names it from every frame instead
   * of filling a slot per frame (a 1 GiB page would otherwise cost 1 GiB of host memory).
   */
  constant(byte: number): number {
    let s = this.constants.get(byte);
    if (s === undefined) {
      s = this.alloc();
      this.chunk(s).fill(byte, this.offset(s), this.offset(s) + PAGE_SIZE);
      this.refs[s] = 1;
      this.constants.set(byte, s);
    }
    return s;
  }

  /** Frame `pfn` drops its slot if the slot is shared (the frame no longer holds data). */
  dropShared(pfn: number): void {
    const s = this.slotOf(pfn);
    if (s === 0 || this.refs[s] === 1) return;
    this.of[pfn] = 0;
    this.put(s);
  }

  /** A pin on frame `pfn`'s slot (which it must have), for a snapshot: the slot's number. */
  pin(pfn: number): number {
    const s = this.of[pfn]!;
    this.refs[s]!++;
    this.pins[s]!++;
    return s;
  }

  /** Releases a pin taken by {@link pin}. */
  unpin(s: number): void {
    if (this.disposed) return;
    this.pins[s]!--;
    this.put(s);
  }

  /**
   * Releases the pins listed in `slots` (negative entries: `-s - 1`; others are ignored) when
   * `owner` is collected, unless {@link unregister} came first.
   */
  register(owner: object, slots: Int32Array): void {
    this.registry ??= new FinalizationRegistry((held) => this.unpinAll(held));
    this.registry.register(owner, slots, owner);
  }

  /** Releases the pins of `owner` now (its snapshot was read and no longer needs them). */
  unregister(owner: object, slots: Int32Array): void {
    this.registry?.unregister(owner);
    this.unpinAll(slots);
  }

  private unpinAll(slots: Int32Array): void {
    for (let i = 0; i < slots.length; i++) {
      const r = slots[i]!;
      if (r < 0) this.unpin(-r - 1);
    }
  }

  /**
   * Gives the chunks to the pool, except those holding a pinned slot (a snapshot still reading
   * them keeps them, and they go with it), and forgets every slot.
   */
  dispose(): void {
    const pool = this.pool;
    const kept: Uint8Array[] = [];
    for (let c = 0; c < this.chunks.length; c++) {
      const chunk = this.chunks[c]!;
      let pinned = false;
      for (let s = c << SLOT_CHUNK_SHIFT; s < (c + 1) << SLOT_CHUNK_SHIFT; s++)
        if (this.pins[s] !== 0) pinned = true;
      if (pinned) kept[c] = chunk;
      else pool?.give(POOL_KEY, chunk, chunk.length);
    }
    this.disposed = true;
    this.constants.clear();
    this.chunks = kept;
    this.of = new Int32Array(0);
    this.refs = new Int32Array(0);
    this.free = new Int32Array(0);
    this.nFree = 0;
  }

  /** One reference less to slot `s`; the slot is free at none. */
  private put(s: number): void {
    if (--this.refs[s]! !== 0) return;
    if (this.nFree === this.free.length) {
      const f = new Int32Array(this.free.length * 2);
      f.set(this.free);
      this.free = f;
    }
    this.free[this.nFree++] = s;
  }

  /** A free slot (its bytes stale), from the free stack or a new chunk. */
  private alloc(): number {
    if (this.nFree === 0) this.addChunk();
    return this.free[--this.nFree]!;
  }

  /** A new chunk's slots on the free stack, the lowest on top (slot 0 of chunk 0 never). */
  private addChunk(): void {
    const c = this.chunks.length;
    this.chunks.push(this.pool?.take<Uint8Array>(POOL_KEY) ?? new Uint8Array(SLOT_CHUNK_BYTES));
    const end = (c + 1) << SLOT_CHUNK_SHIFT;
    if (end > this.refs.length) {
      const n = Math.max(end, this.refs.length * 2);
      const refs = new Int32Array(n);
      refs.set(this.refs);
      this.refs = refs;
      const pins = new Int32Array(n);
      pins.set(this.pins);
      this.pins = pins;
    }
    if (this.free.length < SLOT_CHUNK_SLOTS) this.free = new Int32Array(SLOT_CHUNK_SLOTS);
    for (let s = end - 1; s >= Math.max(1, c << SLOT_CHUNK_SHIFT); s--) this.free[this.nFree++] = s;
  }

  /** Room in {@link of} for `nrFrames` frames. */
  private grow(nrFrames: number): void {
    const of = new Int32Array(Math.max(nrFrames, this.of.length));
    of.set(this.of);
    this.of = of;
  }
}

/**
 * Physical memory: the `struct page` array as structure-of-arrays indexed by pfn, page contents
 * stored only for pages that hold data, the zero page and the huge zero page, and a page
 * allocator for orders 0 and 9 that fails cleanly when memory is exhausted (mm/page_alloc.c,
 * reduced to what the simulation needs).
 *
 * Layout per frame: refcount (4 B), mapcount (4 B), entire mapcount (4 B), flags (4 B),
 * mapping id (4 B), index (8 B), private (4 B), order (1 B) and one bit of free bitmap: 33 B.
 * Contents live in 4 KiB slots of 64 KiB chunks, shared by reference between frames until one
 * of them writes (content-slots.ts), except for pages holding only a few 32-bit words, which keep
 * them apart (sparse-words.ts).
 * @module
 */
import { kernelBug, UsageError } from '../sim/errors.ts';
import type { BufferPool } from './buffer-pool.ts';
import { HPAGE_PMD_NR, HPAGE_PMD_ORDER, PAGE_SIZE, PUD_SIZE } from './constants.ts';
import { ContentSlots } from './content-slots.ts';
import { PG_allocated, PG_hasdata, PG_head, PG_locked, PG_reserved } from './page-flags.ts';
import { SPARSE_FULL, SPARSE_WORDS, SparseWords } from './sparse-words.ts';

/** Frames per allocation block (one PMD). */
const BLOCK_FRAMES = HPAGE_PMD_NR;
/** Words of the free bitmap per block. */
const BLOCK_WORDS = BLOCK_FRAMES / 32;
/** pfn of the shared zero page. */
export const ZERO_PFN = 1;
/** First pfn of the huge zero folio (order 9). */
export const HUGE_ZERO_PFN = BLOCK_FRAMES;

/** The smallest machine: four 2 MiB blocks (the zero page and the huge zero folio take two). */
export const MIN_MEMORY = 4 * BLOCK_FRAMES * PAGE_SIZE;
/**
 * The largest machine hmmsim simulates: 256 GiB. A simulation limit, not a kernel one: the frame
 * metadata arrays are indexed by pfn and must stay within what one typed array can hold.
 */
export const MAX_MEMORY = 256 * 1024 ** 3;

/** How many 2 MiB hugetlb pages fit in `bytes` of RAM (blocks 0 and 1 hold the zero pages). */
export function maxHugetlbPages(bytes: number): number {
  return Math.max(0, Math.floor(bytes / (BLOCK_FRAMES * PAGE_SIZE)) - 2);
}

/**
 * How many 1 GiB (gigantic) hugetlb pages boot can reserve in `bytes` of RAM: each takes a whole
 * 1 GiB-aligned GiB, and the first GiB never qualifies (it holds the zero pages).
 */
export function maxGiganticPages(bytes: number): number {
  return Math.max(0, Math.floor(bytes / PUD_SIZE) - 1);
}

/** Bytes of metadata per frame (the arrays below). */
export const FRAME_METADATA_BYTES = 4 * 7 + 1 + 1 / 8;

/**
 * `index − pgoff` for a page index stored modulo 2^32 and a VMA's full pgoff: the signed
 * 32-bit difference, exact for the distances that occur inside one VMA.
 */
export function indexDelta(storedIndex: number, pgoff: number): number {
  // `| 0` keeps the difference modulo 2^32 already (both are integers below 2^53, so the
  // subtraction is exact); a `%` on a double would be a call to fmod on this hot path.
  return (storedIndex - pgoff) | 0;
}

/** A zero-filled page, returned for reads of pages without stored data. */
const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

/** Empty arrays a disposed PhysMem points at (writes to them are ignored). */
const NO_I32 = new Int32Array(0);
const NO_U32 = new Uint32Array(0);
const NO_I16 = new Int16Array(0);
const NO_U8 = new Uint8Array(0);

/**
 * The per-frame metadata arrays of {@link PhysMem}: views of the first `n` frames of one buffer
 * laid out for `capacity` frames (each array starts at a multiple of `capacity`), so that frames
 * can be added up to `capacity` by making longer views of the same, already zeroed, bytes.
 */
interface FrameArrays {
  /** All of them, as bytes (one buffer of `capacity` × 29 bytes). */
  all: Uint8Array;
  /** Frames the buffer has room for. */
  capacity: number;
  /**
   * The views made first on this buffer (what the pool files and hands out), or null for those
   * first views themselves.
   */
  base: FrameArrays | null;
  /** On the first views: the longer views {@link PhysMem.addFrames} last made on the buffer (kept for reuse). */
  grown: FrameArrays | null;
  refcount: Int32Array;
  mapcount: Int32Array;
  entireMapcount: Int32Array;
  flags: Int32Array;
  mapping: Int32Array;
  index: Uint32Array;
  private: Int32Array;
  order: Uint8Array;
}

/**
 * Frames of room a new set of frame arrays gets beyond what it holds: one 2 MiB block, what a
 * small device chunk needs (the race explorer's machines add one per schedule), so that adding
 * it makes new views instead of a new buffer and a copy of every array. 15 KB of metadata.
 */
const FRAME_HEADROOM = BLOCK_FRAMES;

/** Views of the first `n` frames of the arrays laid out for `capacity` frames in `all`. */
function frameViews(all: Uint8Array, capacity: number, n: number, base: FrameArrays | null): FrameArrays {
  const buf = all.buffer;
  return {
    all,
    capacity,
    base,
    grown: null,
    refcount: new Int32Array(buf, 0, n),
    mapcount: new Int32Array(buf, 4 * capacity, n),
    entireMapcount: new Int32Array(buf, 8 * capacity, n),
    flags: new Int32Array(buf, 12 * capacity, n),
    mapping: new Int32Array(buf, 16 * capacity, n),
    index: new Uint32Array(buf, 20 * capacity, n),
    private: new Int32Array(buf, 24 * capacity, n),
    order: new Uint8Array(buf, 28 * capacity, n),
  };
}

/**
 * Zeroed per-frame metadata arrays of `n` frames with room for `n` + `reserve` +
 * {@link FRAME_HEADROOM}, as views of one buffer: one allocation instead of eight (each
 * typed-array allocation costs about 1.5 µs, which counts when the race explorer builds a machine
 * per schedule). Same bytes per frame.
 */
function frameArrays(n: number, pool: BufferPool | null, reserve = 0): FrameArrays {
  const capacity = n + reserve + FRAME_HEADROOM;
  const pooled = pool?.take<FrameArrays>(`frames ${capacity}`);
  if (pooled !== undefined) {
    pooled.all.fill(0);
    return pooled;
  }
  return frameViews(new Uint8Array(capacity * 29), capacity, n, null);
}

/** The allocator's arrays of {@link PhysMem}, for `nBlocks` blocks. */
interface AllocatorArrays {
  /** All of them, as bytes (one buffer). */
  all: Uint8Array;
  freeBits: Int32Array;
  freeBlocks: Int32Array;
  partialBlocks: Int32Array;
  partialPos: Int32Array;
  freeBlockPos: Int32Array;
  blockFree: Int16Array;
  firstFreeWord: Uint8Array;
}

/** Zeroed allocator arrays for `nBlocks` blocks (Int32 ones first, then Int16, then Uint8: one buffer). */
function allocatorArrays(nBlocks: number, pool: BufferPool | null): AllocatorArrays {
  const pooled = pool?.take<AllocatorArrays>(`allocator ${nBlocks}`);
  if (pooled !== undefined) {
    pooled.all.fill(0);
    return pooled;
  }
  const words = nBlocks * BLOCK_WORDS;
  const buf = new ArrayBuffer(4 * (words + 4 * nBlocks) + 2 * nBlocks + nBlocks);
  return {
    all: new Uint8Array(buf),
    freeBits: new Int32Array(buf, 0, words),
    freeBlocks: new Int32Array(buf, 4 * words, nBlocks),
    partialBlocks: new Int32Array(buf, 4 * (words + nBlocks), nBlocks),
    partialPos: new Int32Array(buf, 4 * (words + 2 * nBlocks), nBlocks),
    freeBlockPos: new Int32Array(buf, 4 * (words + 3 * nBlocks), nBlocks),
    blockFree: new Int16Array(buf, 4 * (words + 4 * nBlocks), nBlocks),
    firstFreeWord: new Uint8Array(buf, 4 * (words + 4 * nBlocks) + 2 * nBlocks, nBlocks),
  };
}

/** The machine's page frames and their metadata. */
export class PhysMem {
  /** Number of frames (RAM plus ZONE_DEVICE ranges added later). */
  nrFrames: number;
  /** Frames of system RAM (pfns below this are RAM). */
  readonly ramFrames: number;
  /** `_refcount` (for a large folio: on the head). */
  refcount: Int32Array;
  /** `_mapcount` + 1: PTE mappings of this page. */
  mapcount: Int32Array;
  /** `_entire_mapcount` + 1: PMD/PUD mappings of the folio (on the head). */
  entireMapcount: Int32Array;
  /** PG_* bits. */
  flags: Int32Array;
  /** Mapping id: anon_vma family or file id (0 = none). */
  mapping: Int32Array;
  /**
   * Page index in its mapping (file page offset, or anon linear page index for rmap), modulo
   * 2^32. An anonymous page's index is its virtual page number (up to 2^35); rmap only needs its
   * distance from a VMA's pgoff, which is below 2^31 pages, so the low 32 bits are enough
   * (see `indexDelta` in physmem.ts).
   */
  index: Uint32Array;
  /** Driver / subsystem private word (ZONE_DEVICE zone_device_data, swap slot …). */
  private: Int32Array;
  /** Folio order, stored on every page of the folio. */
  order: Uint8Array;
  /** Free frames (1 bit each) of RAM; device frames are managed by their drivers. */
  private freeBits: Int32Array;
  /** Free frames per block. */
  private blockFree: Int16Array;
  /** Per block: no word of its free bitmap before this one has a free bit (where a search starts). */
  private firstFreeWord: Uint8Array;
  /** Blocks that are entirely free (stack) and partially free (stack), with positions. */
  private freeBlocks: Int32Array;
  private nFreeBlocks = 0;
  private partialBlocks: Int32Array;
  private nPartialBlocks = 0;
  private partialPos: Int32Array;
  private freeBlockPos: Int32Array;
  /**
   * The 4 KiB content slots (64 KiB chunks: a 2 MiB chunk costs ~90 µs to allocate, a 64 KiB one
   * ~3 µs, and the race explorer builds a machine per schedule).
   */
  private readonly slots: ContentSlots;
  /** Pages holding only a few words keep them here instead of in a 4 KiB slot. */
  private readonly sparse = new SparseWords();
  /** Scratch for the bytes of an unaligned 32-bit access to sparse words. */
  private readonly u32Bytes = new Uint8Array(4);
  /** The frame arrays in use, and those {@link addFrames} replaced (given back by {@link dispose}). */
  private frames: FrameArrays;
  private retired: FrameArrays[] = [];
  /** The allocator's arrays. */
  private allocator: AllocatorArrays | null;
  /** Free RAM frames. */
  freeFrames = 0;
  /** Frames allocated by the allocator since boot (a statistic). */
  allocations = 0;

  /**
   * Creates `bytes` of RAM (rounded down to whole 2 MiB blocks, at least 4 blocks), its arrays
   * taken from `pool` when it has some, and given back to it by {@link dispose}. The frame
   * arrays have room from the start for `deviceFrames` frames of device memory (rounded up to
   * whole 2 MiB blocks, as {@link addFrames} adds them): adding that much copies nothing. A
   * browser pays for every fresh page of memory touched, and a copy touches them all.
   */
  constructor(
    bytes: number,
    private readonly pool: BufferPool | null = null,
    deviceFrames = 0,
  ) {
    if (!Number.isFinite(bytes) || bytes < MIN_MEMORY) {
      throw new UsageError('memory', `must be at least ${MIN_MEMORY} bytes (8 MiB), got ${bytes}`);
    }
    if (bytes > MAX_MEMORY) {
      throw new UsageError('memory', `must be at most ${MAX_MEMORY} bytes (256 GiB), got ${bytes}`);
    }
    const nBlocks = Math.floor(bytes / (BLOCK_FRAMES * PAGE_SIZE));
    const n = nBlocks * BLOCK_FRAMES;
    this.nrFrames = n;
    this.ramFrames = n;
    this.slots = new ContentSlots(pool);
    const f = frameArrays(n, pool, Math.ceil(deviceFrames / BLOCK_FRAMES) * BLOCK_FRAMES);
    this.frames = f;
    this.refcount = f.refcount;
    this.mapcount = f.mapcount;
    this.entireMapcount = f.entireMapcount;
    this.flags = f.flags;
    this.mapping = f.mapping;
    this.index = f.index;
    this.private = f.private;
    this.order = f.order;
    // The allocator's arrays share one buffer too.
    const a = allocatorArrays(nBlocks, pool);
    this.allocator = a;
    this.freeBits = a.freeBits;
    this.freeBlocks = a.freeBlocks;
    this.partialBlocks = a.partialBlocks;
    this.partialPos = a.partialPos.fill(-1);
    this.freeBlockPos = a.freeBlockPos.fill(-1);
    this.blockFree = a.blockFree;
    this.firstFreeWord = a.firstFreeWord;
    // Block 0 holds pfn 0 (never used) and the zero page; block 1 is the huge zero folio.
    this.freeBits.fill(-1, 2 * BLOCK_WORDS, nBlocks * BLOCK_WORDS);
    this.blockFree.fill(BLOCK_FRAMES, 2, nBlocks);
    for (let b = nBlocks - 1; b >= 2; b--) this.pushFreeBlock(b);
    this.freeFrames = (nBlocks - 2) * BLOCK_FRAMES;
    this.flags.fill(PG_reserved | PG_allocated, 0, 2 * BLOCK_FRAMES);
    this.refcount[ZERO_PFN] = 1;
    // The huge zero folio's head: reserved and allocated like every frame filled above.
    this.flags[HUGE_ZERO_PFN] = PG_reserved | PG_allocated | PG_head;
    this.refcount[HUGE_ZERO_PFN] = 1;
    this.order.fill(HPAGE_PMD_ORDER, HUGE_ZERO_PFN, HUGE_ZERO_PFN + BLOCK_FRAMES);
  }

  /** True for the zero page and every page of the huge zero folio. */
  isZeroPfn(pfn: number): boolean {
    return pfn === ZERO_PFN || (pfn >= HUGE_ZERO_PFN && pfn < HUGE_ZERO_PFN + BLOCK_FRAMES);
  }

  /** Head pfn of the folio containing `pfn`. */
  folioHead(pfn: number): number {
    const o = this.order[pfn]!;
    return o === 0 ? pfn : pfn - (pfn % (1 << o));
  }

  /** Number of pages of the folio containing `pfn`. */
  folioNrPages(pfn: number): number {
    return 1 << this.order[pfn]!;
  }

  /**
   * Allocates a folio of `order` (0 to 9) with refcount 1 and clean metadata, or returns 0 when
   * memory is exhausted (`alloc_pages` returning NULL). Orders 1–8 (multi-size THP) take a
   * naturally aligned run of free frames inside one 2 MiB block, as the buddy allocator would.
   */
  allocPages(order: number): number {
    if (order === 0) return this.allocOne();
    if (order === HPAGE_PMD_ORDER) return this.allocBlock();
    if (Number.isInteger(order) && order > 0 && order < HPAGE_PMD_ORDER) return this.allocRun(order);
    throw new UsageError('allocPages(order)', `order ${order} is not supported (0 to ${HPAGE_PMD_ORDER})`);
  }

  /**
   * A gigantic folio of `order` (above 9: 1 GiB is 18) for the hugetlb pool at boot
   * (`alloc_bootmem_huge_page`: memblock hands out naturally aligned runs, from the top of memory):
   * the highest aligned run of wholly free 2 MiB blocks, with refcount 1; 0 when none. The pool
   * keeps it for the machine's life (hmmsim never shrinks a pool), so {@link freePages} never sees one.
   */
  allocGigantic(order: number): number {
    const blocks = 1 << (order - HPAGE_PMD_ORDER);
    for (
      let first = Math.floor(this.ramFrames / BLOCK_FRAMES / blocks) * blocks - blocks;
      first >= 0;
      first -= blocks
    ) {
      let free = true;
      for (let b = first; b < first + blocks && free; b++) free = this.freeBlockPos[b]! >= 0;
      if (!free) continue;
      for (let b = first; b < first + blocks; b++) {
        this.removeFreeBlock(b);
        this.freeBits.fill(0, b * BLOCK_WORDS, (b + 1) * BLOCK_WORDS);
        this.blockFree[b] = 0;
      }
      const pfn = first * BLOCK_FRAMES;
      const n = blocks * BLOCK_FRAMES;
      this.order.fill(order, pfn, pfn + n);
      this.flags.fill(PG_allocated, pfn, pfn + n);
      this.flags[pfn] = PG_allocated | PG_head;
      this.refcount[pfn] = 1;
      this.freeFrames -= n;
      this.allocations += n;
      return pfn;
    }
    return 0;
  }

  /** Returns a folio (all its pages) to the allocator; `pfn` must be its head. */
  freePages(pfn: number): void {
    const order = this.order[pfn]!;
    const f = this.flags;
    if ((f[pfn]! & PG_reserved) !== 0) throw new UsageError('freePages', `pfn ${pfn} is reserved`);
    if ((f[pfn]! & PG_allocated) === 0)
      throw new UsageError('freePages', `pfn ${pfn} is already free (double free)`);
    if (pfn >= this.ramFrames)
      throw new UsageError('freePages', `pfn ${pfn} is device memory, freed by its driver`);
    const n = 1 << order;
    for (let i = 0; i < n; i++) {
      const p = pfn + i;
      this.refcount[p] = 0;
      this.mapcount[p] = 0;
      this.flags[p] = 0;
      this.mapping[p] = 0;
      this.index[p] = 0;
      // Rarely set for a small page: zeros are not written over zeros, so the host need not
      // back these arrays' memory until some page really uses them.
      if (this.entireMapcount[p] !== 0) this.entireMapcount[p] = 0;
      if (this.private[p] !== 0) this.private[p] = 0;
      if (this.order[p] !== 0) this.order[p] = 0;
      // A slot shared with another frame (the destination of a migration) is theirs now.
      this.slots.dropShared(p);
    }
    if (order !== 0 && order !== HPAGE_PMD_ORDER) {
      for (let i = 0; i < n; i++) this.freeOne(pfn + i);
      return;
    }
    if (order === HPAGE_PMD_ORDER) {
      const b = pfn / BLOCK_FRAMES;
      this.freeBits.fill(-1, b * BLOCK_WORDS, (b + 1) * BLOCK_WORDS);
      this.firstFreeWord[b] = 0;
      this.blockFree[b] = BLOCK_FRAMES;
      this.pushFreeBlock(b);
      this.freeFrames += BLOCK_FRAMES;
      return;
    }
    this.freeOne(pfn);
  }

  /** Splits a large folio into order-0 pages (split_folio); refcounts are set by the caller. */
  splitFolioMetadata(head: number): void {
    const n = 1 << this.order[head]!;
    const keep = this.flags[head]! & ~(PG_head | PG_hasdata | PG_locked);
    for (let i = 0; i < n; i++) {
      this.order[head + i] = 0;
      this.flags[head + i] = (this.flags[head + i]! & PG_hasdata) | keep;
      this.entireMapcount[head + i] = 0;
    }
  }

  // ---- contents ------------------------------------------------------------------------------

  /** True when the frame holds stored (possibly non-zero) contents. */
  hasData(pfn: number): boolean {
    return (this.flags[pfn]! & PG_hasdata) !== 0;
  }

  /**
   * The sparse slot (see sparse-words.ts) of a frame that holds data, or -1 when its data is in
   * the 4 KiB content store.
   */
  private sparseSlot(pfn: number): number {
    const s = this.sparse.slot(pfn);
    return s >= 0 && this.sparse.slab[s] !== SPARSE_FULL ? s : -1;
  }

  /**
   * The frame's bytes for writing: its own slot in the content store, zeroed the first time. Write
   * through it at once: a later copy of the frame may share the slot.
   */
  writableBytes(pfn: number): Uint8Array {
    const s = this.slotForWrite(pfn, false);
    const off = this.slots.offset(s);
    return this.slots.chunk(s).subarray(off, off + PAGE_SIZE);
  }

  /**
   * The frame's bytes for reading (a shared zero page when it holds no data, a new array when it
   * holds sparse words). Do not modify.
   */
  readableBytes(pfn: number): Uint8Array {
    if ((this.flags[pfn]! & PG_hasdata) === 0) return ZERO_PAGE;
    const s = this.sparseSlot(pfn);
    if (s >= 0) {
      const page = new Uint8Array(PAGE_SIZE);
      this.sparseInto(s, 0, page, 0, PAGE_SIZE);
      return page;
    }
    const slot = this.slots.slotOf(pfn);
    const off = this.slots.offset(slot);
    return this.slots.chunk(slot).subarray(off, off + PAGE_SIZE);
  }

  /**
   * Copies the contents of frame `src` to frame `dst` (copy_highpage): sparse words as sparse
   * words, a 4 KiB slot by sharing it (see content-slots.ts).
   */
  copyPage(dst: number, src: number): void {
    if ((this.flags[src]! & PG_hasdata) === 0) {
      this.clearPage(dst);
      return;
    }
    const s = this.sparseSlot(src);
    if (s >= 0) {
      const d = this.sparse.ensureSlot(dst, this.nrFrames);
      // The count and its pairs (the words after them mean nothing): a loop is cheaper than
      // copyWithin's call.
      const slab = this.sparse.slab;
      const n = 1 + 2 * slab[s]!;
      for (let i = 0; i < n; i++) slab[d + i] = slab[s + i]!;
      this.flags[dst]! |= PG_hasdata;
      this.slots.dropShared(dst);
      return;
    }
    if (dst === src) return;
    this.slots.share(dst, this.nrFrames, this.slots.slotOf(src));
    const d = this.sparse.slot(dst);
    if (d >= 0) this.sparse.slab[d] = SPARSE_FULL;
    this.flags[dst]! |= PG_hasdata;
  }

  /**
   * Sets `n` bytes of the frame from `pageOff` to `byte` (memset). A whole page of one non-zero
   * value names that value's shared slot (content-slots.ts) instead of filling a slot of its own;
   * a whole page of zeros holds no data.
   */
  fillBytes(pfn: number, pageOff: number, byte: number, n: number): void {
    if (n !== PAGE_SIZE) {
      this.writeBytes(pfn, pageOff, new Uint8Array(n).fill(byte), 0, n);
      return;
    }
    if ((byte & 0xff) === 0) {
      this.clearPage(pfn);
      return;
    }
    this.slots.share(pfn, this.nrFrames, this.slots.constant(byte & 0xff));
    const d = this.sparse.slot(pfn);
    if (d >= 0) this.sparse.slab[d] = SPARSE_FULL;
    this.flags[pfn]! |= PG_hasdata;
  }

  /** Copies `n` bytes from `src[srcOff..]` into the frame at `pageOff`. */
  writeBytes(pfn: number, pageOff: number, src: Uint8Array, srcOff: number, n: number): void {
    if (n <= 4 * SPARSE_WORDS && this.writeSparse(pfn, pageOff, src, srcOff, n)) return;
    const slot = this.slotForWrite(pfn, n === PAGE_SIZE);
    const off = this.slots.offset(slot) + pageOff;
    this.slots
      .chunk(slot)
      .set(n === src.length && srcOff === 0 ? src : src.subarray(srcOff, srcOff + n), off);
  }

  /** Stores a little-endian 32-bit value at `pageOff` (at most PAGE_SIZE - 4) of the frame. */
  writeU32(pfn: number, pageOff: number, value: number): void {
    if ((pageOff & 3) === 0) {
      // The common case, a word on a page that holds no data or a few words: no 4 KiB slot.
      const flags = this.flags[pfn]!;
      const w = pageOff >>> 2;
      if ((flags & PG_hasdata) === 0) {
        const s = this.sparse.ensureSlot(pfn, this.nrFrames);
        const slab = this.sparse.slab;
        slab[s] = 1;
        slab[s + 1] = w;
        slab[s + 2] = value;
        this.flags[pfn] = flags | PG_hasdata;
        return;
      }
      const s = this.sparseSlot(pfn);
      if (s >= 0) {
        const slab = this.sparse.slab;
        const count = slab[s]!;
        for (let i = 0; i < count; i++) {
          if (slab[s + 1 + 2 * i] === w) {
            slab[s + 2 + 2 * i] = value;
            return;
          }
        }
        if (count < SPARSE_WORDS) {
          slab[s + 1 + 2 * count] = w;
          slab[s + 2 + 2 * count] = value;
          slab[s] = count + 1;
          return;
        }
      }
    } else {
      const b = this.u32Bytes;
      b[0] = value;
      b[1] = value >>> 8;
      b[2] = value >>> 16;
      b[3] = value >>> 24;
      if (this.writeSparse(pfn, pageOff, b, 0, 4)) return;
    }
    const slot = this.slotForWrite(pfn, false);
    const chunk = this.slots.chunk(slot);
    const off = this.slots.offset(slot) + pageOff;
    chunk[off] = value;
    chunk[off + 1] = value >>> 8;
    chunk[off + 2] = value >>> 16;
    chunk[off + 3] = value >>> 24;
  }

  /** Loads a little-endian unsigned 32-bit value at `pageOff` (at most PAGE_SIZE - 4) of the frame. */
  readU32(pfn: number, pageOff: number): number {
    if ((this.flags[pfn]! & PG_hasdata) === 0) return 0;
    const s = this.sparseSlot(pfn);
    if (s >= 0) {
      const slab = this.sparse.slab;
      const count = slab[s]!;
      if ((pageOff & 3) === 0) {
        const w = pageOff >>> 2;
        for (let i = 0; i < count; i++) if (slab[s + 1 + 2 * i] === w) return slab[s + 2 + 2 * i]! >>> 0;
        return 0;
      }
      const b = this.u32Bytes;
      b.fill(0);
      this.sparseInto(s, pageOff, b, 0, 4);
      return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
    }
    const slot = this.slots.slotOf(pfn);
    const c = this.slots.chunk(slot);
    const off = this.slots.offset(slot) + pageOff;
    return (c[off]! | (c[off + 1]! << 8) | (c[off + 2]! << 16) | (c[off + 3]! << 24)) >>> 0;
  }

  /**
   * Writes `n` bytes (a few words' worth) as sparse words when the frame holds no data or sparse
   * words and the result still fits in its slot; returns false, having changed nothing, when it
   * does not (the caller then writes the 4 KiB slot).
   */
  private writeSparse(pfn: number, pageOff: number, src: Uint8Array, srcOff: number, n: number): boolean {
    if (n === 0) return true;
    const w0 = pageOff >>> 2;
    const w1 = (pageOff + n - 1) >>> 2;
    const fresh = (this.flags[pfn]! & PG_hasdata) === 0;
    let s: number;
    if (fresh) {
      if (w1 - w0 + 1 > SPARSE_WORDS) return false;
      s = this.sparse.ensureSlot(pfn, this.nrFrames);
      this.sparse.slab[s] = 0;
      this.flags[pfn]! |= PG_hasdata;
    } else {
      s = this.sparseSlot(pfn);
      if (s < 0) return false;
      const slab = this.sparse.slab;
      const count = slab[s]!;
      let need = count;
      for (let w = w0; w <= w1; w++) {
        let found = false;
        for (let i = 0; i < count; i++) if (slab[s + 1 + 2 * i] === w) found = true;
        if (!found) need++;
      }
      if (need > SPARSE_WORDS) return false;
    }
    const slab = this.sparse.slab;
    for (let w = w0; w <= w1; w++) {
      let count = slab[s]!;
      let i = 0;
      while (i < count && slab[s + 1 + 2 * i] !== w) i++;
      if (i === count) {
        slab[s + 1 + 2 * i] = w;
        slab[s + 2 + 2 * i] = 0;
        slab[s] = ++count;
      }
      let v = slab[s + 2 + 2 * i]!;
      for (let byte = 0; byte < 4; byte++) {
        const at = w * 4 + byte;
        if (at < pageOff || at >= pageOff + n) continue;
        const sh = byte * 8;
        v = (v & ~(0xff << sh)) | (src[srcOff + at - pageOff]! << sh);
      }
      slab[s + 2 + 2 * i] = v;
    }
    return true;
  }

  /** Copies the bytes of sparse slot `s` in `[pageOff, pageOff + n)` into `dst[dstOff..]` (over zeros). */
  private sparseInto(s: number, pageOff: number, dst: Uint8Array, dstOff: number, n: number): void {
    const slab = this.sparse.slab;
    const count = slab[s]!;
    for (let i = 0; i < count; i++) {
      const at = slab[s + 1 + 2 * i]! * 4;
      const v = slab[s + 2 + 2 * i]!;
      for (let byte = 0; byte < 4; byte++) {
        const p = at + byte;
        if (p >= pageOff && p < pageOff + n) dst[dstOff + p - pageOff] = v >>> (byte * 8);
      }
    }
  }

  /**
   * The frame's 4 KiB slot, its own (see content-slots.ts) and ready for a write: the slot zeroed
   * when the frame holds no data yet (stale bytes of an earlier use of the slot must read as
   * zeros) unless the caller overwrites the whole page (`whole`), and given the frame's sparse
   * words when it held some; a shared slot's bytes copied first unless `whole`.
   */
  private slotForWrite(pfn: number, whole: boolean): number {
    const flags = this.flags[pfn]!;
    const sparse = (flags & PG_hasdata) === 0 ? this.sparse.slot(pfn) : this.sparseSlot(pfn);
    const full = (flags & PG_hasdata) !== 0 && sparse < 0;
    const slot = this.slots.own(pfn, this.nrFrames, full && !whole);
    if (!full) {
      if (!whole) {
        const chunk = this.slots.chunk(slot);
        const off = this.slots.offset(slot);
        chunk.fill(0, off, off + PAGE_SIZE);
        if ((flags & PG_hasdata) !== 0) this.sparseInto(sparse, 0, chunk, off, PAGE_SIZE);
      }
      if (sparse >= 0) this.sparse.slab[sparse] = SPARSE_FULL;
      this.flags[pfn] = flags | PG_hasdata;
    }
    return slot;
  }

  /** Copies `n` bytes of the frame from `pageOff` into `dst[dstOff..]`. */
  readBytes(pfn: number, pageOff: number, dst: Uint8Array, dstOff: number, n: number): void {
    if ((this.flags[pfn]! & PG_hasdata) === 0) {
      dst.fill(0, dstOff, dstOff + n);
      return;
    }
    const s = this.sparseSlot(pfn);
    if (s >= 0) {
      dst.fill(0, dstOff, dstOff + n);
      this.sparseInto(s, pageOff, dst, dstOff, n);
      return;
    }
    const slot = this.slots.slotOf(pfn);
    const off = this.slots.offset(slot) + pageOff;
    dst.set(this.slots.chunk(slot).subarray(off, off + n), dstOff);
  }

  /** Makes the frame read as zeros (clear_page) without writing its content slot. */
  clearPage(pfn: number): void {
    this.flags[pfn]! &= ~PG_hasdata;
    this.slots.dropShared(pfn);
  }

  /**
   * Saves frame `pfn`'s contents for a snapshot without copying 4 KiB: 0 when it holds no data;
   * when it holds sparse words, their count (1 to `SPARSE_WORDS`), with their (word index, value)
   * pairs copied into `pairs[0 .. 2 × count)`; else `-slot - 1` for its 4 KiB slot, pinned until
   * {@link unpinSlots} (or the snapshot's collection) releases it. A frame writing a pinned slot
   * gets a copy first.
   */
  saveForSnapshot(pfn: number, pairs: Int32Array): number {
    if ((this.flags[pfn]! & PG_hasdata) === 0) return 0;
    const s = this.sparseSlot(pfn);
    if (s < 0) return -this.slots.pin(pfn) - 1;
    const slab = this.sparse.slab;
    const count = slab[s]!;
    for (let i = 0; i < 2 * count; i++) pairs[i] = slab[s + 1 + i]!;
    return count;
  }

  /** Copies pinned slot `slot` (see {@link saveForSnapshot}) into `dst[dstOff..]`. */
  readPinnedSlot(slot: number, dst: Uint8Array, dstOff: number): void {
    const off = this.slots.offset(slot);
    dst.set(this.slots.chunk(slot).subarray(off, off + PAGE_SIZE), dstOff);
  }

  /**
   * Releases, when `owner` is collected, the pins of the slots listed in `refs` as `-slot - 1`
   * (other entries are ignored), unless {@link unpinSlots} released them first.
   */
  registerPins(owner: object, refs: Int32Array): void {
    this.slots.register(owner, refs);
  }

  /** Releases the pins `owner` registered with {@link registerPins}. */
  unpinSlots(owner: object, refs: Int32Array): void {
    this.slots.unregister(owner, refs);
  }

  // ---- device memory -------------------------------------------------------------------------

  /**
   * Adds `nrPages` frames above everything present (a ZONE_DEVICE range for `memremap_pages`) and
   * returns the first pfn. The range starts on a 2 MiB boundary.
   */
  addFrames(nrPages: number): number {
    const first = Math.ceil(this.nrFrames / BLOCK_FRAMES) * BLOCK_FRAMES;
    const n = first + Math.ceil(nrPages / BLOCK_FRAMES) * BLOCK_FRAMES;
    const old = this.frames;
    let f: FrameArrays;
    if (n <= old.capacity) {
      // Longer views of the same bytes: the frames above the old count were never written (zero).
      // The views made for the same count on this buffer before (another machine's) serve again.
      const base = old.base ?? old;
      const grown = base.grown;
      f = grown !== null && grown.order.length === n ? grown : frameViews(old.all, old.capacity, n, base);
      base.grown = f;
    } else {
      f = frameArrays(n, this.pool);
      this.retired.push(old);
      f.refcount.set(this.refcount);
      f.mapcount.set(this.mapcount);
      f.entireMapcount.set(this.entireMapcount);
      f.flags.set(this.flags);
      f.mapping.set(this.mapping);
      f.index.set(this.index);
      f.private.set(this.private);
      f.order.set(this.order);
    }
    this.frames = f;
    this.refcount = f.refcount;
    this.mapcount = f.mapcount;
    this.entireMapcount = f.entireMapcount;
    this.flags = f.flags;
    this.mapping = f.mapping;
    this.index = f.index;
    this.private = f.private;
    this.order = f.order;
    this.nrFrames = n;
    return first;
  }

  /**
   * Gives every array of this memory back to the buffer pool (`Kernel.dispose`, once nothing can
   * touch the machine any more) and leaves empty arrays in their place.
   */
  dispose(): void {
    const a = this.allocator;
    if (a === null) return;
    this.allocator = null;
    const pool = this.pool;
    if (pool !== null) {
      pool.give(`allocator ${a.freeBlocks.length}`, a, a.all.length);
      // The first views of each buffer are what the pool keeps (a taker wants them).
      for (const f of this.retired) pool.give(`frames ${f.capacity}`, f.base ?? f, f.all.length);
      pool.give(`frames ${this.frames.capacity}`, this.frames.base ?? this.frames, this.frames.all.length);
    }
    this.slots.dispose();
    this.retired = [];
    this.sparse.clear();
    this.refcount = NO_I32;
    this.mapcount = NO_I32;
    this.entireMapcount = NO_I32;
    this.flags = NO_I32;
    this.mapping = NO_I32;
    this.index = NO_U32;
    this.private = NO_I32;
    this.order = NO_U8;
    this.freeBits = NO_I32;
    this.blockFree = NO_I16;
    this.firstFreeWord = NO_U8;
    this.freeBlocks = NO_I32;
    this.partialBlocks = NO_I32;
    this.partialPos = NO_I32;
    this.freeBlockPos = NO_I32;
    this.nFreeBlocks = 0;
    this.nPartialBlocks = 0;
    this.nrFrames = 0;
    this.freeFrames = 0;
  }

  // ---- allocator internals ----------------------------------------------------------------

  private allocOne(): number {
    let b: number;
    if (this.nPartialBlocks > 0) b = this.partialBlocks[this.nPartialBlocks - 1]!;
    else if (this.nFreeBlocks > 0) {
      b = this.popFreeBlock();
      this.pushPartial(b);
    } else return 0;
    const base = b * BLOCK_WORDS;
    for (let w = this.firstFreeWord[b]!; w < BLOCK_WORDS; w++) {
      const bits = this.freeBits[base + w]!;
      if (bits === 0) continue;
      const bit = 31 - Math.clz32(bits & -bits);
      this.freeBits[base + w] = bits & ~(1 << bit);
      this.firstFreeWord[b] = w;
      const pfn = b * BLOCK_FRAMES + w * 32 + bit;
      if (--this.blockFree[b]! === 0) this.removePartial(b);
      this.freeFrames--;
      this.allocations++;
      this.refcount[pfn] = 1;
      this.flags[pfn] = PG_allocated;
      return pfn;
    }
    kernelBug(`allocator corrupt: block ${b} listed partial but has no free frame`);
  }

  private allocBlock(): number {
    if (this.nFreeBlocks === 0) return 0;
    const b = this.popFreeBlock();
    this.freeBits.fill(0, b * BLOCK_WORDS, (b + 1) * BLOCK_WORDS);
    this.blockFree[b] = 0;
    this.freeFrames -= BLOCK_FRAMES;
    this.allocations += BLOCK_FRAMES;
    const pfn = b * BLOCK_FRAMES;
    for (let i = 0; i < BLOCK_FRAMES; i++) {
      this.order[pfn + i] = HPAGE_PMD_ORDER;
      this.flags[pfn + i] = PG_allocated;
    }
    this.flags[pfn] = PG_allocated | PG_head;
    this.refcount[pfn] = 1;
    return pfn;
  }

  /**
   * An order-`order` folio (1–8) from an aligned free run: first in a partly used block (the
   * buddy allocator splits the smallest free block it has), else in a free block; 0 when none.
   */
  private allocRun(order: number): number {
    const n = 1 << order;
    for (let i = this.nPartialBlocks - 1; i >= 0; i--) {
      const b = this.partialBlocks[i]!;
      if (this.blockFree[b]! < n) continue;
      for (let off = 0; off < BLOCK_FRAMES; off += n)
        if (this.runFree(b * BLOCK_FRAMES + off, n)) return this.takeRun(b, b * BLOCK_FRAMES + off, order);
    }
    if (this.nFreeBlocks === 0) return 0;
    const b = this.popFreeBlock();
    this.pushPartial(b);
    return this.takeRun(b, b * BLOCK_FRAMES, order);
  }

  /** True when the `n` frames from `pfn` (aligned, inside one block) are all free. */
  private runFree(pfn: number, n: number): boolean {
    if (n >= 32) {
      for (let w = pfn >>> 5; w < (pfn + n) >>> 5; w++) if (this.freeBits[w] !== -1) return false;
      return true;
    }
    const mask = (n === 32 ? -1 : ((1 << n) - 1) << (pfn & 31)) | 0;
    return (this.freeBits[pfn >>> 5]! & mask) === mask;
  }

  /** Marks the run of 2^order frames from `pfn` in block `b` allocated and sets up the folio. */
  private takeRun(b: number, pfn: number, order: number): number {
    const n = 1 << order;
    for (let i = 0; i < n; i++) {
      const p = pfn + i;
      this.freeBits[p >>> 5]! &= ~(1 << (p & 31));
      this.order[p] = order;
      this.flags[p] = PG_allocated;
    }
    this.flags[pfn] = PG_allocated | PG_head;
    this.refcount[pfn] = 1;
    this.blockFree[b]! -= n;
    if (this.blockFree[b] === 0) this.removePartial(b);
    this.freeFrames -= n;
    this.allocations += n;
    return pfn;
  }

  private freeOne(pfn: number): void {
    const b = Math.floor(pfn / BLOCK_FRAMES);
    const w = pfn >>> 5;
    this.freeBits[w]! |= 1 << (pfn & 31);
    const inBlock = w % BLOCK_WORDS;
    if (inBlock < this.firstFreeWord[b]!) this.firstFreeWord[b] = inBlock;
    this.freeFrames++;
    const nf = ++this.blockFree[b]!;
    if (nf === 1) this.pushPartial(b);
    if (nf === BLOCK_FRAMES) {
      this.removePartial(b);
      this.pushFreeBlock(b);
    }
  }

  private pushFreeBlock(b: number): void {
    this.freeBlockPos[b] = this.nFreeBlocks;
    this.freeBlocks[this.nFreeBlocks++] = b;
  }

  /** Takes block `b` off the free-block stack wherever it is (the last block moves into its place). */
  private removeFreeBlock(b: number): void {
    const pos = this.freeBlockPos[b]!;
    const last = this.freeBlocks[--this.nFreeBlocks]!;
    this.freeBlocks[pos] = last;
    this.freeBlockPos[last] = pos;
    this.freeBlockPos[b] = -1;
  }

  private popFreeBlock(): number {
    const b = this.freeBlocks[--this.nFreeBlocks]!;
    this.freeBlockPos[b] = -1;
    return b;
  }

  private pushPartial(b: number): void {
    if (this.partialPos[b] !== -1) return;
    this.partialPos[b] = this.nPartialBlocks;
    this.partialBlocks[this.nPartialBlocks++] = b;
  }

  private removePartial(b: number): void {
    const pos = this.partialPos[b]!;
    if (pos < 0) return;
    const last = this.partialBlocks[--this.nPartialBlocks]!;
    this.partialBlocks[pos] = last;
    this.partialPos[last] = pos;
    this.partialPos[b] = -1;
  }
}

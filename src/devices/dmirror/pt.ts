/**
 * The device page table of one open dmirror file (`dmirror->pt`, an xarray in lib/test_hmm.c):
 * virtual page number → the pfn that holds the data, with a 2-bit tag saying how the device may
 * access it.
 *
 * Layout: leaves of 512 entries (one page table's worth of pages), a leaf found through a `Map`
 * keyed by `vpn / 512` (below 2^27, a small integer), the last leaf used remembered, so a
 * migration or fault that fills or clears a run of pages costs an array store per page instead of
 * a hash-table operation on a page number above 2^31 (a boxed number). Each entry also keeps the
 * order in which it was first set, and iteration follows that order: reports that name the first
 * entry found (the explorer's oracles) see the entries in the order the table always gave them.
 * @module
 */

/** Tag of a read-only mapping (an untagged xarray pointer). */
export const DPT_XA_TAG_READ = 0;
/** Tag of an exclusive (atomic) mapping made by EXCLUSIVE (`DPT_XA_TAG_ATOMIC`). */
export const DPT_XA_TAG_ATOMIC = 1;
/** Tag of a mapping the device may write (`DPT_XA_TAG_WRITE`). */
export const DPT_XA_TAG_WRITE = 3;

/** `xa_tag_pointer`: the entry storing `pfn` with `tag` (pfns stay below 2^40, so this is exact). */
export function xaTagPointer(pfn: number, tag: number): number {
  return pfn * 4 + tag;
}

/** `xa_untag_pointer`: the pfn of an entry. */
export function xaUntagPointer(entry: number): number {
  // Entries are non-negative integers: the floor of the quotient is the pfn (`%` on a double
  // would be a call to fmod on the migration's read-back).
  return Math.floor(entry / 4);
}

/** `xa_pointer_tag`: the tag of an entry. */
export function xaPointerTag(entry: number): number {
  return entry % 4;
}

/** Entries per leaf, as a shift. */
const LEAF_SHIFT = 9;
/** Entries per leaf: pages `key * DPT_LEAF_ENTRIES` to `key * DPT_LEAF_ENTRIES + 511` share one. */
export const DPT_LEAF_ENTRIES = 1 << LEAF_SHIFT;
const LEAF_ENTRIES = DPT_LEAF_ENTRIES;

/** The device page table: virtual page number → tagged entry (see {@link xaTagPointer}). */
export class DmirrorPt {
  /** Leaf key (`vpn / 512`) → leaf number. */
  private readonly dir = new Map<number, number>();
  // Room for one leaf from the start (8 KiB): most tables, like the race explorer's one-page
  // READs, never need a second, and the explorer's restored machine then allocates nothing here.
  /** Per leaf, 512 entries: the tagged entry plus one, 0 for none. */
  private words = new Float64Array(LEAF_ENTRIES);
  /** Per leaf, 512 entries: when the entry was first set (insertion order). */
  private seqs = new Float64Array(LEAF_ENTRIES);
  /** Per leaf: its key, and how many entries it holds. */
  private leafKeys = new Float64Array(1);
  private counts = new Int32Array(1);
  /** Leaves without entries, to be reused. */
  private freeLeaves: number[] = [];
  private nLeaves = 0;
  private nextSeq = 1;
  /** The last leaf looked up (key and number; -1: none). */
  private lastKey = -1;
  private lastLeaf = -1;
  /** Entries in the table. */
  size = 0;

  /** The entry of `vpn`, undefined when it has none. */
  get(vpn: number): number | undefined {
    const key = Math.floor(vpn / LEAF_ENTRIES);
    return this.getAt(key, vpn - key * LEAF_ENTRIES);
  }

  /**
   * The entry of page `key * 512 + index` (`index` below 512), undefined when it has none: {@link get}
   * for a caller walking a run of pages by leaf key and index, two small integers, where a page
   * number (a double above 2^31) is boxed whenever it is passed to a call that is not inlined.
   */
  getAt(key: number, index: number): number | undefined {
    const l = this.leaf(key);
    if (l < 0) return undefined;
    const e = this.words[(l << LEAF_SHIFT) + index]!;
    return e === 0 ? undefined : e - 1;
  }

  /** True when `vpn` has an entry. */
  has(vpn: number): boolean {
    return this.get(vpn) !== undefined;
  }

  /** `xa_store`: sets the entry of `vpn` (a new entry goes last in iteration order). */
  set(vpn: number, entry: number): this {
    const key = Math.floor(vpn / LEAF_ENTRIES);
    let l = this.leaf(key);
    if (l < 0) l = this.newLeaf(key);
    // `vpn - key * 512` is `vpn % 512` without fmod (exact: 512 is a power of two).
    const i = (l << LEAF_SHIFT) + (vpn - key * LEAF_ENTRIES);
    if (this.words[i] === 0) {
      this.seqs[i] = this.nextSeq++;
      this.counts[l]!++;
      this.size++;
    }
    this.words[i] = entry + 1;
    return this;
  }

  /** `xa_erase`: drops the entry of `vpn`; true when there was one. */
  delete(vpn: number): boolean {
    const key = Math.floor(vpn / LEAF_ENTRIES);
    const l = this.leaf(key);
    if (l < 0) return false;
    // `vpn - key * 512` is `vpn % 512` without fmod (as in `set`).
    const i = (l << LEAF_SHIFT) + (vpn - key * LEAF_ENTRIES);
    if (this.words[i] === 0) return false;
    this.words[i] = 0;
    this.size--;
    if (--this.counts[l]! === 0) this.dropLeaf(l);
    return true;
  }

  /** Drops every entry. */
  clear(): void {
    this.dir.clear();
    this.words.fill(0);
    this.counts.fill(0);
    this.freeLeaves = [];
    this.nLeaves = 0;
    this.lastKey = -1;
    this.lastLeaf = -1;
    this.size = 0;
  }

  /** Page numbers, in insertion order. */
  keys(): IterableIterator<number> {
    return this.ordered()
      .map(([vpn]) => vpn)
      [Symbol.iterator]();
  }

  /** Entries, in insertion order. */
  values(): IterableIterator<number> {
    return this.ordered()
      .map(([, entry]) => entry)
      [Symbol.iterator]();
  }

  /** (page number, entry) pairs, in insertion order. */
  entries(): IterableIterator<[number, number]> {
    return this.ordered()[Symbol.iterator]();
  }

  /** (page number, entry) pairs, in insertion order. */
  [Symbol.iterator](): IterableIterator<[number, number]> {
    return this.ordered()[Symbol.iterator]();
  }

  /**
   * `xa_for_each_range(pt, …, first, last)` + `xa_erase`: drops every entry whose page number
   * lies in `[first, last]` (inclusive). Visits whichever is fewer, the leaves the range spans or
   * the leaves in use, so the whole-address-space invalidations of exit and RELEASE cost only the
   * leaves in use.
   */
  eraseRange(first: number, last: number): void {
    if (this.size === 0 || last < first) return;
    const k0 = Math.floor(first / LEAF_ENTRIES);
    const k1 = Math.floor(last / LEAF_ENTRIES);
    if (k1 - k0 + 1 <= this.dir.size) {
      for (let key = k0; key <= k1; key++) {
        const l = this.leaf(key);
        if (l >= 0) this.eraseInLeaf(key, l, first, last);
      }
      return;
    }
    // Deleting the current key while iterating a Map is allowed.
    for (const [key, l] of this.dir) if (key >= k0 && key <= k1) this.eraseInLeaf(key, l, first, last);
  }

  /** The part of {@link eraseRange} in leaf `l` (of `key`). */
  private eraseInLeaf(key: number, l: number, first: number, last: number): void {
    const lo = key * LEAF_ENTRIES;
    const base = l << LEAF_SHIFT;
    const to = Math.min(last, lo + LEAF_ENTRIES - 1) - lo;
    // Through `delete`, entry by entry: a watcher wrapping the table's methods sees every erase.
    for (let i = Math.max(first, lo) - lo; i <= to && this.counts[l]! > 0; i++)
      if (this.words[base + i] !== 0) this.delete(lo + i);
  }

  /**
   * Calls `visit(entry, vpn)` for every entry in insertion order (as `Map.forEach` would),
   * without allocating when the leaves already hold the entries in that order (the usual case:
   * pages mapped in address order). `visit` must not change the table.
   */
  forEach(visit: (entry: number, vpn: number) => void): void {
    let last = 0;
    for (const l of this.dir.values()) {
      const base = l << LEAF_SHIFT;
      for (let i = base; i < base + LEAF_ENTRIES; i++) {
        if (this.words[i] === 0) continue;
        const q = this.seqs[i]!;
        if (q < last) {
          for (const [vpn, entry] of this.ordered()) visit(entry, vpn);
          return;
        }
        last = q;
      }
    }
    for (const [key, l] of this.dir) {
      const base = l << LEAF_SHIFT;
      for (let i = 0; i < LEAF_ENTRIES; i++) {
        const e = this.words[base + i]!;
        if (e !== 0) visit(e - 1, key * LEAF_ENTRIES + i);
      }
    }
  }

  /** Every (page number, entry) pair, sorted by insertion order. */
  private ordered(): [number, number][] {
    const out: [number, number][] = [];
    const seq: number[] = [];
    for (const [key, l] of this.dir) {
      const base = l << LEAF_SHIFT;
      for (let i = 0; i < LEAF_ENTRIES; i++) {
        const e = this.words[base + i]!;
        if (e === 0) continue;
        out.push([key * LEAF_ENTRIES + i, e - 1]);
        seq.push(this.seqs[base + i]!);
      }
    }
    let sorted = true;
    for (let i = 1; i < seq.length && sorted; i++) if (seq[i]! < seq[i - 1]!) sorted = false;
    if (sorted) return out;
    const order = out.map((_, i) => i).sort((a, b) => seq[a]! - seq[b]!);
    return order.map((i) => out[i]!);
  }

  /** The leaf number of `key`, -1 when it has none. */
  private leaf(key: number): number {
    if (key === this.lastKey) return this.lastLeaf;
    const l = this.dir.get(key);
    if (l === undefined) return -1;
    this.lastKey = key;
    this.lastLeaf = l;
    return l;
  }

  /** A leaf for `key`, reused or new (the arrays doubled when full). */
  private newLeaf(key: number): number {
    let l = this.freeLeaves.pop();
    if (l === undefined) {
      l = this.nLeaves++;
      if (l === this.counts.length) {
        const n = Math.max(1, 2 * l);
        const words = new Float64Array(n << LEAF_SHIFT);
        words.set(this.words);
        this.words = words;
        const seqs = new Float64Array(n << LEAF_SHIFT);
        seqs.set(this.seqs);
        this.seqs = seqs;
        const keys = new Float64Array(n);
        keys.set(this.leafKeys);
        this.leafKeys = keys;
        const counts = new Int32Array(n);
        counts.set(this.counts);
        this.counts = counts;
      }
    }
    this.leafKeys[l] = key;
    this.dir.set(key, l);
    this.lastKey = key;
    this.lastLeaf = l;
    return l;
  }

  /** Leaf `l` holds no entry any more: its key goes, the leaf is kept for reuse. */
  private dropLeaf(l: number): void {
    this.dir.delete(this.leafKeys[l]!);
    this.freeLeaves.push(l);
    if (this.lastLeaf === l) {
      this.lastKey = -1;
      this.lastLeaf = -1;
    }
  }
}

/**
 * `xa_for_each_range(pt, …, first, last)` + `xa_erase`: drops every entry whose page number lies
 * in `[first, last]` (inclusive); see {@link DmirrorPt.eraseRange}.
 */
export function dmirrorPtEraseRange(pt: DmirrorPt, first: number, last: number): void {
  pt.eraseRange(first, last);
}

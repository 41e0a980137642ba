/**
 * The granularities of the workload model. NVIDIA's UVM driver groups faults and prefetches per
 * 2 MiB VA block (`UVM_VA_BLOCK_SIZE`), grows faults to 64 KiB big pages (`UVM_BIG_PAGE_SIZE`)
 * and allocates and evicts 2 MiB root chunks (`UVM_CHUNK_SIZE_MAX`); faults are 4 KiB aligned.
 * @module
 */

/** Bytes in a base page (the GPU fault granularity, re-aligned to `PAGE_SIZE` by the driver). */
export const WL_PAGE_SIZE = 4096;
/** log2 of {@link WL_PAGE_SIZE}. */
export const WL_PAGE_SHIFT = 12;
/** Pages in a 2 MiB VA block (`UVM_VA_BLOCK_SIZE / PAGE_SIZE`). */
export const BLOCK_PAGES = 512;
/** log2 of {@link BLOCK_PAGES}. */
export const BLOCK_SHIFT = 9;
/** Bytes in a 2 MiB VA block. */
export const BLOCK_SIZE = BLOCK_PAGES * WL_PAGE_SIZE;
/** 32-bit words of one block's page bitmap. */
export const BLOCK_WORDS = BLOCK_PAGES / 32;
/** Pages in a 64 KiB big page (`UVM_BIG_PAGE_SIZE`). */
export const BIG_PAGE_PAGES = 16;

/** Number of set bits in a 32-bit word. */
export function popcount32(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/** Set bits of `words[off .. off+BLOCK_WORDS)`. */
export function maskCount(words: Uint32Array, off = 0, n = BLOCK_WORDS): number {
  let c = 0;
  for (let i = 0; i < n; i++) c += popcount32(words[off + i]!);
  return c;
}

/** Set bits of the page range `[first, first+count)` of a block mask at `off`. */
export function maskCountRange(words: Uint32Array, off: number, first: number, count: number): number {
  let c = 0;
  for (let p = first; p < first + count; p++) if ((words[off + (p >>> 5)]! >>> (p & 31)) & 1) c++;
  return c;
}

/**
 * The first page ≥ `from` set in the block mask at `off` (`BLOCK_PAGES` when none): a word at a
 * time, the lowest set bit found with `clz32`, so sparse masks cost no per-page loop.
 */
export function maskNextSet(words: Uint32Array, off: number, from: number): number {
  let w = from >>> 5;
  if (w >= BLOCK_WORDS) return BLOCK_PAGES;
  let word = words[off + w]! & (~0 << (from & 31));
  while (word === 0) {
    if (++w === BLOCK_WORDS) return BLOCK_PAGES;
    word = words[off + w]!;
  }
  return w * 32 + 31 - Math.clz32(word & -word);
}

/** The first page ≥ `from` clear in the block mask at `off` (`BLOCK_PAGES` when none). */
export function maskNextClear(words: Uint32Array, off: number, from: number): number {
  let w = from >>> 5;
  if (w >= BLOCK_WORDS) return BLOCK_PAGES;
  let word = ~words[off + w]! & (~0 << (from & 31));
  while (word === 0) {
    if (++w === BLOCK_WORDS) return BLOCK_PAGES;
    word = ~words[off + w]!;
  }
  return w * 32 + 31 - Math.clz32(word & -word);
}

/** Sets page `p` in the block mask at `off`. */
export function maskSet(words: Uint32Array, off: number, p: number): void {
  words[off + (p >>> 5)]! |= 1 << (p & 31);
}

/** True when page `p` is set in the block mask at `off`. */
export function maskTest(words: Uint32Array, off: number, p: number): boolean {
  return ((words[off + (p >>> 5)]! >>> (p & 31)) & 1) === 1;
}

/** Parses a size with an optional binary unit (`4096`, `4KiB`, `12MiB`, `4GiB`, `2M`); NaN if malformed. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|K|KB|KiB|M|MB|MiB|G|GB|GiB|T|TB|TiB)?\s*$/i.exec(text);
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  const unit = (m[2] ?? 'B').toUpperCase()[0]!;
  const mult = { B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[unit] ?? Number.NaN;
  const v = n * mult;
  return Number.isSafeInteger(v) ? v : Number.NaN;
}

/** Formats a byte count with the largest binary unit that divides it (`2MiB`, `60KiB`, `4100B`). */
export function formatSize(bytes: number): string {
  for (const [u, m] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= m && bytes % m === 0) return `${bytes / m}${u}`;
  }
  return `${bytes}B`;
}

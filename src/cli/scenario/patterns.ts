/**
 * Data patterns of scenarios: the bytes a pattern stands for, how it reads in a timeline, and the
 * first place where some bytes differ from it.
 * @module
 */
import { PAGE_SIZE } from '../../mm/constants.ts';
import type { Pattern, PatternSpec } from './types.ts';

/** The `length` bytes `spec` stands for (segments one after the other; the rest is zero). */
export function patternBytes(spec: PatternSpec, length: number): Uint8Array {
  if (!Array.isArray(spec)) return onePattern(spec as Pattern, length);
  const out = new Uint8Array(length);
  let at = 0;
  for (const seg of spec as readonly Pattern[]) {
    const len = Math.min(seg.pages === undefined ? length - at : seg.pages * PAGE_SIZE, length - at);
    if (len <= 0) break;
    out.set(onePattern(seg, len), at);
    at += len;
  }
  return out;
}

/**
 * Writes into `dst[0..n)` the bytes `at..at+n` of what {@link patternBytes}`(spec, length)` stands
 * for, without making all `length` of them: a write of a large range then needs one small buffer
 * reused chunk by chunk, not megabytes of fresh memory.
 */
export function patternInto(spec: PatternSpec, length: number, at: number, dst: Uint8Array, n: number): void {
  if (!Array.isArray(spec)) {
    onePatternInto(spec as Pattern, length, at, dst, 0, n);
    return;
  }
  dst.fill(0, 0, n);
  let start = 0;
  for (const seg of spec as readonly Pattern[]) {
    const len = Math.min(seg.pages === undefined ? length - start : seg.pages * PAGE_SIZE, length - start);
    if (len <= 0) break;
    // The part of this segment within [at, at + n).
    const from = Math.max(at, start);
    const to = Math.min(at + n, start + len);
    if (from < to) onePatternInto(seg, len, from - start, dst, from - at, to - from);
    start += len;
  }
}

/** Bytes `at..at+n` of `onePattern(pattern, length)` into `dst[off..off+n)`. */
function onePatternInto(
  pattern: Pattern,
  length: number,
  at: number,
  dst: Uint8Array,
  off: number,
  n: number,
): void {
  if ('fill' in pattern) {
    dst.fill(pattern.fill, off, off + n);
  } else if ('bytes' in pattern) {
    // One period from the phase at `at`, then the written prefix doubled (whole periods each time).
    const period = Math.min(pattern.bytes.length, length);
    const first = Math.min(period, n);
    for (let i = 0; i < first; i++) dst[off + i] = pattern.bytes[(at + i) % period]!;
    for (let have = first; have < n; have *= 2)
      dst.copyWithin(off + have, off, off + Math.min(have, n - have));
  } else if ('int32' in pattern) {
    const step = pattern.step ?? 1;
    // Bytes past the last whole word stay zero, as in onePattern.
    const words = length >>> 2;
    if (LITTLE_ENDIAN_HOST && ((dst.byteOffset + off) & 3) === 0 && (at & 3) === 0 && (n & 3) === 0) {
      const w = new Uint32Array(dst.buffer, dst.byteOffset + off, n >>> 2);
      const k0 = at >>> 2;
      for (let k = 0; k < w.length; k++) w[k] = k0 + k < words ? pattern.int32 + (k0 + k) * step : 0;
      return;
    }
    for (let i = 0; i < n; i++) {
      const x = at + i;
      const k = x >>> 2;
      dst[off + i] = k < words ? ((pattern.int32 + k * step) >>> ((x & 3) * 8)) & 0xff : 0;
    }
  } else {
    const step = pattern.step ?? 1;
    dst.fill(0, off, off + n);
    // Each page's first word, where it lies within [at, at + n).
    for (let p = Math.floor(at / PAGE_SIZE); p * PAGE_SIZE < at + n && p * PAGE_SIZE + 4 <= length; p++) {
      const v = (pattern.pageInt32 + p * step) >>> 0;
      for (let b = 0; b < 4; b++) {
        const x = p * PAGE_SIZE + b;
        if (x >= at && x < at + n) dst[off + x - at] = (v >>> (b * 8)) & 0xff;
      }
    }
  }
}

/** Pages a list of segments covers (undefined when its last segment takes the rest). */
export function patternPages(spec: PatternSpec): number | undefined {
  if (!Array.isArray(spec)) return (spec as Pattern).pages;
  let n = 0;
  for (const seg of spec as readonly Pattern[]) {
    if (seg.pages === undefined) return undefined;
    n += seg.pages;
  }
  return n;
}

/**
 * Whether this host stores a 32-bit word least significant byte first, as patterns are defined;
 * then words are written through a `Uint32Array` (one store a word) instead of a `DataView`.
 */
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function onePattern(pattern: Pattern, length: number): Uint8Array {
  const out = new Uint8Array(length);
  if ('fill' in pattern) out.fill(pattern.fill);
  else if ('bytes' in pattern) {
    // Write one period, then double the written prefix: a few copies instead of a modulo a byte.
    const period = Math.min(pattern.bytes.length, length);
    for (let i = 0; i < period; i++) out[i] = pattern.bytes[i]!;
    for (let have = period; have < length; have *= 2) out.copyWithin(have, 0, Math.min(have, length - have));
  } else if ('int32' in pattern) {
    const step = pattern.step ?? 1;
    const words = length >>> 2;
    if (LITTLE_ENDIAN_HOST) {
      const w = new Uint32Array(out.buffer, 0, words);
      for (let k = 0; k < words; k++) w[k] = pattern.int32 + k * step;
    } else {
      const view = new DataView(out.buffer);
      for (let k = 0; k < words; k++) view.setUint32(k * 4, (pattern.int32 + k * step) >>> 0, true);
    }
  } else {
    const step = pattern.step ?? 1;
    const view = new DataView(out.buffer);
    for (let p = 0; p * PAGE_SIZE + 4 <= length; p++) {
      view.setUint32(p * PAGE_SIZE, (pattern.pageInt32 + p * step) >>> 0, true);
    }
  }
  return out;
}

/** A short description: `int32 from 0`, `fill 0x00`, segments joined with ` + `. */
export function describePattern(spec: PatternSpec): string {
  if (Array.isArray(spec)) {
    return (spec as readonly Pattern[])
      .map((p) => `${describeOne(p)}${p.pages === undefined ? '' : ` ×${p.pages} pages`}`)
      .join(' + ');
  }
  return describeOne(spec as Pattern);
}

function describeOne(pattern: Pattern): string {
  if ('fill' in pattern) return `fill 0x${pattern.fill.toString(16).padStart(2, '0')}`;
  if ('bytes' in pattern) return `bytes [${pattern.bytes.join(', ')}]`;
  const step = pattern.step ?? 1;
  const s = step === 1 ? '' : `, step ${step}`;
  return 'int32' in pattern ? `int32 from ${pattern.int32}${s}` : `page int32 from ${pattern.pageInt32}${s}`;
}

/**
 * Whether `actual` holds exactly what a single `fill` or `int32` pattern stands for, read word
 * by word against the pattern itself: without making the expected bytes (megabytes of fresh
 * memory for a large range, which a browser pays for page by page). Undefined when it cannot
 * tell cheaply (other patterns, segments, an unaligned view, a big-endian host).
 */
function matchesWithoutCopy(actual: Uint8Array, spec: PatternSpec): boolean | undefined {
  if (Array.isArray(spec) || !LITTLE_ENDIAN_HOST || (actual.byteOffset & 3) !== 0) return undefined;
  const p = spec as Pattern;
  const words = actual.length >>> 2;
  const w = new Uint32Array(actual.buffer, actual.byteOffset, words);
  let k = 0;
  if ('fill' in p) {
    const v = (p.fill & 0xff) * 0x01010101;
    while (k < words && w[k] === v) k++;
    if (k < words) return false;
    for (let i = words * 4; i < actual.length; i++) if (actual[i] !== (p.fill & 0xff)) return false;
    return true;
  }
  if (!('int32' in p)) return undefined;
  // As onePattern stores them: each word is (int32 + k·step) modulo 2^32; the bytes after the
  // last whole word stay zero.
  const step = p.step ?? 1;
  while (k < words && w[k] === (p.int32 + k * step) >>> 0) k++;
  if (k < words) return false;
  for (let i = words * 4; i < actual.length; i++) if (actual[i] !== 0) return false;
  return true;
}

/** Where `actual` first differs from `pattern`, in words, or undefined when it matches. */
export function firstMismatch(actual: Uint8Array, spec: PatternSpec): string | undefined {
  if (matchesWithoutCopy(actual, spec) === true) return undefined;
  const want = patternBytes(spec, actual.length);
  const words = (Array.isArray(spec) ? (spec as readonly Pattern[]) : [spec as Pattern]).some(
    (p) => 'int32' in p || 'pageInt32' in p,
  );
  for (let i = firstDifference(actual, want); i < actual.length; i++) {
    if (actual[i] !== want[i]) {
      const w = i & ~3;
      const page = Math.floor(i / PAGE_SIZE);
      if (words && w + 4 <= actual.length) {
        const a = new DataView(actual.buffer, actual.byteOffset).getUint32(w, true) | 0;
        const e = new DataView(want.buffer).getUint32(w, true) | 0;
        return `word ${w / 4} (page ${page}, byte ${w % PAGE_SIZE}) is ${a}, expected ${e}`;
      }
      return `byte ${i} (page ${page}, byte ${i % PAGE_SIZE}) is 0x${actual[i]!.toString(16)}, expected 0x${want[i]!.toString(16)}`;
    }
  }
  return undefined;
}

/**
 * A lower bound on the first index where `a` and `b` (of `a`'s length) differ: whole words are
 * compared four bytes at a time while `a` is word-aligned, the rest is left to the byte loop.
 */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if ((a.byteOffset & 3) !== 0 || (b.byteOffset & 3) !== 0) return 0;
  const n = a.length >>> 2;
  const wa = new Uint32Array(a.buffer, a.byteOffset, n);
  const wb = new Uint32Array(b.buffer, b.byteOffset, n);
  let k = 0;
  while (k < n && wa[k] === wb[k]) k++;
  return k * 4;
}

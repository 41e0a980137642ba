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

function onePattern(pattern: Pattern, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  if ('fill' in pattern) out.fill(pattern.fill);
  else if ('bytes' in pattern) {
    for (let i = 0; i < length; i++) out[i] = pattern.bytes[i % pattern.bytes.length]!;
  } else if ('int32' in pattern) {
    const step = pattern.step ?? 1;
    for (let k = 0; k * 4 + 4 <= length; k++) view.setUint32(k * 4, (pattern.int32 + k * step) >>> 0, true);
  } else {
    const step = pattern.step ?? 1;
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

/** Where `actual` first differs from `pattern`, in words, or undefined when it matches. */
export function firstMismatch(actual: Uint8Array, spec: PatternSpec): string | undefined {
  const want = patternBytes(spec, actual.length);
  const words = (Array.isArray(spec) ? (spec as readonly Pattern[]) : [spec as Pattern]).some(
    (p) => 'int32' in p || 'pageInt32' in p,
  );
  for (let i = 0; i < actual.length; i++) {
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

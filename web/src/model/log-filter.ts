/**
 * The event log's filter: which rows of a recording match a set of row types, a text, and
 * (optionally) the selected page — rows that changed the page's CPU or device entry, or that
 * name an address range covering it (a fault on it, an invalidation over it). DOM-free.
 * @module
 */
import { PAGE_SIZE } from '../../../src/mm/constants.ts';
import type { Recording } from './recorder.ts';

/** Row types the log filters on, in the order its checkboxes show them. */
export const ROW_TYPES = [
  'fault',
  'invalidate_start',
  'invalidate_end',
  'syscall',
  'span',
  'instant',
  'counter',
  'step',
] as const;

/** What the log shows. */
export interface LogFilter {
  /** Row types shown (all when it holds every type). */
  readonly types: ReadonlySet<string>;
  /** Case-insensitive text the row's line must contain ('' = any). */
  readonly text: string;
  /** Flat page index the rows must touch (-1 = any). */
  readonly page: number;
}

/** The filter that shows everything. */
export const NO_FILTER: LogFilter = { types: new Set(ROW_TYPES), text: '', page: -1 };

/** Whether row `r` changed flat page `i` (its CPU or its device entry). */
function changedPage(rec: Recording, r: number, i: number): boolean {
  for (let d = rec.deltaStart[r]!; d < rec.deltaStart[r + 1]!; d++) {
    const x = rec.dIndex[d]!;
    if (x === i || x === -i - 1) return true;
  }
  return false;
}

/** Indices of the rows `filter` keeps, in order. */
export function filterRows(rec: Recording, filter: LogFilter): Int32Array {
  const text = filter.text.toLowerCase();
  let va = -1;
  let pid = -1;
  if (filter.page >= 0) {
    const reg = rec.regions.find((g) => filter.page >= g.at && filter.page < g.at + g.pages);
    if (reg) {
      va = reg.addr + (filter.page - reg.at) * PAGE_SIZE;
      pid = reg.mm;
    }
  }
  // The row names the page's address space: `mm N`, N not followed by another digit.
  const mmName = new RegExp(`mm ${pid}(?!\\d)`);
  const out: number[] = [];
  for (let r = 0; r < rec.rows.length; r++) {
    const row = rec.rows[r]!;
    if (!filter.types.has(row.type)) continue;
    if (text !== '' && !row.text.toLowerCase().includes(text)) continue;
    if (filter.page >= 0) {
      const names =
        va >= 0 &&
        row.addr !== undefined &&
        row.len !== undefined &&
        mmName.test(row.text) &&
        row.addr <= va &&
        va < row.addr + row.len * PAGE_SIZE;
      if (!names && !changedPage(rec, r, filter.page)) continue;
    }
    out.push(r);
  }
  return Int32Array.from(out);
}

/** Up to `n` of the matching rows around the cursor (`at` rows applied): those just before it first. */
export function windowAround(matches: Int32Array, at: number, n: number): Int32Array {
  // First match at or after the cursor's row (at - 1).
  let lo = 0;
  let hi = matches.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (matches[mid]! < at - 1) lo = mid + 1;
    else hi = mid;
  }
  const from = Math.max(0, Math.min(lo - Math.floor(n / 2), matches.length - n));
  return matches.subarray(from, Math.min(matches.length, from + n));
}

/**
 * Where each page of the regions is drawn: regions stack as bands, each a grid of `cols` pages
 * per row (512 = one PTE table, a 2 MiB row, so the picture follows the page-table structure) at
 * `ppx` pixels a page. Pure, shared by the maps, the hit test and the tests.
 * @module
 */
import type { Region } from './model/recorder.ts';

/** The band of one region. */
export interface Band {
  readonly region: Region;
  /** Top of the band's label, px. */
  readonly y: number;
  /** Top of the band's cells, px. */
  readonly top: number;
  readonly rows: number;
}

/** A layout of all regions. */
export interface Layout {
  readonly ppx: number;
  readonly cols: number;
  readonly bands: readonly Band[];
  readonly width: number;
  readonly height: number;
}

/** Label height above each band, px. */
export const LABEL = 16;

/** Lays the regions out at `ppx` pixels a page with `cols` columns. */
export function layout(regions: readonly Region[], ppx: number, cols: number): Layout {
  const bands: Band[] = [];
  let y = 0;
  for (const r of regions) {
    const rows = Math.ceil(r.pages / cols);
    bands.push({ region: r, y, top: y + LABEL, rows });
    y += LABEL + rows * ppx + 6;
  }
  return { ppx, cols, bands, width: cols * ppx, height: y };
}

/** The largest layout that fits `w`×`h`: columns a power of two up to 512, whole pixels a page (1…64). */
export function fitLayout(regions: readonly Region[], w: number, h: number): Layout {
  const best = layout(regions, 1, 512);
  for (let ppx = 64; ppx >= 1; ppx = ppx > 8 ? ppx - 4 : ppx - 1) {
    for (let cols = 512; cols >= 8; cols >>= 1) {
      if (cols * ppx > w) continue;
      const l = layout(regions, ppx, cols);
      if (l.height <= h) return l;
      break;
    }
  }
  return best;
}

/** Flat page index at pixel (x, y), or -1. */
export function hit(l: Layout, x: number, y: number): number {
  for (const b of l.bands) {
    if (y < b.top || y >= b.top + b.rows * l.ppx) continue;
    const col = Math.floor(x / l.ppx);
    const row = Math.floor((y - b.top) / l.ppx);
    if (col < 0 || col >= l.cols) return -1;
    const i = row * l.cols + col;
    return i < b.region.pages ? b.region.at + i : -1;
  }
  return -1;
}

/** Centre pixel of flat page `index`, or null. */
export function centre(l: Layout, index: number): { x: number; y: number } | null {
  for (const b of l.bands) {
    const i = index - b.region.at;
    if (i < 0 || i >= b.region.pages) continue;
    return { x: (i % l.cols) * l.ppx + l.ppx / 2, y: b.top + Math.floor(i / l.cols) * l.ppx + l.ppx / 2 };
  }
  return null;
}

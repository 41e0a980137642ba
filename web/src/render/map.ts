/**
 * Drawing an address-space map (CPU entries or the device mirror) on a canvas: each band's pages
 * are written as 1-pixel cells into an ImageData through a colour lookup table, drawn scaled with
 * smoothing off, then the overlays: open invalidations (hatched), device entries the CPU no longer
 * backs (red outline), pages changed by the last move (outlined), the selection.
 * @module
 */
import type { Layout } from '../geometry.ts';
import { LABEL } from '../geometry.ts';
import type { OpenRange, Region } from '../model/recorder.ts';

/** What one map draws. */
export interface MapPaint {
  readonly layout: Layout;
  readonly codes: Uint8Array;
  readonly lut: Uint32Array;
  readonly open: readonly OpenRange[];
  /** Flat indices to outline red (stale device entries). */
  readonly stale: readonly number[];
  /** Flat indices changed by the last seek. */
  readonly changed: Int32Array;
  readonly selected: number;
  readonly title: (r: Region) => string;
}

/** The font of the maps' labels. */
export const LABEL_FONT = '11px system-ui, sans-serif';

/** Opaque white as a little-endian RGBA pixel. */
const WHITE = 0xffffffff;

/** Scratch canvases per band width×height (reused between frames). */
const scratch = new Map<
  string,
  { c: OffscreenCanvas; x: OffscreenCanvasRenderingContext2D; img: ImageData }
>();

function scratchFor(w: number, h: number) {
  const k = `${w}x${h}`;
  let s = scratch.get(k);
  if (!s) {
    const c = new OffscreenCanvas(w, h);
    const x = c.getContext('2d')!;
    s = { c, x, img: x.createImageData(w, h) };
    scratch.set(k, s);
  }
  return s;
}

/** Paints a whole map. */
export function paintMap(ctx: CanvasRenderingContext2D, p: MapPaint): void {
  const { layout: l, codes, lut } = p;
  const W = ctx.canvas.width;
  const H = ctx.canvas.height;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, W, H);
  ctx.imageSmoothingEnabled = false;
  ctx.font = LABEL_FONT;
  ctx.textBaseline = 'middle';
  for (const b of l.bands) {
    const r = b.region;
    ctx.fillStyle = '#333';
    ctx.fillText(p.title(r), 2, b.y + LABEL / 2);
    const s = scratchFor(l.cols, b.rows);
    const px = new Uint32Array(s.img.data.buffer);
    const n = r.pages;
    for (let i = 0; i < n; i++) px[i] = lut[codes[r.at + i]!]!;
    if (l.ppx === 1) {
      // One pixel a page (the 1 GiB view): the cells go straight onto the canvas, no scaled
      // copy. putImageData replaces pixels, so the cells past the last page are the canvas's
      // white, as the drawn path leaves them.
      px.fill(WHITE, n);
      ctx.putImageData(s.img, 0, b.top);
    } else {
      px.fill(0, n);
      s.x.putImageData(s.img, 0, 0);
      ctx.drawImage(s.c, 0, b.top, l.cols * l.ppx, b.rows * l.ppx);
    }
    if (l.ppx >= 8) {
      ctx.strokeStyle = 'rgba(255,255,255,0.7)';
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (let c = 0; c <= l.cols; c++) {
        ctx.moveTo(c * l.ppx + 0.5, b.top);
        ctx.lineTo(c * l.ppx + 0.5, b.top + b.rows * l.ppx);
      }
      for (let y = 0; y <= b.rows; y++) {
        ctx.moveTo(0, b.top + y * l.ppx + 0.5);
        ctx.lineTo(l.cols * l.ppx, b.top + y * l.ppx + 0.5);
      }
      ctx.stroke();
    }
    // Open invalidations over this region's address space.
    for (const o of p.open) {
      if (o.mm !== r.mm) continue;
      const a = Math.max(o.start, r.addr);
      const e = Math.min(o.end, r.addr + r.pages * 4096);
      if (a >= e) continue;
      hatch(ctx, l, b.top, (a - r.addr) / 4096, (e - r.addr) / 4096);
    }
  }
  outline(ctx, p, p.stale, '#d7191c', 2);
  if (p.changed.length <= 1024 && l.ppx >= 4) outline(ctx, p, p.changed, 'rgba(230,159,0,0.95)', 1);
  if (p.selected >= 0) outline(ctx, p, [p.selected], '#000', 2);
}

/** Hatches pages [from, to) of a band (an invalidation in progress). */
function hatch(ctx: CanvasRenderingContext2D, l: Layout, top: number, from: number, to: number): void {
  ctx.save();
  ctx.fillStyle = 'rgba(213,94,0,0.35)';
  ctx.strokeStyle = 'rgba(213,94,0,0.9)';
  ctx.lineWidth = 1;
  for (let i = from; i < to; ) {
    const row = Math.floor(i / l.cols);
    const c0 = i % l.cols;
    const c1 = Math.min(l.cols, c0 + (to - i));
    const x = c0 * l.ppx;
    const y = top + row * l.ppx;
    const w = (c1 - c0) * l.ppx;
    ctx.fillRect(x, y, w, l.ppx);
    ctx.beginPath();
    for (let d = -l.ppx; d < w; d += 6) {
      ctx.moveTo(x + Math.max(0, d), y + Math.max(0, -d));
      ctx.lineTo(x + Math.min(w, d + l.ppx), y + Math.min(l.ppx, w - d));
    }
    ctx.stroke();
    i += c1 - c0;
  }
  ctx.restore();
}

function outline(
  ctx: CanvasRenderingContext2D,
  p: MapPaint,
  idx: ArrayLike<number>,
  colour: string,
  width: number,
): void {
  if (idx.length === 0) return;
  const l = p.layout;
  ctx.save();
  ctx.strokeStyle = colour;
  ctx.lineWidth = width;
  ctx.beginPath();
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k]!;
    for (const b of l.bands) {
      const j = i - b.region.at;
      if (j < 0 || j >= b.region.pages) continue;
      const x = (j % l.cols) * l.ppx;
      const y = b.top + Math.floor(j / l.cols) * l.ppx;
      const s = Math.max(l.ppx, 3);
      ctx.rect(x + width / 2, y + width / 2, s - width, s - width);
    }
  }
  ctx.stroke();
  ctx.restore();
}

/** Flat indices whose device code carries the stale bit. */
export function staleEntries(dev: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < dev.length; i++) if ((dev[i]! & 8) !== 0) out.push(i);
  return out;
}

/**
 * Drawing the physical frame map: one cell per frame, 512 frames a row (RAM first, then device
 * memory), coloured by state when the frame states at the cursor are known (an exact re-run) or
 * as RAM/device background otherwise; over it, the migrations of the step under the cursor as
 * arrows from the source frames to the destination frames (dashed while in progress).
 * @module
 */
import type { MoveRun } from '../model/migrations.ts';
import { MOVE_COLOURS } from '../palette.ts';

/** Frames per row. */
export const FRAME_COLS = 512;
/** Canvas pixels per frame cell (the canvas is shown at one CSS pixel a frame). */
export const FRAME_SCALE = 2;

/** What the frame map draws. */
export interface FramePaint {
  readonly nrFrames: number;
  readonly ramFrames: number;
  /** Frame states (see `Exact.frames`), or null: background only. */
  readonly states: Uint8Array | null;
  /** Pixel of each state. */
  readonly lut: Uint32Array;
  /** Background pixels of RAM and device frames when the states are unknown. */
  readonly background: readonly [number, number];
  readonly runs: readonly MoveRun[];
}

/** The cells of a frame map at one pixel a frame (what {@link paintFrames} scales up). */
export type FrameCells = OffscreenCanvas;

/**
 * Draws the cells alone, one pixel a frame: they change only with the frame states (a re-run),
 * not with the cursor, so the view keeps them and a step only blits them and draws the arrows.
 */
export function frameCells(p: Omit<FramePaint, 'runs'>): FrameCells {
  const rows = Math.max(1, Math.ceil(p.nrFrames / FRAME_COLS));
  const cells = new OffscreenCanvas(FRAME_COLS, rows);
  const x = cells.getContext('2d')!;
  const img = x.createImageData(FRAME_COLS, rows);
  const px = new Uint32Array(img.data.buffer);
  for (let i = 0; i < p.nrFrames; i++) {
    const st = p.states && i < p.states.length ? p.states[i] : undefined;
    px[i] = st === undefined ? p.background[i >= p.ramFrames ? 1 : 0] : p.lut[st]!;
  }
  x.putImageData(img, 0, 0);
  return cells;
}

/** Paints the frame map on a canvas sized to it (see {@link frameCanvasSize}): cells, then arrows. */
export function paintFrames(
  ctx: CanvasRenderingContext2D,
  cells: FrameCells,
  runs: readonly MoveRun[],
): void {
  // Cells at one pixel a frame, scaled up without smoothing.
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, ctx.canvas.width, ctx.canvas.height);
  ctx.drawImage(cells, 0, 0, cells.width * FRAME_SCALE, cells.height * FRAME_SCALE);
  for (const [k, r] of runs.entries()) drawRun(ctx, r, k);
}

/** Canvas size of a frame map. */
export function frameCanvasSize(nrFrames: number): { width: number; height: number } {
  return {
    width: FRAME_COLS * FRAME_SCALE,
    height: Math.max(1, Math.ceil(nrFrames / FRAME_COLS)) * FRAME_SCALE,
  };
}

/** Outlines a run's frames on both sides and draws its arrow (the `k`-th run bends its own way). */
function drawRun(ctx: CanvasRenderingContext2D, r: MoveRun, k: number): void {
  const colour = r.toDevice ? MOVE_COLOURS.toDevice : MOVE_COLOURS.toRam;
  ctx.save();
  ctx.strokeStyle = colour;
  ctx.fillStyle = colour;
  ctx.lineWidth = 2;
  const lastFrom = r.from + r.dFrom * (r.pages - 1);
  const lastTo = r.to + r.dTo * (r.pages - 1);
  outlineFrames(ctx, Math.min(r.from, lastFrom), Math.max(r.from, lastFrom));
  if (r.done) outlineFrames(ctx, Math.min(r.to, lastTo), Math.max(r.to, lastTo));
  const a = runCentre(Math.min(r.from, lastFrom), Math.max(r.from, lastFrom));
  const b = runCentre(Math.min(r.to, lastTo), Math.max(r.to, lastTo));
  // Bend towards the middle of the map, further for longer arrows, and a little more for each
  // run so that runs between the same blocks stay apart.
  const mid = (FRAME_COLS * FRAME_SCALE) / 2;
  const side = (a.x + b.x) / 2 <= mid ? 1 : -1;
  const bend = side * (Math.max(60, 0.35 * Math.abs(b.y - a.y)) + 16 * k);
  const cx = (a.x + b.x) / 2 + bend;
  const cy = (a.y + b.y) / 2;
  if (!r.done) ctx.setLineDash([8, 6]);
  // A white halo first, so the arrow reads over any cell colour.
  for (const [w, c] of [
    [6, 'rgba(255,255,255,0.85)'],
    [3, colour],
  ] as const) {
    ctx.lineWidth = w;
    ctx.strokeStyle = c;
    ctx.beginPath();
    ctx.moveTo(a.x, a.y);
    ctx.quadraticCurveTo(cx, cy, b.x, b.y);
    ctx.stroke();
  }
  ctx.setLineDash([]);
  // The head, along the curve's last tangent.
  const ang = Math.atan2(b.y - cy, b.x - cx);
  const h = 12;
  ctx.beginPath();
  ctx.moveTo(b.x, b.y);
  ctx.lineTo(b.x - h * Math.cos(ang - 0.4), b.y - h * Math.sin(ang - 0.4));
  ctx.lineTo(b.x - h * Math.cos(ang + 0.4), b.y - h * Math.sin(ang + 0.4));
  ctx.closePath();
  ctx.fill();
  ctx.restore();
}

/** Canvas pixel centre of the block frames `[lo, hi]` cover. */
function runCentre(lo: number, hi: number): { x: number; y: number } {
  const s = FRAME_SCALE;
  const r0 = Math.floor(lo / FRAME_COLS);
  const r1 = Math.floor(hi / FRAME_COLS);
  const c0 = r0 === r1 ? lo % FRAME_COLS : 0;
  const c1 = r0 === r1 ? hi % FRAME_COLS : FRAME_COLS - 1;
  return { x: ((c0 + c1 + 1) / 2) * s, y: ((r0 + r1 + 1) / 2) * s };
}

/** Outlines frames `[lo, hi]`, one rectangle per row they cover. */
function outlineFrames(ctx: CanvasRenderingContext2D, lo: number, hi: number): void {
  const s = FRAME_SCALE;
  for (let i = lo; i <= hi; ) {
    const row = Math.floor(i / FRAME_COLS);
    const c0 = i % FRAME_COLS;
    const c1 = Math.min(FRAME_COLS - 1, c0 + (hi - i));
    ctx.strokeRect(c0 * s - 1, row * s - 1, (c1 - c0 + 1) * s + 2, s + 2);
    i += c1 - c0 + 1;
  }
}

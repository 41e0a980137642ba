/**
 * Colours of the page states, defined once for the maps, the legend and the tests (an
 * Okabe–Ito-based, colour-blind-safe set; non-present kinds also get a hatch when cells are big).
 * @module
 */
import { Dc, Pc } from './model/pages.ts';

/** CSS colour of each CPU page code. */
export const PAGE_COLOURS: Record<number, string> = {
  [Pc.None]: '#f2f2f2',
  [Pc.PresentRo]: '#8ec9ef',
  [Pc.PresentRw]: '#0072b2',
  [Pc.Zero]: '#a9b8c6',
  [Pc.Huge]: '#1b3f8f',
  [Pc.Swap]: '#8c5a2b',
  [Pc.Migration]: '#e69f00',
  [Pc.DevicePrivateRo]: '#c9a3d9',
  [Pc.DevicePrivateRw]: '#7b3294',
  [Pc.DeviceExclusive]: '#f0e442',
  [Pc.Hwpoison]: '#000000',
  [Pc.Marker]: '#777777',
  [Pc.Coherent]: '#009e73',
  [Pc.NoVma]: '#ffffff',
};

/** CSS colour of each device entry code. */
export const DEVICE_COLOURS: Record<number, string> = {
  [Dc.None]: '#f2f2f2',
  [Dc.Read]: '#8ec9ef',
  [Dc.Atomic]: '#f0e442',
  [Dc.Write]: '#0072b2',
  [Dc.LocalRead]: '#c9a3d9',
  [Dc.LocalWrite]: '#7b3294',
};
for (let c = 1; c < 8; c++) if (DEVICE_COLOURS[c] !== undefined) DEVICE_COLOURS[c | 8] = DEVICE_COLOURS[c]!;

/** Colours of the frame map's states (free, mapped, in use unmapped, device free, device used). */
export const FRAME_COLOURS = ['#f2f2f2', '#0072b2', '#56b4e9', '#eadcf0', '#7b3294'];

/** `#rrggbb` → 0xAABBGGRR, the little-endian Uint32 view of an RGBA pixel. */
export function rgba32(css: string): number {
  const n = Number.parseInt(css.slice(1), 16);
  return ((0xff << 24) | ((n & 0xff) << 16) | (n & 0xff00) | ((n >> 16) & 0xff)) >>> 0;
}

/** Lookup table code → pixel for a colour record. */
export function lut(colours: Record<number, string>): Uint32Array {
  const t = new Uint32Array(16);
  for (const [k, v] of Object.entries(colours)) t[Number(k)] = rgba32(v);
  return t;
}

/** Colours of the frame map's migration arrows: RAM → device memory, and back. */
export const MOVE_COLOURS = { toDevice: '#d81b60', toRam: '#117733' } as const;

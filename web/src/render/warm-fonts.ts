/**
 * Font look-ups done while the page waits for the simulator's first answer. The first text drawn
 * in a font (and the first glyph a fallback font must supply, like ◀ or ⤓) makes the browser find
 * and load that font: tens of milliseconds, which otherwise fall in the layout of the frame that
 * shows the first maps. The page's thread is idle meanwhile, so the look-ups are made then: the
 * same fonts, weights and characters, in a hidden element and on a canvas in the maps' font.
 * Nothing is drawn on screen and nothing of the first answer is anticipated.
 * @module
 */
import { LABEL_FONT } from './map.ts';

/** Letters, digits and the symbols the views use. */
const SAMPLE = 'Ag09 x7ffff · … ▶ ◀ → — ⚑ − ⤓ µ ▲ ⏮ ⏭ ← Δ';

/** The font styles of style.css: the body's, its 600 weight, the monospace ones. */
const STYLES = [
  'font-size:13px',
  'font-size:12px;font-weight:600',
  'font-family:ui-monospace,monospace;font-size:12px',
  'font-family:ui-monospace,monospace;font-size:11px',
];

/** Looks the page's fonts up now; returns what removes the hidden element again. */
export function warmFonts(): () => void {
  const box = document.createElement('div');
  box.setAttribute('aria-hidden', 'true');
  box.style.cssText = 'position:absolute;left:-10000px;top:0;visibility:hidden;pointer-events:none';
  for (const style of STYLES) {
    const span = document.createElement('span');
    span.style.cssText = style;
    span.textContent = SAMPLE;
    box.append(span);
  }
  document.body.append(box);
  // Laid out now (the look-ups happen in layout), not in the first maps' frame.
  void box.offsetWidth;
  const ctx = new OffscreenCanvas(1, 1).getContext('2d');
  if (ctx) {
    ctx.font = LABEL_FONT;
    ctx.fillText(SAMPLE, 0, 0);
  }
  return () => box.remove();
}

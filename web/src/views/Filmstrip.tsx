/**
 * The filmstrip: one thumbnail of the CPU map per scenario step end (the set-up first), drawn
 * from the recording's keyframes at a pixel a page; the current step is framed, a click goes
 * there. It shows the whole run's shape at a glance (where pages went, step by step).
 * @module
 */
import { useLayoutEffect, useRef } from 'preact/hooks';
import type { PageSnapshot } from '../model/recorder.ts';
import { lut, PAGE_COLOURS } from '../palette.ts';
import { cursor, recording, seek, seekState } from '../store.ts';

const PAGE_LUT = lut(PAGE_COLOURS);
/** Thumbnail size, CSS pixels. */
const TW = 96;
const TH = 64;

/** Paints the CPU codes of `snap` at one pixel a page, rows of `cols`, scaled into the canvas. */
function paintThumb(c: HTMLCanvasElement, snap: PageSnapshot): void {
  const n = Math.max(1, snap.codes.length);
  const cols = Math.max(1, Math.ceil(Math.sqrt((n * TW) / TH)));
  const rows = Math.ceil(n / cols);
  const img = new ImageData(cols, rows);
  const px = new Uint32Array(img.data.buffer);
  for (let i = 0; i < snap.codes.length; i++) px[i] = PAGE_LUT[snap.codes[i]!]!;
  const src = document.createElement('canvas');
  src.width = cols;
  src.height = rows;
  src.getContext('2d')!.putImageData(img, 0, 0);
  const ctx = c.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, c.width, c.height);
  const scale = Math.min(c.width / cols, c.height / rows);
  ctx.drawImage(src, 0, 0, cols * scale, rows * scale);
}

/** The strip. */
export function Filmstrip() {
  const rec = recording.value;
  const s = seekState.value;
  const at = cursor.value;
  const host = useRef<HTMLDivElement>(null);
  // Thumbnails change only with the recording: painted once per recording, not per step.
  useLayoutEffect(() => {
    if (!rec || !s || !host.current) return;
    for (const c of host.current.querySelectorAll('canvas')) {
      const snap = s.stepFrame(Number(c.dataset.step));
      if (snap) paintThumb(c, snap);
    }
  }, [rec, s]);
  if (!rec || !s || rec.marks.length === 0) return null;
  const step = s.step();
  const atStepEnd = at === s.atStep(step);
  return (
    <section class="panel filmstrip" id="filmstrip">
      <h3>Filmstrip: the CPU map after each step</h3>
      <div class="frames" ref={host}>
        {rec.marks.map((m, k) => (
          <button
            type="button"
            class={`thumb${k === step ? (atStepEnd ? ' on' : ' near') : ''}`}
            data-step={k}
            title={m.text}
            aria-label={`go to ${m.text}`}
            onClick={() => seek(s.atStep(k))}
          >
            <canvas width={TW} height={TH} data-step={k} />
            <span>{k === 0 ? 'setup' : `step ${k}`}</span>
          </button>
        ))}
      </div>
    </section>
  );
}

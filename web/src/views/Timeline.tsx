/**
 * The timeline: a lane per simulated thread and device track (spans as bars, instants as ticks),
 * a step lane and an invalidation lane, on an event-index axis (most CPU work takes no virtual
 * time); under it the counters (uPlot) and the space-time view of the pages.
 * @module
 */
import { useEffect, useLayoutEffect, useMemo, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { COUNTS, type Recording } from '../model/recorder.ts';
import { SeekState } from '../model/seek.ts';
import { lut, PAGE_COLOURS } from '../palette.ts';
import { cursor, recording, seek } from '../store.ts';

interface Bar {
  lane: number;
  from: number;
  to: number;
  name: string;
}

function bars(rec: Recording): { lanes: string[]; bars: Bar[]; ticks: { lane: number; at: number }[] } {
  const lanes = ['steps', 'invalidations'];
  const laneOf = (n: string) => {
    let i = lanes.indexOf(n);
    if (i < 0) i = lanes.push(n) - 1;
    return i;
  };
  const out: Bar[] = [];
  const ticks: { lane: number; at: number }[] = [];
  const stacks = new Map<string, { name: string; from: number }[]>();
  let prevMark = 0;
  for (const m of rec.marks) {
    out.push({ lane: 0, from: prevMark, to: m.row + 1, name: m.op });
    prevMark = m.row + 1;
  }
  const inv = new Map<string, number>();
  rec.rows.forEach((r, i) => {
    if (r.type === 'span') {
      const track = r.track ?? r.thread;
      const lane = laneOf(track);
      const st = stacks.get(track) ?? [];
      stacks.set(track, st);
      if (r.phase === 'B') st.push({ name: r.name ?? '', from: i });
      else {
        let k = st.length - 1;
        while (k >= 0 && r.name && st[k]!.name !== r.name) k--;
        if (k >= 0) {
          const b = st.splice(k, 1)[0]!;
          out.push({ lane, from: b.from, to: i + 1, name: b.name });
        }
      }
    } else if (r.type === 'invalidate_start') inv.set(`${r.addr}:${r.len}`, i);
    else if (r.type === 'invalidate_end') {
      const k = `${r.addr}:${r.len}`;
      const f = inv.get(k);
      if (f !== undefined) out.push({ lane: 1, from: f, to: i + 1, name: 'inv' });
      inv.delete(k);
    } else if (r.type === 'fault' || r.type === 'instant' || r.type === 'syscall')
      ticks.push({ lane: laneOf(r.track ?? r.thread), at: i });
  });
  return { lanes, bars: out, ticks };
}

/** Width of the lanes' labels, px. */
const LANE_LABEL = 110;

const COLOURS = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00', '#f0e442'];

/** The lanes, counters and space-time view. */
export function Timeline() {
  const rec = recording.value;
  const at = cursor.value;
  const ref = useRef<HTMLCanvasElement>(null);
  const plotRef = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const model = useMemo(() => (rec ? bars(rec) : null), [rec]);
  const W = 1100;
  // The lanes are drawn once per recording; a move only blits them and draws the cursor.
  const lanes = useMemo(() => {
    if (!rec || !model) return null;
    const laneH = 16;
    const c = new OffscreenCanvas(W, model.lanes.length * laneH + 4);
    const ctx = c.getContext('2d')!;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, c.width, c.height);
    const n = Math.max(1, rec.rows.length);
    const x = (r: number) => LANE_LABEL + (r / n) * (W - LANE_LABEL - 4);
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    model.lanes.forEach((name, i) => {
      ctx.fillStyle = i % 2 ? '#fafafa' : '#f0f0f0';
      ctx.fillRect(0, i * laneH, W, laneH);
      ctx.fillStyle = '#333';
      ctx.fillText(name.slice(0, 16), 2, i * laneH + laneH / 2);
    });
    for (const b of model.bars) {
      ctx.fillStyle =
        b.lane === 1 ? 'rgba(213,94,0,0.7)' : COLOURS[(b.name.length + b.lane) % COLOURS.length]!;
      const x0 = x(b.from);
      const w = Math.max(1, x(b.to) - x0);
      ctx.fillRect(x0, b.lane * laneH + 2, w, laneH - 4);
      if (w > 40) {
        ctx.fillStyle = '#fff';
        ctx.fillText(b.name.slice(0, Math.floor(w / 6)), x0 + 2, b.lane * laneH + laneH / 2);
      }
    }
    ctx.fillStyle = 'rgba(0,0,0,0.35)';
    for (const t of model.ticks) ctx.fillRect(x(t.at), t.lane * laneH + 4, 1, laneH - 8);
    return { canvas: c, x };
  }, [rec, model]);
  useLayoutEffect(() => {
    const c = ref.current;
    if (!c || !lanes) return;
    if (c.width !== lanes.canvas.width || c.height !== lanes.canvas.height) {
      c.width = lanes.canvas.width;
      c.height = lanes.canvas.height;
    }
    const ctx = c.getContext('2d')!;
    ctx.drawImage(lanes.canvas, 0, 0);
    ctx.fillStyle = '#d7191c';
    ctx.fillRect(lanes.x(at) - 1, 0, 2, c.height);
  }, [lanes, at]);
  useEffect(() => {
    const el = plotRef.current;
    if (!el || !rec) return;
    const n = rec.rows.length;
    const step = Math.max(1, Math.ceil(n / 2000));
    const xs: number[] = [];
    const ys: number[][] = [[], [], [], [], []];
    for (let r = 0; r < n; r += step) {
      xs.push(r + 1);
      for (let k = 0; k < COUNTS; k++) ys[k]!.push(rec.counts[r * COUNTS + k]!);
    }
    plot.current?.destroy();
    plot.current = new uPlot(
      {
        width: W,
        height: 150,
        scales: { x: { time: false } },
        axes: [{ label: 'event #' }, { label: 'pages' }],
        series: [
          { label: 'event' },
          { label: 'present', stroke: '#0072b2' },
          { label: 'device-private', stroke: '#7b3294' },
          { label: 'swapped', stroke: '#8c5a2b' },
          { label: 'device-mirrored', stroke: '#009e73', dash: [4, 3] },
          { label: 'stale device entries', stroke: '#d7191c', width: 2 },
        ],
        hooks: {
          setCursor: [],
        },
      },
      [xs, ...ys] as uPlot.AlignedData,
      el,
    );
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, [rec]);
  if (!rec) return null;
  return (
    <section class="panel timeline" id="timeline">
      <h3>
        Timeline <small>(x = event index; click to seek)</small>
      </h3>
      <canvas
        ref={ref}
        data-view="timeline"
        onClick={(e) => {
          const b = (e.currentTarget as HTMLCanvasElement).getBoundingClientRect();
          const r = ((e.clientX - b.left - LANE_LABEL) / (W - LANE_LABEL - 4)) * rec.rows.length;
          if (r >= 0) seek(Math.round(r));
        }}
      />
      <div ref={plotRef} id="counters" />
    </section>
  );
}

const PAGE_LUT = lut(PAGE_COLOURS);

/** Space-time: pages on x, sampled moments on y (top = start), colour = CPU entry. */
export function SpaceTime() {
  const rec = recording.value;
  const at = cursor.value;
  const ref = useRef<HTMLCanvasElement>(null);
  const img = useMemo(() => {
    if (!rec || rec.pages === 0) return null;
    const cols = Math.min(rec.pages, 1024);
    const rows = 200;
    const data = new Uint32Array(cols * rows);
    const s = new SeekState(rec);
    const n = rec.rows.length;
    for (let y = 0; y < rows; y++) {
      s.seek(Math.round(((y + 1) / rows) * n));
      for (let x = 0; x < cols; x++)
        data[y * cols + x] = PAGE_LUT[s.codes[Math.floor((x * rec.pages) / cols)]!]!;
    }
    const image = new ImageData(cols, rows);
    new Uint32Array(image.data.buffer).set(data);
    return { cols, rows, image };
  }, [rec]);
  useLayoutEffect(() => {
    const c = ref.current;
    if (!c || !img || !rec) return;
    if (c.width !== img.cols || c.height !== img.rows) {
      c.width = img.cols;
      c.height = img.rows;
    }
    const ctx = c.getContext('2d')!;
    ctx.putImageData(img.image, 0, 0);
    ctx.fillStyle = '#d7191c';
    ctx.fillRect(0, Math.round((at / Math.max(1, rec.rows.length)) * img.rows), img.cols, 1);
  }, [img, at]);
  if (!rec) return null;
  return (
    <section class="panel" id="space-time">
      <h3>
        Space-time <small>(x = pages of all regions, y = time down; red = cursor)</small>
      </h3>
      <canvas
        ref={ref}
        data-view="space-time"
        style={{ width: '512px', height: '200px', imageRendering: 'pixelated' }}
        onClick={(e) => {
          const b = (e.currentTarget as HTMLCanvasElement).getBoundingClientRect();
          seek(Math.round(((e.clientY - b.top) / b.height) * rec.rows.length));
        }}
      />
    </section>
  );
}

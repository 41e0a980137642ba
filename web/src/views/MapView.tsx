/**
 * The CPU address-space map and the device mirror, side by side with one geometry and one zoom,
 * so a page sits at the same place on both.
 * @module
 */
import { useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { fitLayout, hit, type Layout, layout } from '../geometry.ts';
import { DEVICE_CODE_NAMES, PAGE_CODE_NAMES } from '../model/pages.ts';
import { bandLabel, processLabel } from '../model/process-label.ts';
import { DEVICE_COLOURS, lut, PAGE_COLOURS } from '../palette.ts';
import { paintMap, staleEntries } from '../render/map.ts';
import { cursor, recording, seekState, selected } from '../store.ts';

const CPU_LUT = lut(PAGE_COLOURS);
const DEV_LUT = lut(DEVICE_COLOURS);
const ZOOMS = [0, 1, 2, 4, 8, 16, 32, 64];

/** The two maps with their zoom control and legend. */
export function Maps() {
  const cpuRef = useRef<HTMLCanvasElement>(null);
  const devRef = useRef<HTMLCanvasElement>(null);
  const [zoom, setZoom] = useState(0);
  const rec = recording.value;
  const s = seekState.value;
  const at = cursor.value;
  const sel = selected.value;
  const W = 520;
  const H = 460;
  // The geometry changes with the recording and the zoom only (kept in a memo, not in state set
  // by the paint: that would render the maps a second time on every step).
  const lay = useMemo<Layout | null>(
    () =>
      !rec
        ? null
        : zoom === 0
          ? fitLayout(rec.regions, W, H)
          : layout(rec.regions, zoom, Math.max(8, Math.min(512, 2 ** Math.floor(Math.log2(W / zoom))))),
    [rec, zoom],
  );
  // Painted in a layout effect: the maps are current as soon as the render commits.
  useLayoutEffect(() => {
    if (!rec || !s || !lay) return;
    const l = lay;
    const open = at > 0 ? rec.open[at - 1]! : [];
    const stale = staleEntries(s.dev);
    const title = (dev: boolean) => (r: (typeof rec.regions)[number]) => bandLabel(r, dev);
    for (const [ref, codes, table, dev] of [
      [cpuRef, s.codes, CPU_LUT, false],
      [devRef, s.dev, DEV_LUT, true],
    ] as const) {
      const c = ref.current;
      if (!c) continue;
      // Resizing a canvas reallocates it: only when the layout changed.
      const w = Math.max(W, l.width);
      const h = Math.max(40, l.height);
      if (c.width !== w || c.height !== h) {
        c.width = w;
        c.height = h;
      }
      const ctx = c.getContext('2d')!;
      paintMap(ctx, {
        layout: l,
        codes,
        lut: table,
        open,
        stale,
        changed: s.changed,
        selected: sel,
        title: title(dev),
      });
      c.dataset.stale = String(stale.length);
      c.dataset.ppx = String(l.ppx);
      c.dataset.cols = String(l.cols);
      c.dataset.cursor = String(at);
    }
  }, [rec, s, at, sel, lay]);
  const click = (e: MouseEvent) => {
    if (!lay) return;
    const c = e.currentTarget as HTMLCanvasElement;
    const b = c.getBoundingClientRect();
    const i = hit(lay, e.clientX - b.left, e.clientY - b.top);
    if (i >= 0) selected.value = i;
  };
  // Keyboard: the map is a grid of pages (focus it with Tab); arrows move the selection a page or
  // a row, Home/End to the first/last page; the selection is announced (aria-live) below.
  const key = (e: KeyboardEvent) => {
    if (!rec || !lay) return;
    // With nothing selected, the first key selects the first page.
    const first = selected.value < 0;
    const cur = first ? 0 : selected.value;
    let to = cur;
    if (e.key === 'ArrowRight') to = cur + 1;
    else if (e.key === 'ArrowLeft') to = cur - 1;
    else if (e.key === 'ArrowDown') to = cur + lay.cols;
    else if (e.key === 'ArrowUp') to = cur - lay.cols;
    else if (e.key === 'Home') to = 0;
    else if (e.key === 'End') to = rec.pages - 1;
    else return;
    e.preventDefault();
    e.stopPropagation();
    selected.value = first ? 0 : Math.max(0, Math.min(rec.pages - 1, to));
  };
  if (!rec) return <div class="empty">no run loaded</div>;
  const selText = (() => {
    if (sel < 0 || !s) return 'no page selected';
    const r = rec.regions.find((g) => sel >= g.at && sel < g.at + g.pages);
    if (!r) return 'no page selected';
    const va = r.addr + (sel - r.at) * 4096;
    return `page ${sel - r.at} of ${r.name} (${processLabel(r)}) at 0x${va.toString(16)}: CPU ${PAGE_CODE_NAMES[s.codes[sel]!]}, device ${DEVICE_CODE_NAMES[s.dev[sel]! & 7]}`;
  })();
  return (
    <div class="maps">
      <div class="maprow">
        <figure>
          <figcaption>CPU page tables (row = one PTE table, 2 MiB)</figcaption>
          <div class="scroll">
            <canvas
              ref={cpuRef}
              data-view="cpu-map"
              data-grid="pages"
              tabIndex={0}
              aria-label="CPU page tables: arrow keys move the selected page"
              onClick={click}
              onKeyDown={key}
            />
          </div>
        </figure>
        <figure>
          <figcaption>Device mirror (dmirror page table)</figcaption>
          <div class="scroll">
            <canvas
              ref={devRef}
              data-view="device-map"
              data-grid="pages"
              tabIndex={0}
              aria-label="device mirror: arrow keys move the selected page"
              onClick={click}
              onKeyDown={key}
            />
          </div>
        </figure>
      </div>
      <ul id="map-bands" class="bands" aria-label="address ranges on the maps, top to bottom">
        {rec.regions.map((r) => (
          <li data-pid={r.pid}>{bandLabel(r, false)}</li>
        ))}
      </ul>
      <p id="selection" class="selection" aria-live="polite">
        {selText}
      </p>
      <div class="legend">
        <label>
          zoom{' '}
          <select
            value={String(zoom)}
            onChange={(e) => setZoom(Number((e.target as HTMLSelectElement).value))}
          >
            {ZOOMS.map((z) => (
              <option value={String(z)}>{z === 0 ? 'fit' : `${z} px/page`}</option>
            ))}
          </select>
        </label>
        {PAGE_CODE_NAMES.map((n, i) => (
          <span class="key">
            <i style={{ background: PAGE_COLOURS[i] }} />
            {n}
          </span>
        ))}
        <span class="key">
          <i class="hatch" />
          invalidation in progress
        </span>
        <span class="key">
          <i style={{ outline: '2px solid #d7191c' }} />
          device entry the CPU no longer backs
        </span>
        {DEVICE_CODE_NAMES.slice(1, 6).map((n, i) => (
          <span class="key">
            <i style={{ background: DEVICE_COLOURS[i + 1] }} />
            dev {n}
          </span>
        ))}
      </div>
    </div>
  );
}

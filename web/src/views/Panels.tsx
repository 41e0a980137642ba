/**
 * The side panels: the inspector of the selected page with its 4-level walk (read exactly by
 * re-running to the cursor), the notifiers, the physical frames and the event log.
 * @module
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { filterRows, NO_FILTER, ROW_TYPES, windowAround } from '../model/log-filter.ts';
import { findMoves, movesAt } from '../model/migrations.ts';
import { deviceCodeName, PAGE_CODE_NAMES } from '../model/pages.ts';
import { processLabel } from '../model/process-label.ts';
import { FRAME_COLOURS, lut, MOVE_COLOURS, rgba32 } from '../palette.ts';
import { FRAME_COLS, frameCanvasSize, frameCells, paintFrames } from '../render/frames.ts';
import { cursor, exact, fetchExact, recording, seek, seekState, selected } from '../store.ts';

const hex = (n: number) => `0x${n.toString(16)}`;

/** Inspector and page-table walk of the selected page. */
export function Inspector() {
  const rec = recording.value;
  const s = seekState.value;
  const at = cursor.value;
  const i = selected.value;
  const ex = exact.value;
  useEffect(() => {
    if (i < 0) return;
    const t = setTimeout(() => void fetchExact(), 120);
    return () => clearTimeout(t);
  }, [i, at]);
  const history = useMemo(() => {
    if (!rec || i < 0) return [];
    const out: number[] = [];
    for (let r = 0; r < rec.rows.length && out.length < 200; r++) {
      for (let d = rec.deltaStart[r]!; d < rec.deltaStart[r + 1]!; d++) {
        const k = rec.dIndex[d]!;
        if (k === i || k === -i - 1) {
          out.push(r);
          break;
        }
      }
    }
    return out;
  }, [rec, i]);
  if (!rec || !s) return null;
  if (i < 0)
    return (
      <section class="panel" id="inspector">
        <h3>Inspector</h3>
        <p class="hint">Click a page on a map.</p>
      </section>
    );
  const reg = rec.regions.find((r) => i >= r.at && i < r.at + r.pages)!;
  const addr = reg.addr + (i - reg.at) * 4096;
  const vpn = addr / 4096;
  const idx = [3, 2, 1, 0].map((l) => Math.floor(vpn / 512 ** l) % 512);
  return (
    <section class="panel" id="inspector" data-page={i}>
      <h3>Inspector</h3>
      <dl>
        <dt>page</dt>
        <dd>
          {processLabel(reg)} · {reg.name} [{i - reg.at}] · VA {hex(addr)}
        </dd>
        <dt>indices</dt>
        <dd>
          PGD[{idx[0]}] PUD[{idx[1]}] PMD[{idx[2]}] PTE[{idx[3]}]
        </dd>
        <dt>CPU entry</dt>
        <dd id="cpu-entry">
          {PAGE_CODE_NAMES[s.codes[i]!]}
          {s.codes[i] !== 0 && s.codes[i] !== 13
            ? ` · ${s.codes[i] === 5 ? 'slot' : 'pfn'} ${hex(s.pfns[i]!)}`
            : ''}
        </dd>
        <dt>device entry</dt>
        <dd id="dev-entry">
          {deviceCodeName(s.dev[i]!)}
          {s.dev[i] ? ` · pfn ${hex(s.dpfn[i]!)} · ${reg.file}` : ''}
        </dd>
      </dl>
      <h4>4-level walk {ex ? `(exact, re-run to event ${ex.row + 1})` : '(re-running…)'}</h4>
      <table class="walk" id="walk">
        <thead>
          <tr>
            <th>level</th>
            <th>table</th>
            <th>index</th>
            <th>kind</th>
            <th>lo</th>
            <th>hi</th>
          </tr>
        </thead>
        <tbody>
          {(ex?.walk ?? []).map((w) => (
            <tr>
              <td>{w.level}</td>
              <td>{w.table}</td>
              <td>{w.index}</td>
              <td>
                {w.kind}
                {w.leaf && w.level !== 'PTE' && w.kind !== 'none' ? ' (leaf)' : ''}
              </td>
              <td>{hex(w.lo)}</td>
              <td>{hex(w.hi)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {ex?.frame && (
        <p>
          frame {hex(ex.frame.pfn)}: refcount {ex.frame.refcount}, mapcount {ex.frame.mapcount}, flags{' '}
          {hex(ex.frame.flags)}
        </p>
      )}
      <h4>history of this page</h4>
      <ol class="history">
        {history.map((r) => (
          <li>
            <button type="button" class="link" onClick={() => seek(r + 1)}>
              #{r + 1}
            </button>{' '}
            {rec.rows[r]!.text}
          </li>
        ))}
      </ol>
    </section>
  );
}

/** Notifier subscriptions, sequence numbers and ranges in flight at the cursor. */
export function Notifiers() {
  const rec = recording.value;
  const at = cursor.value;
  if (!rec) return null;
  const n = at > 0 ? rec.notifiers[at - 1]! : [];
  const open = at > 0 ? rec.open[at - 1]! : [];
  return (
    <section class="panel" id="notifiers">
      <h3>Notifiers</h3>
      {n.length === 0 && <p class="hint">no mmu notifier subscriptions yet</p>}
      {n.map((m) => (
        <div>
          <p>
            mm {m.mm}: invalidate_seq <b class={m.seq % 2 ? 'odd' : ''}>{m.seq}</b>
            {m.seq % 2 ? ' (odd: invalidation in progress)' : ' (even: none in progress)'} · active ranges{' '}
            {m.active}
          </p>
          <ul>
            {m.subs.map((s) => (
              <li>
                {s.file}: interval [{hex(s.start)}, {hex(s.last)}] invalidate_seq <b>{s.seq}</b>
              </li>
            ))}
          </ul>
        </div>
      ))}
      <h4>in flight</h4>
      <ul id="in-flight">
        {open.length === 0 ? (
          <li class="hint">none</li>
        ) : (
          open.map((o) => (
            <li>
              {o.event} [{hex(o.start)}, {hex(o.end)}) mm {o.mm} by {o.thread}
            </li>
          ))
        )}
      </ul>
    </section>
  );
}

const FRAME_LUT = lut(Object.fromEntries(FRAME_COLOURS.map((c, i) => [i, c])));
const FRAME_BACKGROUND = [rgba32('#e4e4e4'), rgba32('#efe6f3')] as const;

/** `0x…` of a frame range `first…last` (in the order the pages go). */
const frameRange = (first: number, last: number) =>
  first === last ? hex(first) : `${hex(first)}…${hex(last)}`;

/**
 * Physical frames (RAM, then device memory) at the cursor, read exactly by re-running, with the
 * migrations of the cursor's step drawn from source to destination frames.
 */
export function Frames() {
  const rec = recording.value;
  const at = cursor.value;
  const sel = selected.value;
  const ex = exact.value;
  const ref = useRef<HTMLCanvasElement>(null);
  const log = useMemo(() => (rec ? findMoves(rec) : null), [rec]);
  const found = useMemo(() => (rec && log ? movesAt(rec, log, at) : []), [rec, log, at]);
  // Most steps change no run: keep the same array then, so the map is not repainted.
  const key = found.map((r) => `${r.firstPage}+${r.pages}${r.done ? 'd' : 'p'}`).join(' ');
  const runs = useMemo(() => found, [key]);
  // The inspector reads the selected page's walk (and the frames with it); with no page
  // selected, read the frames alone.
  useEffect(() => {
    if (sel >= 0 || at === 0) return;
    const t = setTimeout(() => void fetchExact(), 150);
    return () => clearTimeout(t);
  }, [at, sel, rec]);
  const nr = rec ? Math.max(rec.nrFrames, ex?.frames.length ?? 0) : 0;
  const states = ex && ex.row === at - 1 ? ex.frames : null;
  // The cells change with the frame states only; a step blits them and draws its arrows.
  const cells = useMemo(
    () =>
      rec && nr > 0
        ? frameCells({
            nrFrames: nr,
            ramFrames: rec.ramFrames,
            states,
            lut: FRAME_LUT,
            background: FRAME_BACKGROUND,
          })
        : null,
    [rec, nr, states],
  );
  useEffect(() => {
    const c = ref.current;
    if (!c || !cells) return;
    const size = frameCanvasSize(nr);
    if (c.width !== size.width || c.height !== size.height) {
      c.width = size.width;
      c.height = size.height;
    }
    paintFrames(c.getContext('2d')!, cells, runs);
    c.dataset.runs = String(runs.length);
  }, [cells, runs]);
  if (!rec) return null;
  const used = states ? states.reduce((a, f) => a + (f === 1 || f === 2 ? 1 : 0), 0) : 0;
  const dev = states ? states.reduce((a, f) => a + (f === 4 ? 1 : 0), 0) : 0;
  return (
    <section class="panel" id="frames">
      <h3>Physical frames {states ? `at event ${at}` : ''}</h3>
      <p>
        RAM {rec.ramFrames} frames{states ? ` (${used} in use)` : ''} · device memory {nr - rec.ramFrames}{' '}
        frames{states ? ` (${dev} in use)` : ''} · row = 512 frames
        {!states && at > 0 ? ' · reading the states at the cursor…' : ''}
      </p>
      <ul id="migrations" class="moves">
        {runs.map((r) => (
          <li
            data-first-page={r.firstPage}
            data-pages={r.pages}
            data-from={r.from}
            data-to={r.to}
            data-d-from={r.dFrom}
            data-d-to={r.dTo}
            data-dir={r.toDevice ? 'to-device' : 'to-ram'}
            data-state={r.done ? 'done' : 'in progress'}
            style={{ color: r.toDevice ? MOVE_COLOURS.toDevice : MOVE_COLOURS.toRam }}
          >
            {r.pages} page{r.pages === 1 ? '' : 's'}: {r.toDevice ? 'RAM' : 'device'} frames{' '}
            {frameRange(r.from, r.from + r.dFrom * (r.pages - 1))} → {r.toDevice ? 'device' : 'RAM'} frames{' '}
            {frameRange(r.to, r.to + r.dTo * (r.pages - 1))} (
            {r.done ? 'done' : 'in progress: migration entries'})
          </li>
        ))}
      </ul>
      <div class="frames-scroll">
        <canvas
          ref={ref}
          data-view="frames"
          style={{ width: `${FRAME_COLS}px`, imageRendering: 'pixelated' }}
        />
      </div>
      <p class="legend">
        {['free', 'mapped', 'in use, unmapped', 'device free', 'device used'].map((n, i) => (
          <span class="key">
            <i style={{ background: FRAME_COLOURS[i] }} />
            {n}
          </span>
        ))}
        <span class="key">
          <i style={{ background: MOVE_COLOURS.toDevice }} />
          migrating to device memory
        </span>
        <span class="key">
          <i style={{ background: MOVE_COLOURS.toRam }} />
          migrating to RAM
        </span>
      </p>
    </section>
  );
}

/** The event log around the cursor, filtered by row type, text and the selected page; a click seeks there. */
export function EventLog() {
  const rec = recording.value;
  const at = cursor.value;
  const sel = selected.value;
  const [types, setTypes] = useState<ReadonlySet<string>>(NO_FILTER.types);
  const [text, setText] = useState('');
  const [onPage, setOnPage] = useState(false);
  const page = onPage ? sel : -1;
  // Over the whole recording, once per filter change; stepping only moves the window.
  const matches = useMemo(
    () => (rec ? filterRows(rec, { types, text, page }) : new Int32Array(0)),
    [rec, types, text, page],
  );
  if (!rec) return null;
  const rows = windowAround(matches, at, 24);
  const toggle = (t: string) => {
    const next = new Set(types);
    if (next.has(t)) next.delete(t);
    else next.add(t);
    setTypes(next);
  };
  return (
    <section class="panel log" id="event-log" data-matches={matches.length}>
      <h3>
        Event log{' '}
        <small>
          ({matches.length === rec.rows.length ? rec.rows.length : `${matches.length} of ${rec.rows.length}`}{' '}
          events; around the cursor)
        </small>
      </h3>
      <div class="filters">
        <input
          id="log-text"
          placeholder="filter (text)"
          onInput={(e) => setText((e.target as HTMLInputElement).value)}
        />
        <label title="only rows that changed the selected page or name its address">
          <input
            type="checkbox"
            id="log-page"
            checked={onPage}
            onChange={(e) => setOnPage((e.target as HTMLInputElement).checked)}
          />{' '}
          selected page
        </label>
        {ROW_TYPES.map((t) => (
          <label>
            <input type="checkbox" data-type={t} checked={types.has(t)} onChange={() => toggle(t)} />
            {t}
          </label>
        ))}
      </div>
      <div class="rows">
        {[...rows].map((r) => {
          const row = rec.rows[r]!;
          return (
            <button
              type="button"
              key={r}
              data-row={r}
              class={`row ${row.type}${r === at - 1 ? ' cur' : ''}`}
              onClick={() => seek(r + 1)}
            >
              <span class="n">#{r + 1}</span>
              <span class="t">{(row.time / 1000).toFixed(2)}µs</span>
              <span class="th">{row.thread}</span>
              <span>{row.text}</span>
              {rec.deltaStart[r + 1]! > rec.deltaStart[r]! && (
                <span class="d"> Δ{rec.deltaStart[r + 1]! - rec.deltaStart[r]!}</span>
              )}
            </button>
          );
        })}
      </div>
    </section>
  );
}

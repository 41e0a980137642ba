/**
 * The top bar: mode, scenario picker, stepping (⏮ ◀ ▶ ⏭, play, speed, step unit, go to event),
 * and the `#state` summary the page keeps current (the machine-readable contract). In Workload
 * mode the bar shows the modes only.
 * @module
 */
import { useEffect } from 'preact/hooks';
import { EXAMPLES, WORKLOADS } from '../examples.ts';
import {
  cursor,
  mode,
  playing,
  recording,
  runDemo,
  runExample,
  scenarioName,
  seek,
  speed,
  status,
  stepBy,
  stepOnce,
  summary,
} from '../store.ts';
import { downloadTrace, openInPerfetto } from '../trace-export.ts';
import { loadWorkload, workloadName } from '../workload-store.ts';

/** The example a page without a scenario opens (as the page does without a URL). */
const firstExample = (): string => (EXAMPLES.has('migrate') ? 'migrate' : ([...EXAMPLES.keys()][0] ?? ''));

/** The bar. */
export function Controls() {
  const rec = recording.value;
  const at = cursor.value;
  const total = rec?.rows.length ?? 0;
  useEffect(() => {
    if (!playing.value) return;
    let last = performance.now();
    let acc = 0;
    let raf = 0;
    const tick = (t: number) => {
      acc += ((t - last) / 1000) * speed.value;
      last = t;
      const saved = stepBy.value;
      while (acc >= 1) {
        acc -= 1;
        if (!stepOnce(1)) {
          playing.value = false;
          return;
        }
      }
      stepBy.value = saved;
      raf = requestAnimationFrame(tick);
    };
    raf = requestAnimationFrame(tick);
    return () => cancelAnimationFrame(raf);
  }, [playing.value]);
  const row = at > 0 && rec ? rec.rows[at - 1] : null;
  // A workload has no scenario to pick, step through or trace: its bar is the modes only
  // (style.css hides the rest; `#state` stays in the page).
  return (
    <header class={mode.value === 'workload' ? 'workload-bar' : undefined}>
      <strong class="brand">hmmsim</strong>
      <div class="modes" role="tablist">
        {(['learn', 'explore', 'race', 'workload'] as const).map((m) => (
          <button
            type="button"
            role="tab"
            aria-selected={mode.value === m}
            class={mode.value === m ? 'on' : ''}
            onClick={() => {
              mode.value = m;
              if (m === 'learn') void runDemo();
              if (m === 'workload' && !workloadName.value) loadWorkload([...WORKLOADS.keys()][0] ?? '');
              // A page opened on a workload has no scenario yet: the other modes start with one.
              if ((m === 'explore' || m === 'race') && !recording.value) void runExample(firstExample());
            }}
          >
            {m[0]!.toUpperCase() + m.slice(1)}
          </button>
        ))}
      </div>
      <label>
        scenario{' '}
        <select
          id="scenario-picker"
          value={EXAMPLES.has(scenarioName.value) ? scenarioName.value : ''}
          onChange={(e) => {
            mode.value = 'explore';
            void runExample((e.target as HTMLSelectElement).value);
          }}
        >
          {!EXAMPLES.has(scenarioName.value) && <option value="">{scenarioName.value || '—'}</option>}
          {[...EXAMPLES.keys()].map((n) => (
            <option value={n}>{n}</option>
          ))}
        </select>
      </label>
      <span class="stepper">
        <button type="button" title="start (Home)" onClick={() => seek(0)}>
          |◀
        </button>
        <button type="button" id="back" title="back (←)" onClick={() => stepOnce(-1)}>
          ◀
        </button>
        <button
          type="button"
          id="play"
          title="play/pause (Space)"
          onClick={() => (playing.value = !playing.value)}
        >
          {playing.value ? 'pause' : 'play'}
        </button>
        <button type="button" id="forward" title="forward (→)" onClick={() => stepOnce(1)}>
          ▶
        </button>
        <button type="button" title="end (End)" onClick={() => seek(total)}>
          ▶|
        </button>
        <select
          value={stepBy.value}
          title="step by"
          onChange={(e) => (stepBy.value = (e.target as HTMLSelectElement).value as never)}
        >
          <option value="step">by step</option>
          <option value="event">by event</option>
          <option value="change">by change</option>
        </select>
        <select
          value={String(speed.value)}
          title="play speed (events/s)"
          onChange={(e) => (speed.value = Number((e.target as HTMLSelectElement).value))}
        >
          {[1, 5, 20, 60, 250, 1000, 10000].map((v) => (
            <option value={String(v)}>{v}/s</option>
          ))}
        </select>
        <form
          class="goto"
          onSubmit={(e) => {
            e.preventDefault();
            const v = Number(
              ((e.currentTarget as HTMLFormElement).elements.namedItem('n') as HTMLInputElement).value,
            );
            if (Number.isFinite(v)) seek(v);
          }}
        >
          <label>
            {/* The cursor is the placeholder, not the value: setting an input's value on every
                step moves its selection, and each selectionchange makes the editor read the
                document's selection (a forced layout). */}
            event # <input name="n" id="goto" type="number" min={0} max={total} placeholder={String(at)} />
          </label>
        </form>
        <span class="pos" id="position">
          {at}/{total}
          {row ? ` · ${(row.time / 1000).toFixed(1)} µs · ${row.thread || '—'} · ${row.text}` : ''}
        </span>
      </span>
      <span class="export">
        <button
          type="button"
          id="trace-download"
          title="the run as a Chrome trace (JSON)"
          onClick={() => void downloadTrace()}
        >
          ⤓ trace
        </button>
        <button
          type="button"
          id="perfetto"
          title="open the run's trace in ui.perfetto.dev"
          onClick={() => void openInPerfetto()}
        >
          Perfetto
        </button>
      </span>
      <pre id="state" data-cursor={at}>
        {summary.value ? JSON.stringify(summary.value) : ''}
      </pre>
      <div class="status" id="status" role="status">
        {status.value}
      </div>
    </header>
  );
}

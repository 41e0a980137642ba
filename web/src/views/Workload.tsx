/**
 * Workload mode: pick an example workload (or edit one), run it in its own worker through the
 * public workload API, follow its progress, cancel it; then its counters, its time breakdown
 * and its fault batches over virtual time (uPlot).
 * @module
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { WORKLOADS } from '../examples.ts';
import {
  cancelWorkload,
  loadWorkload,
  runWorkloadInPage,
  workloadDone,
  workloadName,
  workloadProblems,
  workloadProgress,
  workloadStatus,
  workloadText,
} from '../workload-store.ts';

/** The picker, the text, Run and Cancel, the progress and the problems. */
export function WorkloadPanel() {
  const p = workloadProgress.value;
  const running = p !== null;
  return (
    <section class="panel workload" id="workload">
      <h3>Workload</h3>
      <label>
        example{' '}
        <select
          id="workload-picker"
          value={WORKLOADS.has(workloadName.value) ? workloadName.value : ''}
          onChange={(e) => loadWorkload((e.target as HTMLSelectElement).value)}
        >
          {!WORKLOADS.has(workloadName.value) && <option value="">{workloadName.value || '—'}</option>}
          {[...WORKLOADS.keys()].map((n) => (
            <option value={n}>{n}</option>
          ))}
        </select>
      </label>{' '}
      <button
        type="button"
        id="workload-run"
        disabled={running}
        onClick={() => {
          const text = workloadText.value;
          const name = WORKLOADS.get(workloadName.value) === text ? workloadName.value : 'custom';
          void runWorkloadInPage(text, name);
        }}
      >
        ▶ Run
      </button>{' '}
      <button type="button" id="workload-cancel" disabled={!running} onClick={() => cancelWorkload()}>
        Cancel
      </button>
      <div class="wl-progress">
        {running && (
          <progress
            id="workload-progress"
            max={p && p.total > 0 ? p.total : undefined}
            value={p && p.total > 0 ? p.done : undefined}
            data-done={p?.done ?? ''}
          />
        )}{' '}
        <span id="workload-status">{workloadStatus.value}</span>
      </div>
      <ul class="problems" id="workload-problems">
        {workloadProblems.value.map((m) => (
          <li>{m}</li>
        ))}
      </ul>
      <textarea
        id="workload-text"
        spellcheck={false}
        value={workloadText.value}
        onInput={(e) => {
          workloadText.value = (e.target as HTMLTextAreaElement).value;
        }}
      />
    </section>
  );
}

/** The last run's counters, time breakdown and batches over time. */
export function WorkloadResults() {
  const done = workloadDone.value;
  const chart = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = chart.current;
    if (!el || !done) return;
    const s = done.series;
    const plot = new uPlot(
      {
        width: 520,
        height: 220,
        scales: { x: { time: false } },
        axes: [{ label: 'virtual time (ms)' }, { label: 'pages / evictions' }],
        series: [
          { label: 'ms' },
          { label: 'pages migrated to the GPU', stroke: '#7b3294' },
          { label: 'of which prefetched', stroke: '#009e73', dash: [4, 3] },
          { label: 'evictions', stroke: '#d7191c' },
        ],
      },
      [Array.from(s.timeMs), Array.from(s.pagesH2D), Array.from(s.prefetched), Array.from(s.evictions)],
      el,
    );
    el.dataset.points = String(s.timeMs.length);
    return () => plot.destroy();
  }, [done]);
  if (!done) return <div class="empty">Pick a workload and run it.</div>;
  const r = done.result;
  return (
    <div class="workload-results" id="workload-result" data-workload={r.workload}>
      <h3>
        {r.workload} · {r.policy} on {r.platform} · {(r.timeNs / 1e6).toFixed(3)} ms virtual
      </h3>
      <div ref={chart} id="workload-chart" />
      <div class="wl-tables">
        <table id="workload-counters">
          <thead>
            <tr>
              <th>counter</th>
              <th>value</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(r.counters).map(([k, v]) => (
              <tr data-counter={k} data-value={String(v)}>
                <td>{k}</td>
                <td>{Number.isInteger(v) ? v : v.toFixed(3)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <table id="workload-breakdown">
          <thead>
            <tr>
              <th>time in</th>
              <th>ms</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(r.breakdownNs).map(([k, v]) => (
              <tr data-part={k}>
                <td>{k}</td>
                <td>{(v / 1e6).toFixed(3)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

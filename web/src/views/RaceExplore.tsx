/**
 * Race mode's explorer: what to explore (this scenario or a mutant's), the strategy, budget, seed
 * and number of Web Workers; the run's progress, per worker too; Stop (every worker stops after
 * its current schedule and the report covers what ran, as Ctrl+C does to `hmmsim explore`); and
 * the report, after the lines `hmmsim explore` prints, and saved as its `--json`. A violation's
 * shrunk token is then replayed.
 * @module
 */
import { signal } from '@preact/signals';
import { MUTANTS } from '../../../src/explore/mutants/index.ts';
import type { ExploreReport, StrategyName } from '../../../src/explore/types.ts';
import { exploreProgress, exploreReport, runToken, scenarioName, scenarioText } from '../store.ts';
import { saveJson } from '../trace-export.ts';
import { defaultWorkers, explorePooled, MAX_PAGE_WORKERS, type PooledRun } from '../workers/explore-pool.ts';

/** Schedules run so far (summed over workers) of the budget, or null when nothing runs. */
const running = signal<{ done: number; budget: number } | null>(null);
/** Each worker's schedules so far. */
const shares = signal<readonly number[]>([]);
/** The exploration in progress. */
let current: { run: PooledRun; flags: { stop: boolean; mine: boolean } } | null = null;

/** The fields of a report that do not depend on timing (every one but the elapsed time). */
export function stableReport(r: ExploreReport): Omit<ExploreReport, 'elapsedMs'> {
  const { elapsedMs: _elapsed, ...rest } = r;
  return rest;
}

/**
 * The report as `hmmsim explore --json` writes it (what `hmmsim explore merge` reads), and the
 * file it is saved as.
 */
export function reportFile(r: ExploreReport): { name: string; json: string } {
  return {
    // A mutant's scenario name is a sentence: the file is named after the mutant instead.
    name: `${r.mutant ? `mutant-${r.mutant}` : r.scenario.replace(/[^\w.-]+/g, '_')}-seed${r.seed}.explore.json`,
    json: `${JSON.stringify({ command: 'explore', ok: r.failure === null, report: r }, null, 2)}\n`,
  };
}

/** The report, after the lines `hmmsim explore` prints (elapsed time aside, each worker's part added). */
export function reportLines(r: ExploreReport): string[] {
  const f = r.failure;
  const lines = [
    f === null
      ? `${r.schedules} schedules run${r.exhausted ? ' (every schedule within the bound)' : ''}: no violation found`
      : `${r.schedules} schedules run: VIOLATION in schedule ${f.schedule} (seed ${r.seed})`,
  ];
  for (const [k, w] of (r.workers ?? []).entries())
    lines.push(`  worker ${k}: seed ${w.seed}, ${w.schedules} schedules${w.failed ? ', found it' : ''}`);
  if (f !== null) {
    lines.push(`  oracle:   ${f.violation.oracle}`, `  what:     ${f.violation.message}`);
    lines.push(`replay token:  ${f.token}`);
    lines.push(`shrunk token:  ${f.shrunkToken}  (decision points: ${f.originalLength} → ${f.shrunkLength})`);
  }
  const c = r.coverage;
  if (c)
    lines.push(
      `coverage: ${c.pairs} distinct ordered pairs of ${c.points} preemption points, the last new one in schedule ${c.lastNewAt}`,
    );
  return lines;
}

interface Ask {
  readonly mutant: string;
  readonly strategy: StrategyName | '';
  readonly schedules: number;
  readonly seed: number;
  readonly workers: number;
}

const ask = signal<Ask>({ mutant: '', strategy: '', schedules: 300, seed: 1, workers: defaultWorkers() });

/** Runs the exploration `a` asks for on Web Workers; loads the shrunk token of a violation. */
async function runExplore(a: Ask): Promise<void> {
  if (current) {
    current.run.terminate();
    current.flags.mine = false;
  }
  exploreReport.value = null;
  const workers = Math.max(1, Math.min(a.workers, a.schedules));
  exploreProgress.value = `exploring on ${workers} worker${workers === 1 ? '' : 's'}…`;
  shares.value = new Array<number>(workers).fill(0);
  running.value = { done: 0, budget: a.schedules };
  // The run's callbacks may be called before explorePooled returns: they read `me` through `flags`.
  const flags = { stop: false, mine: false };
  const run = explorePooled(
    a.mutant
      ? { kind: 'mutant', id: a.mutant }
      : { kind: 'text', text: scenarioText.value, file: `${scenarioName.value}.json` },
    {
      ...(a.strategy ? { strategy: a.strategy } : {}),
      schedules: a.schedules,
      seed: a.seed,
      workers,
      onProgress: (p) => {
        if (flags.mine) running.value = { done: p.schedules, budget: p.budget };
      },
      onShare: (w, n) => {
        if (!flags.mine) return;
        const next = [...shares.value];
        next[w] = n;
        shares.value = next;
      },
      shouldStop: () => flags.stop,
    },
  );
  const me = { run, flags };
  flags.mine = true;
  current = me;
  let got: Awaited<PooledRun['done']>;
  try {
    got = await me.run.done;
  } catch (e) {
    if (current === me) {
      exploreProgress.value = e instanceof Error ? e.message : String(e);
      running.value = null;
      current = null;
      flags.mine = false;
    }
    return;
  }
  if (current !== me) return;
  current = null;
  flags.mine = false;
  running.value = null;
  if ('kind' in got) {
    exploreProgress.value = got.messages.join('\n');
    return;
  }
  exploreReport.value = got;
  const f = got.failure;
  exploreProgress.value = f
    ? `violation (${f.violation.oracle}) at schedule ${f.schedule} of ${got.schedules}`
    : `${flags.stop ? 'stopped: ' : ''}no violation in ${got.schedules} schedules`;
  if (f) {
    onFound?.(f.shrunkToken);
    await runToken(f.shrunkToken);
  }
}

/** Told of the shrunk token a finished exploration loads (the panel shows it in its field). */
let onFound: ((token: string) => void) | null = null;

/** Asks every worker to stop after its current schedule (the report covers what ran). */
function stopExplore(): void {
  if (!current) return;
  current.flags.stop = true;
  exploreProgress.value = 'stopping…';
}

/** A labelled whole-number field that only takes values within [min, max]. */
function NumberField(p: {
  id: string;
  label: string;
  title?: string;
  value: number;
  min: number;
  max?: number;
  set: (n: number) => void;
}) {
  return (
    <label title={p.title}>
      {p.label}{' '}
      <input
        id={p.id}
        type="number"
        min={p.min}
        max={p.max}
        value={p.value}
        onInput={(e) => {
          const n = Number((e.target as HTMLInputElement).value);
          if (Number.isInteger(n) && n >= p.min && (p.max === undefined || n <= p.max)) p.set(n);
        }}
      />
    </label>
  );
}

/** The explorer's controls, its progress and its report. */
export function RaceExplore({ setToken }: { setToken: (token: string) => void }) {
  const a = ask.value;
  const set = (p: Partial<Ask>) => (ask.value = { ...a, ...p });
  const run = running.value;
  const report = exploreReport.value;
  onFound = setToken;
  return (
    <div class="race-explore">
      <div class="row">
        <label>
          explore{' '}
          <select
            value={a.mutant}
            onChange={(e) => set({ mutant: (e.target as HTMLSelectElement).value })}
            id="mutant"
          >
            <option value="">this scenario</option>
            {MUTANTS.map((m) => (
              <option value={m.id}>
                {m.id} — {m.title.replace(/`/g, '').slice(0, 60)}
              </option>
            ))}
          </select>
        </label>{' '}
        <label>
          strategy{' '}
          <select
            id="strategy"
            value={a.strategy}
            onChange={(e) => set({ strategy: (e.target as HTMLSelectElement).value as StrategyName | '' })}
          >
            <option value="">default</option>
            {(['random', 'pct', 'portfolio', 'exhaustive'] as const).map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
      </div>
      <div class="row">
        <NumberField
          id="schedules"
          label="schedules"
          value={a.schedules}
          min={1}
          set={(n) => set({ schedules: n })}
        />{' '}
        <NumberField id="seed" label="seed" value={a.seed} min={0} set={(n) => set({ seed: n })} />{' '}
        <NumberField
          id="workers"
          label="workers"
          title={`Web Workers, 1 to ${MAX_PAGE_WORKERS} (default: the browser's logical processors, capped)`}
          value={a.workers}
          min={1}
          max={MAX_PAGE_WORKERS}
          set={(n) => set({ workers: n })}
        />{' '}
        <button type="button" id="explore" disabled={run !== null} onClick={() => void runExplore(ask.value)}>
          ⚑ Explore
        </button>{' '}
        <button type="button" id="explore-stop" disabled={run === null} onClick={stopExplore}>
          Stop
        </button>
      </div>
      <div class="row">
        {run && <progress id="explore-bar" max={run.budget} value={run.done} />}{' '}
        <span id="explore-progress">{exploreProgress.value}</span>
        {run && (
          <span class="shares">
            {shares.value.map((n, k) => (
              <span class="share" data-worker={k} data-schedules={n}>
                {' '}
                w{k}: {n}
              </span>
            ))}
          </span>
        )}
      </div>
      {report && (
        <div id="explore-report" data-json={JSON.stringify(stableReport(report))}>
          <pre class="report">{reportLines(report).join('\n')}</pre>
          <button
            type="button"
            id="explore-download"
            title="the report as hmmsim explore --json writes it (hmmsim explore merge reads it)"
            onClick={() => {
              const f = reportFile(report);
              saveJson(f.name, f.json);
            }}
          >
            ⤓ report
          </button>{' '}
          {report.failure && (
            <>
              <button
                type="button"
                class="link"
                onClick={() => {
                  setToken(report.failure!.shrunkToken);
                  void runToken(report.failure!.shrunkToken);
                }}
              >
                replay the shrunk token
              </button>
              <pre class="account">{report.failure.text}</pre>
            </>
          )}
        </div>
      )}
    </div>
  );
}

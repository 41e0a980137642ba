/**
 * Race mode's explorer: what to explore (this scenario or a mutant's), the strategy, budget, seed
 * and number of Web Workers; the run's progress, per worker too; Stop (every worker stops after
 * its current schedule and the report covers what ran, as Ctrl+C does to `hmmsim explore`); and
 * the report, after the lines `hmmsim explore` prints, and saved as its `--json`. A violation's
 * shrunk token is then replayed.
 * @module
 */
import { computed, signal } from '@preact/signals';
import { optionValue } from '../../../src/cli/args.ts';
import { checkExploreFlags, type ExploreFlags, exploreSettings } from '../../../src/cli/explore-settings.ts';
import type { ExploreSpec } from '../../../src/cli/scenario/types.ts';
import { EXPLORE } from '../../../src/cli/specs.ts';
import { DEFAULT_PCT_DEPTH, DEFAULT_PREEMPTION_BOUND } from '../../../src/explore/explore.ts';
import { MUTANTS } from '../../../src/explore/mutants/index.ts';
import type { ExploreReport, StrategyName } from '../../../src/explore/types.ts';
import { exploreProgress, exploreReport, runToken, scenarioName, scenarioText } from '../store.ts';
import { saveJson } from '../trace-export.ts';
import {
  defaultWorkers,
  explorePooled,
  MAX_PAGE_WORKERS,
  type PooledRun,
  type PoolSource,
  pooledWorkers,
} from '../workers/explore-pool.ts';
import { sourceDefaults } from '../workers/explore-pool-source.ts';

/**
 * Schedules run so far (summed over workers) of the budget (Infinity: a time budget only), the
 * milliseconds elapsed and the time budget; null when nothing runs.
 */
interface Running {
  readonly done: number;
  readonly budget: number;
  readonly ms: number;
  readonly seconds: number | undefined;
}
const running = signal<Running | null>(null);

/** The bar: schedules of the budget, or with a time budget only, time of the time budget. */
function ProgressBar({ run }: { run: Running }) {
  if (Number.isFinite(run.budget)) return <progress id="explore-bar" max={run.budget} value={run.done} />;
  const max = (run.seconds ?? 0) * 1000;
  return <progress id="explore-bar" max={max} value={Math.min(run.ms, max)} />;
}
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

/** The `explore` choice that takes a module by URL instead of a mutant or this scenario. */
const MODULE = '@module';

/** The options of `hmmsim explore` the panel takes as text, in the CLI's words and checks. */
const FIELDS = ['schedules', 'seconds', 'seed', 'depth', 'bound'] as const;
type Field = (typeof FIELDS)[number];

interface Ask {
  /** '' this scenario, {@link MODULE}, or a mutant's id. */
  readonly source: string;
  /** The module's URL (with {@link MODULE}). */
  readonly url: string;
  readonly strategy: StrategyName | '';
  /** As typed; empty: not given (the default applies, as when the CLI's flag is left out). */
  readonly fields: Readonly<Record<Field, string>>;
  readonly workers: number;
}

const ask = signal<Ask>({
  source: '',
  url: '',
  strategy: '',
  fields: { schedules: '', seconds: '', seed: '', depth: '', bound: '' },
  workers: defaultWorkers(),
});

function sourceOf(a: Ask): PoolSource {
  if (a.source === MODULE) return { kind: 'module', url: a.url.trim(), display: a.url.trim() };
  if (a.source) return { kind: 'mutant', id: a.source };
  return { kind: 'text', text: scenarioText.value, file: `${scenarioName.value}.json` };
}

/** What the source defaults to (null: the scenario text has mistakes, shown in the editor). */
const defaults = computed(() => sourceDefaults(sourceOf(ask.value)));

/**
 * The options as given, and each field's mistake as `hmmsim explore` words it: its value checked
 * by the CLI's option parser, then whether it applies to the strategy that will run.
 */
function readAsk(
  a: Ask,
  given: ExploreSpec,
): { flags: ExploreFlags; issues: Partial<Record<Field, string>> } {
  const strategy = exploreSettings(a.strategy ? { strategy: a.strategy } : {}, given).strategy;
  const flags: { -readonly [K in keyof ExploreFlags]: ExploreFlags[K] } = a.strategy
    ? { strategy: a.strategy }
    : {};
  const issues: Partial<Record<Field, string>> = {};
  for (const f of FIELDS) {
    const raw = a.fields[f].trim();
    if (raw === '') continue;
    try {
      const v = optionValue(EXPLORE, f, raw) as number;
      if (f === 'depth') checkExploreFlags({ depth: v }, strategy);
      if (f === 'bound') checkExploreFlags({ bound: v }, strategy);
      flags[f] = v;
    } catch (e) {
      issues[f] = (e as Error).message;
    }
  }
  return { flags, issues };
}

/** What each field means, from the CLI's own option descriptions. */
const optionHelp = (f: Field): string => EXPLORE.options.find((o) => o.name === f)?.description ?? '';

/** What an empty field stands for: the default that applies. */
function placeholder(f: Field, flags: ExploreFlags, given: ExploreSpec): string {
  const s = exploreSettings({ ...flags, depth: undefined, bound: undefined, [f]: undefined }, given);
  switch (f) {
    case 'schedules':
      return s.schedules === undefined ? 'none' : String(s.schedules);
    case 'seconds':
      return 'none';
    case 'seed':
      return String(s.seed);
    case 'depth':
      return String(given.depth ?? DEFAULT_PCT_DEPTH);
    case 'bound':
      return String(given.bound ?? DEFAULT_PREEMPTION_BOUND);
  }
}

/** Runs the exploration `a` asks for on Web Workers; loads the shrunk token of a violation. */
async function runExplore(a: Ask): Promise<void> {
  if (current) {
    current.run.terminate();
    current.flags.mine = false;
  }
  exploreReport.value = null;
  const given = defaults.value ?? {};
  const { flags } = readAsk(a, given);
  const settings = exploreSettings(flags, given);
  const workers = pooledWorkers(a.workers, settings);
  exploreProgress.value = `exploring on ${workers} worker${workers === 1 ? '' : 's'}${settings.strategy === 'exhaustive' && a.workers > 1 ? ' (an exhaustive search runs on one)' : ''}…`;
  shares.value = new Array<number>(workers).fill(0);
  running.value = {
    done: 0,
    budget: settings.schedules ?? Number.POSITIVE_INFINITY,
    ms: 0,
    seconds: settings.seconds,
  };
  // The run's callbacks may be called before explorePooled returns: they read `me` through `state`.
  const state = { stop: false, mine: false };
  const source = sourceOf(a);
  const run = explorePooled(source, {
    flags,
    workers: a.workers,
    onProgress: (p) => {
      if (state.mine)
        running.value = { done: p.schedules, budget: p.budget, ms: p.elapsedMs, seconds: settings.seconds };
    },
    onShare: (w, n) => {
      if (!state.mine) return;
      const next = [...shares.value];
      next[w] = n;
      shares.value = next;
    },
    shouldStop: () => state.stop,
  });
  const me = { run, flags: state };
  state.mine = true;
  current = me;
  let got: Awaited<PooledRun['done']>;
  try {
    got = await me.run.done;
  } catch (e) {
    if (current === me) {
      exploreProgress.value = e instanceof Error ? e.message : String(e);
      running.value = null;
      current = null;
      state.mine = false;
    }
    return;
  }
  if (current !== me) return;
  current = null;
  state.mine = false;
  running.value = null;
  if ('kind' in got) {
    exploreProgress.value = got.messages.join('\n');
    return;
  }
  exploreReport.value = got;
  replayable.value = source.kind !== 'module';
  const f = got.failure;
  exploreProgress.value = f
    ? `violation (${f.violation.oracle}) at schedule ${f.schedule} of ${got.schedules}`
    : `${state.stop ? 'stopped: ' : ''}no violation in ${got.schedules} schedules`;
  if (f && replayable.value) {
    onFound?.(f.shrunkToken);
    await runToken(f.shrunkToken);
  }
}

/**
 * Whether the last report's tokens replay in the page: its replays rebuild a mutant's scenario or
 * the editor's, not a module's.
 */
const replayable = signal(true);

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

/** One option of `hmmsim explore` as a text field (its mistake is listed under the fields). */
function OptionField(p: {
  field: Field;
  value: string;
  placeholder: string;
  issue: string | undefined;
  set: (v: string) => void;
}) {
  return (
    <label class="option" title={`--${p.field}: ${optionHelp(p.field)}`}>
      {p.field}{' '}
      <input
        id={p.field}
        type="text"
        inputMode="decimal"
        size={6}
        value={p.value}
        placeholder={p.placeholder}
        aria-invalid={p.issue !== undefined}
        aria-describedby={p.issue === undefined ? undefined : `${p.field}-error`}
        onInput={(e) => p.set((e.target as HTMLInputElement).value)}
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
  const given = defaults.value ?? {};
  const { flags, issues } = readAsk(a, given);
  const blocked = Object.keys(issues).length > 0 || (a.source === MODULE && a.url.trim() === '');
  onFound = setToken;
  return (
    <div class="race-explore">
      <div class="row">
        <label>
          explore{' '}
          <select
            value={a.source}
            onChange={(e) => set({ source: (e.target as HTMLSelectElement).value })}
            id="mutant"
          >
            <option value="">this scenario</option>
            <option value={MODULE}>a scenario module (URL)…</option>
            {MUTANTS.map((m) => (
              <option value={m.id}>
                {m.id} — {m.title.replace(/`/g, '').slice(0, 60)}
              </option>
            ))}
          </select>
        </label>{' '}
        {a.source === MODULE && (
          <label title="an ES module exporting a Scenario (default, or `scenario`), as hmmsim explore file.mjs takes">
            URL{' '}
            <input
              id="module-url"
              type="url"
              value={a.url}
              placeholder="https://…/scenario.mjs"
              onInput={(e) => set({ url: (e.target as HTMLInputElement).value })}
            />
          </label>
        )}{' '}
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
      <div class="row options">
        {FIELDS.map((f) => (
          <OptionField
            key={f}
            field={f}
            value={a.fields[f]}
            placeholder={placeholder(f, flags, given)}
            issue={issues[f]}
            set={(v) => set({ fields: { ...a.fields, [f]: v } })}
          />
        ))}
        <NumberField
          id="workers"
          label="workers"
          title={`Web Workers, 1 to ${MAX_PAGE_WORKERS} (default: the browser's logical processors, capped)`}
          value={a.workers}
          min={1}
          max={MAX_PAGE_WORKERS}
          set={(n) => set({ workers: n })}
        />
      </div>
      {FIELDS.some((f) => issues[f] !== undefined) && (
        <ul class="field-errors" role="alert">
          {FIELDS.filter((f) => issues[f] !== undefined).map((f) => (
            <li key={f} id={`${f}-error`}>
              {issues[f]}
            </li>
          ))}
        </ul>
      )}
      <div class="row">
        <button
          type="button"
          id="explore"
          disabled={run !== null || blocked}
          onClick={() => void runExplore(ask.value)}
        >
          ⚑ Explore
        </button>{' '}
        <button type="button" id="explore-stop" disabled={run === null} onClick={stopExplore}>
          Stop
        </button>
      </div>
      <div class="row">
        {run && <ProgressBar run={run} />} <span id="explore-progress">{exploreProgress.value}</span>
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
              {replayable.value && (
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
              )}
              <pre class="account">{report.failure.text}</pre>
            </>
          )}
        </div>
      )}
    </div>
  );
}

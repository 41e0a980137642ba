/**
 * What `hmmsim explore` needs to scale out and to take TypeScript scenarios: loading a scenario
 * from a module (`explore file.ts`), the deterministic share of one shard (`--shard I/N`), and
 * `explore merge`, which combines the JSON reports of shards into one.
 *
 * Shards partition the seed space as `--workers` does (`planShares` of the explorer core): with a
 * base seed s, a shard I of N with W local workers explores seeds s + I + k·N (k = 0 … W − 1),
 * each with its share of the budget, so N shards of one worker explore exactly what
 * `--workers N` explores on one machine.
 * @module
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { type ExploreReport, type ExploreShard, type Scenario, uniteCoverage } from '../explore/index.ts';
import { CliUsageError } from './args.ts';
import { exportedScenario, invalidFile, moduleLoadFailed } from './module-scenario.ts';

/** True when `file` names a module (TypeScript or JavaScript) rather than a JSON scenario. */
export function isModuleScenario(file: string): boolean {
  return /\.(ts|mts|cts|js|mjs|cjs)$/.test(file);
}

/**
 * Loads the scenario a module exports: its default export, or an export named `scenario`. Any
 * other shape, or a module that fails to load, is an invalid input file.
 */
export async function loadModuleScenario(absPath: string, display: string): Promise<Scenario<unknown>> {
  if (/\.(ts|mts|cts)$/.test(absPath)) await registerTypeScript(display);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(absPath).href)) as Record<string, unknown>;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(absPath))
      throw new CliUsageError(`cannot read scenario module ${display}: no such file`, 'explore');
    moduleLoadFailed(display, err);
  }
  return exportedScenario(mod, display);
}

/**
 * Node runs TypeScript only through a loader. The built `hmmsim` carries none (tsx is a
 * development dependency), so a `.ts` scenario module registers tsx when the user's project has
 * it, and otherwise is refused with what to do instead of Node's bare ERR_UNKNOWN_FILE_EXTENSION.
 * Registering twice (the development CLI already runs under tsx) is harmless.
 */
async function registerTypeScript(display: string): Promise<void> {
  const api = 'tsx/esm/api';
  try {
    const { register } = (await import(api)) as { register: () => unknown };
    register();
  } catch {
    throw new CliUsageError(
      `${display} is TypeScript, and no TypeScript loader is installed: run \`npm i -D tsx\` in your project, or compile the module and pass the .js file`,
      'explore',
    );
  }
}

/** One shard of an exploration: index I (0-based) of N. */
export type ShardSpec = ExploreShard;

/** Parses `--shard I/N` (0 ≤ I < N). */
export function parseShard(text: string): ShardSpec {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  if (m === null)
    throw new CliUsageError(`option --shard: expected I/N (e.g. 0/8), got "${text}"`, 'explore');
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index >= count)
    throw new CliUsageError(`option --shard: I must lie in 0 … N − 1 and N ≥ 1, got ${text}`, 'explore');
  return { index, count };
}

/** What `explore merge` prints or emits. */
export interface MergeResult {
  /** The report files merged. */
  readonly files: readonly string[];
  /** Scenario name (every report must name the same one). */
  readonly scenario: string;
  /** Schedules run in all. */
  readonly schedules: number;
  /** Longest wall-clock time of one report, ms. */
  readonly elapsedMs: number;
  /** The failure with the smallest seed (then the earliest schedule), or null. */
  readonly failure: ExploreReport['failure'];
  /** Its seed. */
  readonly seed: number | null;
  /** Per report: seed, schedules, failed, coverage pairs. */
  readonly shards: readonly {
    file: string;
    seed: number;
    schedules: number;
    failed: boolean;
    pairs: number | null;
  }[];
  /**
   * Coverage: the distinct ordered pairs of preemption points all shards saw together (`pairs`,
   * the exact union; null when some report predates the pair lists), the largest number one
   * shard saw, and their sum (an upper bound of the union: shards overlap).
   */
  readonly coverage: {
    readonly pairs: number | null;
    readonly points: number | null;
    readonly maxPairs: number;
    readonly sumPairs: number;
  };
}

/** Reads the reports of an `explore --json` run (one report, or a merged one with workers). */
function readReport(absPath: string, display: string): ExploreReport {
  let text: string;
  try {
    text = readFileSync(absPath, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new CliUsageError(
      `cannot read report ${display}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`,
      'explore',
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    invalidFile(display, `not JSON: ${(e as Error).message}`);
  }
  const report = (doc as { report?: unknown } | null)?.report as ExploreReport | undefined;
  if (
    typeof report !== 'object' ||
    report === null ||
    typeof report.scenario !== 'string' ||
    typeof report.seed !== 'number' ||
    typeof report.schedules !== 'number' ||
    !('failure' in report)
  )
    invalidFile(
      display,
      'not the --json output of hmmsim explore (no "report" with scenario, seed, schedules, failure)',
    );
  return report;
}

/** `hmmsim explore merge <report.json>…`: first failure by seed, totals, coverage. */
export function mergeReportFiles(files: readonly { abs: string; display: string }[]): MergeResult {
  if (files.length === 0) throw new CliUsageError('explore merge needs at least one report file', 'explore');
  const reports = files.map((f) => readReport(f.abs, f.display));
  const scenario = reports[0]!.scenario;
  reports.forEach((r, i) => {
    if (r.scenario !== scenario)
      invalidFile(
        files[i]!.display,
        `the report is for scenario "${r.scenario}", not "${scenario}" like ${files[0]!.display}`,
      );
  });
  let failing: ExploreReport | null = null;
  for (const r of reports) {
    if (r.failure === null) continue;
    if (
      failing === null ||
      r.seed < failing.seed ||
      (r.seed === failing.seed && r.failure.schedule < failing.failure!.schedule)
    )
      failing = r;
  }
  const pairs = reports.map((r) => r.coverage?.pairs ?? null);
  const known = pairs.filter((p): p is number => p !== null);
  const union = uniteCoverage(reports.map((r) => r.coverage));
  return {
    files: files.map((f) => f.display),
    scenario,
    schedules: reports.reduce((n, r) => n + r.schedules, 0),
    elapsedMs: Math.max(...reports.map((r) => r.elapsedMs)),
    failure: failing?.failure ?? null,
    seed: failing?.seed ?? null,
    shards: reports.map((r, i) => ({
      file: files[i]!.display,
      seed: r.seed,
      schedules: r.schedules,
      failed: r.failure !== null,
      pairs: pairs[i]!,
    })),
    coverage: {
      pairs: union?.pairs ?? null,
      points: union?.points ?? null,
      maxPairs: known.length ? Math.max(...known) : 0,
      sumPairs: known.reduce((a, b) => a + b, 0),
    },
  };
}

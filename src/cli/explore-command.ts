/**
 * `hmmsim explore`: runs the race explorer on a scenario file or a mutant's registered scenario,
 * prints the report (and on a violation its account, replay token and shrunk token), re-runs one
 * schedule with `--replay`, and shards a random or pct budget across worker threads with
 * `--workers` (the explorer core stays Node-free; the sharding lives here).
 * @module
 */
import {
  type ExploreOptions,
  type ExploreProgress,
  type ExploreReport,
  ScenarioError as ExploreScenarioError,
  explore,
  findMutant,
  formatAccount,
  MUTANTS,
  parseReplayToken,
  planShares,
  type ReplayTokenData,
  replay,
  type Scenario,
  type StrategyName,
} from '../explore/index.ts';
import { UsageError } from '../sim/errors.ts';
import type { SchedulerHost } from '../sim/scheduler.ts';
import { CliUsageError } from './args.ts';
import { type CommandContext, EXIT_FAILED, EXIT_OK, openTrace, readScenario } from './context.ts';
import { CliCheckFailed, CliError, EXIT_SCENARIO } from './errors.ts';
import { type ExploreSource, workerThreadPool } from './explore-pool.ts';
import {
  isModuleScenario,
  loadModuleScenario,
  mergeReportFiles,
  parseShard,
  type ShardSpec,
} from './explore-scale.ts';
import { exploreSettings, mutantDefaults } from './explore-settings.ts';
import { Progress } from './io.ts';
import { StepFailure } from './scenario/run.ts';
import { toExploreScenario } from './scenario/to-explore.ts';
import type { ExploreSpec } from './scenario/types.ts';
import { suggest } from './suggest.ts';
import type { TraceFile } from './tracing.ts';

/**
 * The one-line failure of a scenario whose set-up (the steps before `threads`) missed an
 * expectation — a failed check of the user's scenario (exit 1), not an internal error — or null
 * for any other error.
 */
export function setupFailure(e: unknown, file: string): string | null {
  if (!(e instanceof ExploreScenarioError) || !(e.cause instanceof StepFailure)) return null;
  const f = e.cause;
  return `FAIL ${file}:${f.source.line}: ${f.source.path} (${f.op}): ${f.detail} (in the set-up, before the threads race: no schedule was explored)`;
}

/**
 * A fault of the user's scenario found while exploring or replaying it (a thread awaiting
 * something outside the simulation, a failing set-up step's error): an invalid input (exit 3),
 * worded as the error itself, not an internal error of hmmsim. Any other error is returned as is.
 */
export function scenarioFault(e: unknown): unknown {
  return e instanceof ExploreScenarioError ? new CliError(`${e.name}: ${e.message}`, EXIT_SCENARIO) : e;
}

/** Lets Node's event loop run between schedules (signals, worker messages, a closed pipe). */
export const NODE_PAUSE = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Catches a simulated thread awaiting something outside the simulation. */
export const NODE_HOST: SchedulerHost = { idle: (cb) => setImmediate(cb) };

function mutantScenario(id: string): {
  scenario: Scenario<unknown>;
  strategy: StrategyName;
  schedules: number;
} {
  const spec = findMutant(id);
  if (spec === undefined) {
    const s = suggest(
      id,
      MUTANTS.map((m) => m.id),
    );
    throw new CliUsageError(
      `unknown mutant "${id}" (${s ? `did you mean "${s}"? ` : ''}see 'hmmsim explore --list-mutants')`,
      'explore',
    );
  }
  return { scenario: spec.scenario as Scenario<unknown>, strategy: spec.strategy, schedules: spec.schedules };
}

/** Attaches every machine the scenario sets up to the trace (detaching the previous schedule's). */
function traced(scenario: Scenario<unknown>, trace: TraceFile | null): Scenario<unknown> {
  if (trace === null) return scenario;
  let n = 0;
  return {
    ...scenario,
    setup(machine, env) {
      trace.detachAll();
      trace.attach(machine, `${scenario.name} schedule ${n++}`);
      return scenario.setup(machine, env);
    },
  };
}

function parseToken(token: string): ReplayTokenData {
  try {
    return parseReplayToken(token);
  } catch (e) {
    throw new CliUsageError(`bad --replay token: ${(e as Error).message}`, 'explore');
  }
}

/** `hmmsim explore`. */
export async function runExplore(ctx: CommandContext): Promise<number> {
  const o = ctx.options;
  if (o['list-mutants']) return listMutants(ctx);
  if (ctx.positionals[0] === 'merge') return runMerge(ctx);
  if (ctx.positionals.length > 1)
    throw new CliUsageError(
      `unexpected argument "${ctx.positionals[1]}" (one scenario file is expected)`,
      'explore',
    );
  const file = ctx.positionals[0];
  const mutantId = o.mutant as string | undefined;
  const token = o.replay as string | undefined;
  if (file !== undefined && mutantId !== undefined) {
    throw new CliUsageError('give a scenario file or --mutant ID, not both', 'explore');
  }
  let source: ExploreSource;
  let scenario: Scenario<unknown>;
  let defaults: ExploreSpec = {};
  let mutant: string | null = null;
  if (file !== undefined && isModuleScenario(file)) {
    scenario = await loadModuleScenario(ctx.resolve(file), file);
    source = { kind: 'module', path: ctx.resolve(file), display: file };
  } else if (file !== undefined) {
    const doc = readScenario(ctx, file);
    scenario = toExploreScenario(doc) as Scenario<unknown>;
    defaults = doc.explore ?? {};
    source = { kind: 'file', path: ctx.resolve(file), display: file };
  } else {
    let id = mutantId;
    if (id === undefined) {
      if (token === undefined) throw new CliUsageError('missing <scenario.json> or --mutant ID', 'explore');
      const data = parseToken(token);
      if (data.mutant === null) {
        throw new CliUsageError(
          `the token is for scenario "${data.scenario}" without a mutant: give its scenario file too`,
          'explore',
        );
      }
      id = data.mutant;
    }
    const m = mutantScenario(id);
    scenario = m.scenario;
    defaults = mutantDefaults(m);
    mutant = id;
    source = { kind: 'mutant', id };
  }

  if (token !== undefined) return replayOne(ctx, scenario, token, source);

  const asked = (o.workers as number | undefined) ?? 1;
  const shardOf: ShardSpec = o.shard === undefined ? { index: 0, count: 1 } : parseShard(o.shard as string);
  const { strategy, schedules, seconds, seed, depth, bound } = exploreSettings(
    {
      strategy: o.strategy as StrategyName | undefined,
      schedules: o.schedules as number | undefined,
      seconds: o.seconds as number | undefined,
      seed: o.seed as number | undefined,
      depth: o.depth as number | undefined,
      bound: o.bound as number | undefined,
    },
    defaults,
  );
  if ((asked > 1 || shardOf.count > 1) && strategy === 'exhaustive') {
    throw new CliUsageError(
      '--workers shards a random or pct budget; exhaustive search runs on one worker',
      'explore',
    );
  }
  if ((asked > 1 || shardOf.count > 1) && o.trace !== undefined) {
    throw new CliUsageError(
      '--trace needs --workers 1 (the machines of other workers cannot be traced)',
      'explore',
    );
  }
  // More workers than cores only share the cores; more than schedules have nothing to do.
  const cores = ctx.io.cores ?? 1;
  const workers = Math.max(1, Math.min(asked, cores, schedules ?? Number.POSITIVE_INFINITY));
  if (workers < asked) {
    ctx.io.err(
      `hmmsim: note: --workers ${asked} capped at ${workers} (${workers === cores ? `${cores} cores` : `${schedules} schedules`})\n`,
    );
  }
  const label = source.kind === 'mutant' ? `--mutant ${source.id}` : source.display;
  const plan = planShares(seed, schedules ?? Number.POSITIVE_INFINITY, shardOf, workers);
  if (plan.length === 0)
    throw new CliUsageError(
      `shard ${shardOf.index}/${shardOf.count} has no schedules of the budget`,
      'explore',
    );
  const progress = new Progress(ctx.io);
  const budgetText = `${schedules === undefined ? '' : `${schedules} schedules`}${seconds === undefined ? '' : `${schedules === undefined ? '' : ', '}${seconds} s`}`;
  ctx.print(
    `exploring ${scenario.name}${mutant ? ` with mutant ${mutant}` : ''}: strategy ${strategy}, seed ${seed}, budget ${budgetText}${workers > 1 ? ` on ${workers} workers` : ''}${shardOf.count > 1 ? `, shard ${shardOf.index}/${shardOf.count} (seeds ${plan.map((p) => p.seed).join(', ')})` : ''}`,
  );
  const trace = openTrace(ctx, o.trace);
  let report: ExploreReport;
  try {
    // Workers go through explore() like any API user's: the core plans and merges the shares,
    // the worker_threads pool only runs them.
    report = await explore({
      ...traced(scenario, trace),
      // A trace follows the machine each schedule's setup builds: no post-setup snapshot then.
      ...(trace === null ? {} : { snapshot: false }),
      strategy,
      ...(schedules === undefined ? {} : { schedules }),
      ...(seconds === undefined ? {} : { seconds }),
      seed,
      ...(depth === undefined ? {} : { depth }),
      ...(bound === undefined ? {} : { preemptionBound: bound }),
      mutant: mutant as ExploreOptions<unknown>['mutant'],
      workers,
      shard: shardOf,
      ...(plan.length > 1 ? { pool: workerThreadPool(source) } : {}),
      now: ctx.io.now,
      host: NODE_HOST,
      onProgress: (p) => progress.update(progressText(p)),
      progressEvery: 10,
      shouldStop: () => ctx.interrupted() !== null,
      pause: NODE_PAUSE,
    });
  } catch (e) {
    const failed = setupFailure(e, label);
    throw failed === null ? scenarioFault(e) : new CliCheckFailed(failed);
  } finally {
    progress.done();
    await trace?.close();
  }
  printReport(ctx, report, label);
  return report.failure === null ? EXIT_OK : EXIT_FAILED;
}

function progressText(p: ExploreProgress): string {
  const of = Number.isFinite(p.budget) ? `/${p.budget}` : '';
  return `explore: ${p.schedules}${of} schedules, ${(p.elapsedMs / 1000).toFixed(1)} s${p.violations ? ', violation found' : ''}`;
}

function printReport(ctx: CommandContext, report: ExploreReport, label: string): void {
  if (ctx.json) {
    ctx.emit({ command: 'explore', ok: report.failure === null, report });
    return;
  }
  const secs = (report.elapsedMs / 1000).toFixed(1);
  const f = report.failure;
  const exhausted = report.exhausted ? ' (every schedule within the bound)' : '';
  const c = report.coverage;
  const coverage =
    c === undefined
      ? ''
      : `coverage: ${c.pairs} distinct ordered pairs of ${c.points} preemption points, the last new one in schedule ${c.lastNewAt}${report.workers === undefined ? '' : ' (of one worker: they run side by side)'}`;
  if (f === null) {
    ctx.print(`${report.schedules} schedules run in ${secs} s${exhausted}: no violation found`);
    if (coverage) ctx.print(coverage);
    return;
  }
  ctx.print(
    `${report.schedules} schedules run in ${secs} s: VIOLATION in schedule ${f.schedule} (seed ${report.seed})`,
  );
  ctx.print(`  oracle:   ${f.violation.oracle}`);
  ctx.print(`  what:     ${f.violation.message}`);
  ctx.print(`  thread:   ${f.violation.thread}, at ${(f.violation.time / 1000).toFixed(1)} µs`);
  ctx.print('');
  ctx.print(f.text);
  ctx.print('');
  ctx.print(`replay token:  ${f.token}`);
  if (f.shrunkToken === f.token) {
    // Nothing could be dropped or simplified: say so rather than print the same token twice.
    ctx.print(
      `shrunk token:  ${f.shrunkToken}  (the same: already minimal, none of its ${f.originalLength} decision points could be removed or made a non-preemption)`,
    );
  } else {
    ctx.print(`shrunk token:  ${f.shrunkToken}  (decision points: ${f.originalLength} → ${f.shrunkLength})`);
  }
  ctx.print(`reproduce:     hmmsim explore ${label} --replay ${f.shrunkToken}`);
  if (coverage) ctx.print(coverage);
}

/** `hmmsim explore merge <report.json>…`: shard reports (from --json) combined. */
function runMerge(ctx: CommandContext): number {
  const files = ctx.positionals.slice(1).map((f) => ({ abs: ctx.resolve(f), display: f }));
  const m = mergeReportFiles(files);
  if (ctx.json) {
    ctx.emit({ command: 'explore merge', ok: m.failure === null, merge: m });
  } else {
    ctx.print(`${m.scenario}: ${m.files.length} reports, ${m.schedules} schedules in all`);
    for (const sh of m.shards)
      ctx.print(
        `  ${sh.file}: seed ${sh.seed}, ${sh.schedules} schedules${sh.failed ? ', VIOLATION' : ''}${sh.pairs === null ? '' : `, ${sh.pairs} pairs`}`,
      );
    ctx.print(
      m.coverage.pairs === null
        ? `coverage: at most ${m.coverage.sumPairs} distinct ordered pairs of preemption points (one shard alone saw up to ${m.coverage.maxPairs}; some report lists no pairs, so the union is unknown)`
        : `coverage: ${m.coverage.pairs} distinct ordered pairs of ${m.coverage.points} preemption points in all shards together (one shard alone saw up to ${m.coverage.maxPairs})`,
    );
    if (m.failure === null) ctx.print('no violation found');
    else {
      const f = m.failure;
      ctx.print(
        `first violation by seed: seed ${m.seed}, schedule ${f.schedule} (${f.violation.oracle}): ${f.violation.message}`,
      );
      ctx.print(`shrunk token:  ${f.shrunkToken}`);
    }
  }
  return m.failure === null ? EXIT_OK : EXIT_FAILED;
}

async function replayOne(
  ctx: CommandContext,
  scenario: Scenario<unknown>,
  token: string,
  source: ExploreSource,
): Promise<number> {
  const data = parseToken(token);
  if (data.scenario !== scenario.name) {
    throw new CliUsageError(
      `the token is for scenario "${data.scenario}", not "${scenario.name}"${source.kind === 'file' ? ` (${source.display})` : ''}`,
      'explore',
    );
  }
  const trace = openTrace(ctx, ctx.options.trace);
  let result: Awaited<ReturnType<typeof replay>>;
  try {
    result = await replay(traced(scenario, trace), token, { host: NODE_HOST });
  } catch (e) {
    if (e instanceof UsageError) throw new CliUsageError(`bad --replay token: ${e.message}`, 'explore');
    throw scenarioFault(e);
  } finally {
    await trace?.close();
  }
  if (ctx.json) {
    ctx.emit({
      command: 'explore',
      replay: token,
      ok: result.violation === null,
      violation: result.violation,
      choices: result.choices,
      steps: result.steps,
      switches: result.switches,
      time: result.time,
      account: result.account,
    });
  } else {
    ctx.print(
      formatAccount(result.account, result.violation, {
        header: [
          `replay of ${scenario.name}${data.mutant ? ` with mutant ${data.mutant}` : ''}, seed ${data.seed}: ${token}`,
          '',
        ],
      }),
    );
    ctx.print(
      result.violation === null
        ? '\nno violation'
        : `\nVIOLATION (${result.violation.oracle}): ${result.violation.message}`,
    );
  }
  return result.violation === null ? EXIT_OK : EXIT_FAILED;
}

function listMutants(ctx: CommandContext): number {
  if (ctx.json) {
    ctx.emit({
      command: 'explore',
      mutants: MUTANTS.map((m) => ({
        id: m.id,
        title: m.title,
        side: m.side,
        oracle: m.oracle,
        scenario: m.scenario.name,
        strategy: m.strategy,
        schedules: m.schedules,
      })),
    });
    return EXIT_OK;
  }
  for (const m of MUTANTS) {
    ctx.print(`${m.id.padEnd(4)} ${m.side.padEnd(6)} ${m.oracle.padEnd(15)} ${m.title.replace(/`/g, '')}`);
    ctx.print(`     scenario ${m.scenario.name}, ${m.strategy} × ${m.schedules}`);
  }
  return EXIT_OK;
}

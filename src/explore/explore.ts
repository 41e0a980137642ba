/**
 * `explore`: runs schedules of a scenario under a strategy until the budget is spent or an
 * oracle reports a violation, then shrinks the failing schedule and makes it usable (replay
 * tokens, the account of the shrunk interleaving as text). `replay` re-runs one token.
 * @module
 */
import { BufferPool } from '../mm/buffer-pool.ts';
import { isMutantId, MUTANT_IDS, type MutantId } from '../mm/mutant.ts';
import { UsageError } from '../sim/errors.ts';
import type { SchedulerHost } from '../sim/scheduler.ts';
import { suggest } from '../sim/suggest.ts';
import { formatAccount } from './account.ts';
import { InterleavingCoverage } from './coverage.ts';
import type { Oracle } from './oracle.ts';
import { defaultOracles } from './oracles/index.ts';
import { formatReplayToken, parseReplayToken, trimChoices } from './replay-token.ts';
import { runSchedule, ScheduleRunner } from './runner.ts';
import { shrinkSchedule } from './shrink.ts';
import { ExhaustiveStrategy } from './strategies/exhaustive.ts';
import { ListChooser } from './strategies/list.ts';
import { PctStrategy } from './strategies/pct.ts';
import { PortfolioStrategy } from './strategies/portfolio.ts';
import { RandomStrategy } from './strategies/random.ts';
import type { Strategy } from './strategies/strategy.ts';
import type {
  ExploreFailure,
  ExploreOptions,
  ExploreReport,
  Scenario,
  ScheduleResult,
  StrategyName,
  Violation,
} from './types.ts';
import { exploreWithWorkers, MAX_WORKERS, planShares } from './workers.ts';

/** Default budget in schedules. */
export const DEFAULT_SCHEDULES = 1000;

/** PCT's bug depth when none is given. */
export const DEFAULT_PCT_DEPTH = 2;

/** The exhaustive search's preemption bound when none is given. */
export const DEFAULT_PREEMPTION_BOUND = 2;

/** Default schedules between progress reports. */
export const DEFAULT_PROGRESS_EVERY = 100;

const STRATEGIES: readonly StrategyName[] = ['random', 'pct', 'exhaustive', 'portfolio'];

/**
 * Every key `explore()` reads (the scenario's and the exploration's), so that a mistyped one
 * (`schedule`, `stratgey`) is refused instead of silently ignored; the compiler keeps the list
 * complete.
 */
const EXPLORE_OPTION_NAMES: readonly string[] = Object.keys({
  name: true,
  description: true,
  machine: true,
  setup: true,
  threads: true,
  check: true,
  teardown: true,
  snapshot: true,
  stepBudget: true,
  maxVirtualTime: true,
  strategy: true,
  schedules: true,
  seconds: true,
  seed: true,
  depth: true,
  preemptionBound: true,
  mutant: true,
  shrink: true,
  now: true,
  onProgress: true,
  progressEvery: true,
  host: true,
  oracles: true,
  shouldStop: true,
  pause: true,
  workers: true,
  pool: true,
  shard: true,
} satisfies Record<keyof ExploreOptions<unknown>, true>);

/**
 * Makes the strategy `name` for a run with these options (`threads`: the scenario's thread
 * count, which sets the portfolio's PCT depths).
 */
export function makeStrategy(
  name: StrategyName,
  seed: number,
  depth = DEFAULT_PCT_DEPTH,
  preemptionBound = DEFAULT_PREEMPTION_BOUND,
  threads = 2,
): Strategy {
  switch (name) {
    case 'portfolio':
      return new PortfolioStrategy(seed, threads);
    case 'random':
      return new RandomStrategy(seed);
    case 'pct':
      return new PctStrategy(seed, depth);
    case 'exhaustive':
      return new ExhaustiveStrategy(preemptionBound);
  }
}

function fail(what: string, message: string): never {
  throw new UsageError(`explore(options.${what})`, message);
}

function checkInteger(what: string, v: unknown, min: number): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min)
    fail(what, `must be an integer ≥ ${min}, got ${String(v)}`);
}

/** Checks the scenario part of the options (also used by {@link replay}). */
export function validateScenario(scenario: Scenario<unknown>, call: string): void {
  const bad = (what: string, message: string): never => {
    throw new UsageError(`${call}(${what})`, message);
  };
  if (typeof scenario !== 'object' || scenario === null) bad('scenario', 'must be an object');
  if (typeof scenario.name !== 'string' || scenario.name === '') bad('name', 'must be a non-empty string');
  if (typeof scenario.setup !== 'function') bad('setup', 'must be a function (machine, env) => state');
  const threads = scenario.threads as unknown;
  if (typeof threads !== 'object' || threads === null) bad('threads', 'must be an object of functions');
  const names = Object.keys(scenario.threads);
  if (names.length === 0) bad('threads', 'must name at least one thread');
  for (const n of names)
    if (typeof scenario.threads[n] !== 'function')
      bad(
        `threads.${n}`,
        `must be a function (state, machine) => Promise<void>, got ${typeof scenario.threads[n]}`,
      );
  if (scenario.check !== undefined && typeof scenario.check !== 'function')
    bad('check', 'must be a function');
  if (scenario.teardown !== undefined && typeof scenario.teardown !== 'function')
    bad('teardown', 'must be a function');
  if (scenario.snapshot !== undefined && typeof scenario.snapshot !== 'boolean')
    bad('snapshot', `must be a boolean, got ${String(scenario.snapshot)}`);
  if (
    scenario.stepBudget !== undefined &&
    (!Number.isSafeInteger(scenario.stepBudget) || scenario.stepBudget <= 0)
  )
    bad('stepBudget', `must be a positive integer, got ${String(scenario.stepBudget)}`);
  if (
    scenario.maxVirtualTime !== undefined &&
    (typeof scenario.maxVirtualTime !== 'number' || !(scenario.maxVirtualTime > 0))
  )
    bad('maxVirtualTime', `must be a positive number of ns, got ${String(scenario.maxVirtualTime)}`);
}

/** Checks every option; a {@link UsageError} names the first one that is wrong. */
function validate(o: ExploreOptions<unknown>): void {
  if (typeof o !== 'object' || o === null) throw new UsageError('explore(options)', 'must be an object');
  for (const key of Object.keys(o)) {
    if (!EXPLORE_OPTION_NAMES.includes(key)) {
      const s = suggest(key, EXPLORE_OPTION_NAMES);
      fail(key, `unknown explore() option${s ? ` (did you mean ${s}?)` : ''}`);
    }
  }
  validateScenario(o, 'explore');
  if (o.strategy !== undefined && !STRATEGIES.includes(o.strategy))
    fail('strategy', `must be one of ${STRATEGIES.join(', ')}, got ${String(o.strategy)}`);
  if (o.schedules !== undefined && o.schedules !== Number.POSITIVE_INFINITY)
    checkInteger('schedules', o.schedules, 1);
  if (o.seconds !== undefined && (typeof o.seconds !== 'number' || !(o.seconds > 0)))
    fail('seconds', `must be a positive number, got ${String(o.seconds)}`);
  if (o.seed !== undefined) checkInteger('seed', o.seed, 0);
  if (o.depth !== undefined) checkInteger('depth', o.depth, 1);
  if (o.preemptionBound !== undefined) checkInteger('preemptionBound', o.preemptionBound, 0);
  if (o.mutant !== undefined && o.mutant !== null && !isMutantId(o.mutant))
    fail('mutant', `unknown mutant ${String(o.mutant)}; known: ${MUTANT_IDS.join(', ')}`);
  if (o.shrink !== undefined && typeof o.shrink !== 'boolean') fail('shrink', 'must be a boolean');
  if (o.now !== undefined && typeof o.now !== 'function') fail('now', 'must be a function returning ms');
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function')
    fail('onProgress', 'must be a function');
  if (o.progressEvery !== undefined) checkInteger('progressEvery', o.progressEvery, 1);
  if (o.shouldStop !== undefined && typeof o.shouldStop !== 'function')
    fail('shouldStop', 'must be a function returning a boolean');
  if (o.pause !== undefined && typeof o.pause !== 'function')
    fail('pause', 'must be a function returning a promise');
  if (o.oracles !== undefined) {
    if (!Array.isArray(o.oracles)) fail('oracles', 'must be an array of oracles');
    for (const x of o.oracles)
      if (typeof x !== 'function') fail('oracles', 'every oracle must be a function');
  }
  if (o.schedules === Number.POSITIVE_INFINITY && (o.seconds === undefined || o.now === undefined))
    fail('schedules', 'Infinity needs a time budget: seconds and now');
  validateWorkers(o);
}

/** Checks `workers`, `pool` and `shard`. */
function validateWorkers(o: ExploreOptions<unknown>): void {
  if (o.workers !== undefined) {
    checkInteger('workers', o.workers, 1);
    if (o.workers > MAX_WORKERS) fail('workers', `must be at most ${MAX_WORKERS}, got ${o.workers}`);
  }
  if (
    o.pool !== undefined &&
    (typeof o.pool !== 'object' || o.pool === null || typeof o.pool.start !== 'function')
  )
    fail('pool', 'must be an object with start(share, events) (an ExplorePool)');
  if (o.shard !== undefined) {
    const sh = o.shard as unknown as Record<string, unknown> | null;
    if (typeof sh !== 'object' || sh === null) fail('shard', 'must be { index, count }');
    checkInteger('shard.count', sh.count, 1);
    checkInteger('shard.index', sh.index, 0);
    if ((sh.index as number) >= (sh.count as number))
      fail('shard', `index must lie in 0 … count − 1, got ${String(sh.index)} of ${String(sh.count)}`);
  }
  const sharded = (o.workers ?? 1) > 1 || (o.shard?.count ?? 1) > 1;
  if (sharded && o.strategy === 'exhaustive')
    fail('workers', 'an exhaustive search runs on one worker (its schedules have no seed to share out)');
  if (o.pool !== undefined && o.oracles !== undefined)
    fail(
      'oracles',
      "cannot cross to a pool's workers (functions do not): the pool's workers choose their oracles",
    );
}

/**
 * Explores `options` (a scenario plus how to explore it) and reports the first failure, shrunk
 * and with its account, or that none was found within the budget.
 */
export async function explore<S>(options: ExploreOptions<S>): Promise<ExploreReport> {
  validate(options as ExploreOptions<unknown>);
  if (options.workers !== undefined || options.shard !== undefined) {
    const timed = options.seconds !== undefined && options.now !== undefined;
    const total = options.schedules ?? (timed ? Number.POSITIVE_INFINITY : DEFAULT_SCHEDULES);
    const plan = planShares(
      options.seed ?? 1,
      total,
      options.shard ?? { index: 0, count: 1 },
      options.workers ?? 1,
    );
    if (plan.length === 0)
      fail(
        'shard',
        `shard ${options.shard!.index} of ${options.shard!.count} has no schedules of the budget`,
      );
    const { workers: _workers, shard: _shard, ...rest } = options;
    if (plan.length > 1) return exploreWithWorkers(rest, plan, explore);
    // One share runs here as a plain exploration: the same report as without workers.
    const { pool: _pool, ...one } = rest;
    const share = plan[0]!;
    return explore({
      ...one,
      seed: share.seed,
      ...(Number.isFinite(share.schedules) ? { schedules: share.schedules } : {}),
    });
  }
  const strategyName = options.strategy ?? 'portfolio';
  const seed = options.seed ?? 1;
  const mutant: MutantId | null = options.mutant ?? null;
  const now = options.now;
  const timed = options.seconds !== undefined && now !== undefined;
  const budget = options.schedules ?? (timed ? Number.POSITIVE_INFINITY : DEFAULT_SCHEDULES);
  const deadlineMs = timed ? options.seconds! * 1000 : Number.POSITIVE_INFINITY;
  const every = options.progressEvery ?? DEFAULT_PROGRESS_EVERY;
  const oracles: readonly Oracle[] = options.oracles ?? defaultOracles();
  const host: SchedulerHost | undefined = options.host;
  const strategy = makeStrategy(
    strategyName,
    seed,
    options.depth,
    options.preemptionBound,
    Object.keys(options.threads).length,
  );

  const t0 = now ? now() : 0;
  const elapsed = (): number => (now ? now() - t0 : 0);
  const coverage = new InterleavingCoverage();
  // Each schedule's machine takes the typed arrays the previous one gave back.
  const bufferPool = new BufferPool();
  let schedules = 0;
  let failing: { result: ScheduleResult; schedule: number } | null = null;
  const stop = options.shouldStop;
  // After the first schedule, each one restores the machine as setup left it (see ScheduleRunner),
  // unless the scenario opts out or the oracles are the caller's (their state may hide in closures).
  const reuse = options.snapshot !== false && options.oracles === undefined;
  const runner = new ScheduleRunner(options, { seed, mutant, oracles, host, coverage, bufferPool }, reuse);
  try {
    while (schedules < budget && (!timed || elapsed() < deadlineMs) && !(stop?.(schedules) ?? false)) {
      const chooser = strategy.next();
      if (chooser === null) break;
      const result = await runner.run(chooser);
      coverage.endSchedule();
      strategy.done(result);
      schedules++;
      if (result.violation !== null) failing = { result, schedule: schedules - 1 };
      if (options.onProgress && (schedules % every === 0 || failing !== null)) {
        options.onProgress({
          schedules,
          budget,
          elapsedMs: elapsed(),
          violations: failing === null ? 0 : 1,
        });
      }
      if (failing !== null) break;
      if (options.pause && schedules % every === 0) await options.pause();
    }
  } finally {
    runner.dispose();
  }

  let failure: ExploreFailure | null = null;
  if (failing !== null) {
    failure = await makeFailure(options, failing.result, failing.schedule, {
      seed,
      mutant,
      oracles,
      host,
      shrink: options.shrink ?? true,
    });
  }
  return {
    scenario: options.name,
    strategy: strategyName,
    mutant,
    seed,
    schedules,
    exhausted: strategy.exhausted,
    elapsedMs: elapsed(),
    failure,
    coverage: coverage.report(),
  };
}

/** Shrinks a failing schedule and replays the result with its account. */
async function makeFailure<S>(
  scenario: Scenario<S>,
  found: ScheduleResult,
  schedule: number,
  o: {
    seed: number;
    mutant: MutantId | null;
    oracles: readonly Oracle[];
    host: SchedulerHost | undefined;
    shrink: boolean;
  },
): Promise<ExploreFailure> {
  const violation = found.violation as Violation;
  const original = trimChoices(found.choices);
  const tokenOf = (choices: readonly number[]): string =>
    formatReplayToken({ scenario: scenario.name, seed: o.seed, mutant: o.mutant, choices });
  let shrunk: readonly number[] = original;
  let outcome = 'not shrunk';
  if (o.shrink) {
    const s = await shrinkSchedule(scenario, original, violation.oracle, {
      seed: o.seed,
      mutant: o.mutant,
      oracles: o.oracles,
      host: o.host,
    });
    shrunk = s.choices;
    outcome = s.reduced
      ? 'reduced'
      : s.runs >= s.maxRuns
        ? `not reduced: ${s.runs} re-runs found no simpler failing schedule (the bound)`
        : `not reduced: no decision can go and no preemption can be undone (${s.runs} re-runs)`;
  }
  const runOptions = { seed: o.seed, mutant: o.mutant, oracles: o.oracles, host: o.host, record: true };
  let replayed = await runSchedule(scenario, new ListChooser(shrunk, true), runOptions);
  if (replayed.violation === null || replayed.violation.oracle !== violation.oracle) {
    // The scenario did not repeat itself (it is not deterministic): show the original instead.
    shrunk = original;
    outcome = 'not reduced: the shrunk schedule did not fail again (a nondeterministic scenario?)';
    replayed = await runSchedule(scenario, new ListChooser(original, true), runOptions);
  }
  const shrunkPreemptions = replayed.preemptions;
  const token = tokenOf(original);
  const shrunkToken = tokenOf(shrunk);
  const text = formatAccount(replayed.account, replayed.violation ?? violation, {
    header: [
      `scenario ${scenario.name}${o.mutant === null ? '' : ` with mutant ${o.mutant}`}, seed ${o.seed}, schedule ${schedule}`,
      `replay: ${shrunkToken}${shrunkToken === token ? '' : ` (as found: ${token})`}`,
      `decision points: ${shrunk.length} (as found: ${original.length}); preemptions: ${shrunkPreemptions} (as found: ${found.preemptions}); shrinking: ${outcome}`,
      '',
    ],
  });
  return {
    violation,
    schedule,
    token,
    shrunkToken,
    originalLength: original.length,
    shrunkLength: shrunk.length,
    originalPreemptions: found.preemptions,
    shrunkPreemptions,
    shrinkOutcome: outcome,
    account: replayed.account,
    text,
  };
}

/** Options of {@link replay}. */
export interface ReplayOptions {
  /** Oracles to attach (default `defaultOracles()`). */
  readonly oracles?: readonly Oracle[];
  /** Host hooks of the machine's scheduler. */
  readonly host?: SchedulerHost;
}

/**
 * Re-runs the schedule a replay token names on `scenario` (whose name must match the token's),
 * recording its account. Beyond the token's choices every choice is 0. A token that does not fit
 * the scenario (another name, or a choice beyond a decision's candidates) is a {@link UsageError}.
 */
export async function replay<S>(
  scenario: Scenario<S>,
  token: string,
  options: ReplayOptions = {},
): Promise<ScheduleResult> {
  validateScenario(scenario as Scenario<unknown>, 'replay');
  const data = parseReplayToken(token);
  if (data.scenario !== scenario.name) {
    throw new UsageError(
      'replay(token)',
      `the token is for scenario "${data.scenario}", not "${scenario.name}"`,
    );
  }
  const chooser = new ListChooser(data.choices, true);
  let result: ScheduleResult;
  try {
    result = await runSchedule(scenario, chooser, {
      seed: data.seed,
      mutant: data.mutant,
      oracles: options.oracles ?? defaultOracles(),
      host: options.host,
      record: true,
    });
  } catch (e) {
    throw chooser.mismatch ?? e;
  }
  // A choice the scenario cannot take is the caller's mistake, not a violation of the schedule
  // (the runner may have reported it as one when a simulated thread made the decision).
  if (chooser.mismatch !== null) throw chooser.mismatch;
  return result;
}

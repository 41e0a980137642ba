/**
 * The race explorer's vocabulary: a scenario (a machine set up once, then simulated threads that
 * race), the options of an exploration, what oracles report, and the report an exploration
 * returns. Shared by the runner, the strategies, the oracles, the mutants and the CLI.
 * @module
 */
import type { Machine, MachineOptions } from '../machine.ts';
import type { MutantId } from '../mm/mutant.ts';
import type { SchedulerHost } from '../sim/scheduler.ts';
import type { Oracle } from './oracle.ts';

/** What a scenario's `setup` receives besides the machine. */
export interface ScenarioEnv {
  /** The exploration's seed (the machine's PRNG is seeded with it too). */
  readonly seed: number;
  /** The mutant switched on for this run, or null. */
  readonly mutant: MutantId | null;
}

/** One simulated thread of a scenario: runs against the public API on the state `setup` built. */
export type ScenarioThread<S> = (state: S, machine: Machine) => Promise<void>;

/**
 * A race to explore. Every schedule starts from a {@link Machine} (from `machine`, with the run's
 * seed and mutant) on which `setup` ran without preemption — built and set up for the first
 * schedule, restored to that post-setup state for the others (see `snapshot`) — then starts
 * `threads` together under the strategy's choices, waits for all of them, runs `check` and
 * `teardown` without preemption, and finally the end-of-run oracles (balance).
 */
export interface Scenario<S = unknown> {
  /** Short name (used in reports, replay tokens and the CLI). */
  readonly name: string;
  /** One sentence: what races with what. */
  readonly description?: string;
  /** Options of the machine built for every schedule (small memory keeps runs cheap). */
  readonly machine?: MachineOptions;
  /** Builds processes, mappings, devices and the state the threads share; not explored. */
  setup(machine: Machine, env: ScenarioEnv): Promise<S> | S;
  /** The racing threads, by name (the names appear in accounts of failures). */
  readonly threads: Readonly<Record<string, ScenarioThread<S>>>;
  /** After every thread finished: the scenario's own expectations (throw to report a violation). */
  check?(state: S, machine: Machine): Promise<void> | void;
  /**
   * Releases what the scenario holds so the balance oracle can check that everything came back.
   * Default: close every dmirror file still open and exit every live process.
   */
  teardown?(state: S, machine: Machine): Promise<void> | void;
  /**
   * Restore the machine instead of setting it up again (default true): `explore` runs `setup`
   * once, records the machine, the state `setup` returned and the oracles as they stand, and puts
   * them back before every later schedule — each schedule still starts from exactly what `setup`
   * built, at a fraction of the cost. It relies on the scenario keeping what its threads, `check`
   * and `teardown` change in the machine or in that state (not in variables its functions close
   * over), and on `setup` doing nothing outside the machine that a schedule needs done again.
   * false: build and set up a fresh machine for every schedule. Schedules run with the caller's
   * own `oracles`, replays and shrinking always use fresh machines.
   */
  readonly snapshot?: boolean;
  /** Preemption points allowed per schedule before a liveness violation (default 200,000). */
  readonly stepBudget?: number;
  /** Virtual nanoseconds the threads may take before a liveness violation (default 500 ms). */
  readonly maxVirtualTime?: number;
}

/**
 * How schedules are chosen: a random walk, PCT at one depth, a bounded exhaustive search, or the
 * portfolio (random and PCT at depths 2 … threads + 1, in turn).
 */
export type StrategyName = 'random' | 'pct' | 'exhaustive' | 'portfolio';

/** Progress of a long exploration, delivered to {@link ExploreOptions.onProgress}. */
export interface ExploreProgress {
  /** Schedules run so far. */
  readonly schedules: number;
  /** The budget in schedules (Infinity when only a time budget was given). */
  readonly budget: number;
  /** Milliseconds elapsed by the injected clock (0 without one). */
  readonly elapsedMs: number;
  /** Violations found so far (exploration stops at the first unless `keepGoing`). */
  readonly violations: number;
}

/** Options of {@link explore}: a scenario plus how to explore it. */
export interface ExploreOptions<S = unknown> extends Scenario<S> {
  /**
   * Strategy (default 'portfolio'; before it was 'random': pass `strategy: 'random'` to repeat an
   * earlier exploration's seeded results — replay tokens hold choices, not strategies, and replay
   * as before).
   */
  readonly strategy?: StrategyName;
  /** Budget in schedules (default 1000). */
  readonly schedules?: number;
  /** Budget in seconds of the injected clock `now` (ignored without it). */
  readonly seconds?: number;
  /** Seed of the strategy's choices and of the machines (default 1). */
  readonly seed?: number;
  /** PCT: the bug depth d (d − 1 priority change points; default 2). */
  readonly depth?: number;
  /** Exhaustive: the preemption bound (default 2). */
  readonly preemptionBound?: number;
  /** A mistake to switch on in every machine of the run (default none). */
  readonly mutant?: MutantId | null;
  /** Shrink the first failing schedule (default true). */
  readonly shrink?: boolean;
  /** Milliseconds now, from the host (`performance.now`); the core has no clock of its own. */
  readonly now?: () => number;
  /** Receives progress every `progressEvery` schedules (default 100). */
  readonly onProgress?: (progress: ExploreProgress) => void;
  /** Schedules between progress reports. */
  readonly progressEvery?: number;
  /** Host hooks of the machines' schedulers (e.g. `idle` to catch awaits outside the simulation). */
  readonly host?: SchedulerHost;
  /** Oracles attached to every schedule (default `defaultOracles()` of src/explore/oracles). */
  readonly oracles?: readonly Oracle[];
  /**
   * Asked before each schedule with the number run so far: true ends the exploration there (an
   * interrupt, or a worker told to stop after some schedule), and the report covers the
   * schedules run so far.
   */
  readonly shouldStop?: (schedules: number) => boolean;
  /**
   * Awaited every `progressEvery` schedules: the host lets its event loop run (signals, output,
   * messages) — a run of promise jobs alone would hold them back until the end.
   */
  readonly pause?: () => Promise<void>;
  /**
   * Workers (default 1): the budget is split into this many shares, share k exploring seed
   * `seed + k` (see {@link ExploreShard}), run by `pool`. The report is the same whichever pool
   * runs them (and however fast): the first failure by schedule, then by worker.
   */
  readonly workers?: number;
  /**
   * Runs the shares of an exploration with workers (default: one after another in this thread).
   * A host supplies one built on its threads: worker_threads in Node (as the CLI does), Web
   * Workers in a browser.
   */
  readonly pool?: ExplorePool;
  /**
   * This exploration is shard `index` of `count` (default 0 of 1): its workers are the global
   * workers `index + k·count`, so `count` shards of W workers explore what `count·W` workers
   * would on one machine.
   */
  readonly shard?: ExploreShard;
}

/** One step of an interleaving, as the account of a failure shows it. */
export interface AccountStep {
  /** Virtual time, ns. */
  readonly time: number;
  /** The thread that acted. */
  readonly thread: string;
  /** What it did: a preemption point, a system call, a fault, an invalidation, a device command… */
  readonly what: string;
}

/** What an oracle found wrong. */
export interface Violation {
  /** The oracle: 'mirror', 'use-after-free', 'lost-data', 'balance', 'liveness', 'assertion', 'scenario'. */
  readonly oracle: string;
  /** What was wrong, with addresses, pfns and the states that disagree. */
  readonly message: string;
  /** The thread running when it was seen. */
  readonly thread: string;
  /** Virtual time when it was seen, ns. */
  readonly time: number;
}

/** The outcome of one schedule. */
export interface ScheduleResult {
  /** The choices made at every decision point (index into the candidates), in order. */
  readonly choices: readonly number[];
  /** The first violation, or null when every oracle was satisfied. */
  readonly violation: Violation | null;
  /** The interleaving, step by step (recorded on replays and failures; empty otherwise). */
  readonly account: readonly AccountStep[];
  /** Preemption points passed. */
  readonly steps: number;
  /** Context switches. */
  readonly switches: number;
  /** Decisions that preempted the running thread (switches the schedule forced). */
  readonly preemptions: number;
  /** Virtual time at the end, ns. */
  readonly time: number;
}

/** A failing schedule, made usable. */
export interface ExploreFailure {
  /** The violation of the failing schedule as found. */
  readonly violation: Violation;
  /** Which schedule (0-based) failed. */
  readonly schedule: number;
  /** Replay token of the schedule as found. */
  readonly token: string;
  /** Replay token of the shrunk schedule (the same when not shrunk). */
  readonly shrunkToken: string;
  /** Decision points of the original schedule. */
  readonly originalLength: number;
  /** Decision points of the shrunk schedule (never more than the original's). */
  readonly shrunkLength: number;
  /** Preemptions of the original schedule. */
  readonly originalPreemptions: number;
  /** Preemptions of the shrunk schedule. */
  readonly shrunkPreemptions: number;
  /**
   * What shrinking did, in words: 'reduced', 'not reduced: …' (every decision and preemption
   * was needed, or the runs ran out), or 'not shrunk' (shrink off).
   */
  readonly shrinkOutcome: string;
  /** The shrunk schedule's account, step by step. */
  readonly account: readonly AccountStep[];
  /** The account as readable text: who did what, in order, and the disagreeing states. */
  readonly text: string;
}

/** What {@link explore} returns. */
export interface ExploreReport {
  /** Scenario name. */
  readonly scenario: string;
  /** Strategy used. */
  readonly strategy: StrategyName;
  /** Mutant switched on, or null. */
  readonly mutant: MutantId | null;
  /** Seed. */
  readonly seed: number;
  /** Schedules run. */
  readonly schedules: number;
  /** Exhaustive search only: true when every schedule within the bound was run. */
  readonly exhausted: boolean;
  /** Milliseconds elapsed by the injected clock (0 without one). */
  readonly elapsedMs: number;
  /** The first failure, or null when no schedule violated anything. */
  readonly failure: ExploreFailure | null;
  /**
   * Interleaving coverage: distinct ordered pairs of preemption points seen at switches (absent
   * from reports made before it existed).
   */
  readonly coverage?: ExploreCoverage;
  /** With several workers: each worker's seed, schedules counted, and whether its failure won. */
  readonly workers?: readonly ExploreWorkerSummary[];
}

/** One worker's part of an exploration with workers. */
export interface ExploreWorkerSummary {
  /** The worker's seed. */
  readonly seed: number;
  /** Schedules counted (those it ran before the winning failure's place in the merge order). */
  readonly schedules: number;
  /** True when this worker found the reported failure. */
  readonly failed: boolean;
}

/**
 * One ordered pair of preemption points: where a thread gave up the CPU, where the next thread
 * resumed, and the schedule (1-based count) that first saw the pair.
 */
export type CoveragePair = readonly [from: string, to: string, firstAt: number];

/** Interleaving coverage of an exploration (see {@link ExploreReport.coverage}). */
export interface ExploreCoverage {
  /**
   * Distinct ordered pairs (a, b): a thread gave up the CPU at preemption point a and the next
   * thread resumed at point b.
   */
  readonly pairs: number;
  /** Distinct preemption-point labels seen at switches. */
  readonly points: number;
  /**
   * The schedule (1-based count) that added the last new pair (0: none). Far below `schedules`
   * means more schedules of this strategy have stopped finding new interleavings.
   */
  readonly lastNewAt: number;
  /**
   * Every pair seen, with the schedule that first saw it, so that the coverage of workers and
   * shards unites exactly (absent from reports made before it existed).
   */
  readonly seen?: readonly CoveragePair[];
}

/** Shard `index` (0-based) of `count`. */
export interface ExploreShard {
  /** This shard, 0 … count − 1. */
  readonly index: number;
  /** Shards in all. */
  readonly count: number;
}

/**
 * What one worker explores: plain data (it crosses to another thread by structured clone), the
 * scenario named rather than carried — the pool's worker rebuilds it from its own source.
 */
export interface ExploreShare {
  /** The worker, 0 … workers − 1 (the merge order among workers). */
  readonly worker: number;
  /** The scenario's name (the worker checks that it rebuilt the same one). */
  readonly scenario: string;
  /** Strategy. */
  readonly strategy: StrategyName;
  /** This worker's seed. */
  readonly seed: number;
  /** This worker's budget in schedules (Infinity: only the time budget). */
  readonly schedules: number;
  /** Time budget in seconds of the worker's clock, if any. */
  readonly seconds?: number;
  /** PCT depth, if given. */
  readonly depth?: number;
  /** Exhaustive bound, if given (never used: exhaustive search is not sharded). */
  readonly preemptionBound?: number;
  /** The mutant switched on, or null. */
  readonly mutant: MutantId | null;
  /** Shrink the worker's first failure. */
  readonly shrink: boolean;
  /** Schedules between the worker's progress reports. */
  readonly progressEvery: number;
}

/** What a pool reports while a share runs. */
export interface ExploreShareEvents {
  /** The share's own progress (its schedules so far). */
  progress(progress: ExploreProgress): void;
}

/** A share being run by a pool. */
export interface ExploreShareRun {
  /** The share's report (as {@link exploreShare} returns it in the worker). */
  readonly report: Promise<ExploreReport>;
  /**
   * The share may stop once it has run `schedules` schedules (it may run a few more before it
   * hears of it: they are cut from the merge). Called again with smaller numbers.
   */
  stopAfter(schedules: number): void;
}

/** Runs the shares of an exploration with workers; see the module comment. */
export interface ExplorePool {
  /** Starts one share (the pool may queue it until a worker is free). */
  start(share: ExploreShare, events: ExploreShareEvents): ExploreShareRun;
}

/**
 * What `hmmsim explore` explores with: the options given (on the command line, or in the page's
 * Race panel) over the defaults of the scenario file's `explore` object or of the mutant, and the
 * checks of how the options combine. Node-free, so the page resolves its settings with the same
 * function as the CLI and shows the same messages.
 * @module
 */
import { DEFAULT_SCHEDULES } from '../explore/explore.ts';
import type { MutantSpec } from '../explore/mutants/spec.ts';
import type { StrategyName } from '../explore/types.ts';
import { CliUsageError } from './errors.ts';
import type { ExploreSpec } from './scenario/types.ts';

/** The options of `hmmsim explore` that choose what to run, as given (absent: not given). */
export interface ExploreFlags {
  readonly strategy?: StrategyName;
  readonly schedules?: number;
  readonly seconds?: number;
  readonly seed?: number;
  /** `--depth` (pct). */
  readonly depth?: number;
  /** `--bound` (exhaustive: the preemption bound). */
  readonly bound?: number;
}

/** What an exploration runs with once the options met the defaults. */
export interface ExploreSettings {
  readonly strategy: StrategyName;
  /** Undefined: a time budget only (`--seconds` alone). */
  readonly schedules: number | undefined;
  readonly seconds: number | undefined;
  readonly seed: number;
  /** Undefined: the explorer's own default. */
  readonly depth: number | undefined;
  readonly bound: number | undefined;
}

/** The defaults a mutant gives `hmmsim explore --mutant ID`: its strategy and budget. */
export function mutantDefaults(spec: Pick<MutantSpec, 'strategy' | 'schedules'>): ExploreSpec {
  return { strategy: spec.strategy, schedules: spec.schedules };
}

/**
 * Throws the CLI's usage error for an option that does not apply to `strategy` (the strategy the
 * exploration will run, given or default): `--depth` is PCT's, `--bound` the exhaustive search's.
 */
export function checkExploreFlags(
  flags: Pick<ExploreFlags, 'depth' | 'bound'>,
  strategy: StrategyName,
): void {
  if (flags.depth !== undefined && strategy !== 'pct')
    throw new CliUsageError('--depth applies to --strategy pct', 'explore');
  if (flags.bound !== undefined && strategy !== 'exhaustive')
    throw new CliUsageError('--bound applies to --strategy exhaustive', 'explore');
}

/**
 * The options over the defaults, as `hmmsim explore` takes them: a given option wins, then the
 * scenario's (or mutant's) default, then the CLI's own. `--seconds` alone is a time budget: the
 * default schedule count applies only when no budget is given at all.
 */
export function exploreSettings(flags: ExploreFlags, defaults: ExploreSpec): ExploreSettings {
  const strategy = flags.strategy ?? defaults.strategy ?? 'random';
  checkExploreFlags(flags, strategy);
  return {
    strategy,
    schedules:
      flags.schedules ??
      (flags.seconds === undefined ? (defaults.schedules ?? DEFAULT_SCHEDULES) : undefined),
    seconds: flags.seconds,
    seed: flags.seed ?? defaults.seed ?? 1,
    depth: flags.depth ?? defaults.depth,
    bound: flags.bound ?? defaults.bound,
  };
}

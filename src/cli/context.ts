/**
 * What every command handler gets, the exit codes, and the helpers shared by the commands.
 * @module
 */
import { readFileSync } from 'node:fs';
import { CliUsageError, type OptionValues } from './args.ts';
import type { CliIo } from './io.ts';
import type { ScenarioDoc } from './scenario/types.ts';
import { loadScenario } from './scenario/validate.ts';
import { TraceFile } from './tracing.ts';

/** Exit code: success. */
export const EXIT_OK = 0;
/** Exit code: a check, test or expectation failed, or a violation was found. */
export const EXIT_FAILED = 1;
/** Exit code: usage error. */
export const EXIT_USAGE = 2;
/** Exit code: invalid scenario file. */
export const EXIT_SCENARIO = 3;
/** Exit code: internal error. */
export const EXIT_INTERNAL = 4;

/** Where the demo's trace goes unless --trace or --no-trace is given. */
export const DEFAULT_DEMO_TRACE = 'hmmsim-demo.trace.json';

/** What a command handler gets. */
export interface CommandContext {
  readonly io: CliIo;
  readonly options: OptionValues;
  readonly positionals: readonly string[];
  readonly json: boolean;
  /** Prints the JSON document of a --json run. */
  readonly emit: (doc: unknown) => void;
  /** Prints text (nothing under --json). */
  readonly print: (line: string) => void;
  /** Resolves a path from the user's directory. */
  readonly resolve: (p: string) => string;
}

/** Reads and validates a scenario file named on the command line. */
export function readScenario(ctx: CommandContext, file: string): ScenarioDoc {
  let text: string;
  try {
    text = readFileSync(ctx.resolve(file), 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : err.message;
    throw new CliUsageError(`cannot read scenario file ${file}: ${why}`);
  }
  return loadScenario(text, file);
}

/** Opens the --trace file if one was asked for. */
export function openTrace(ctx: CommandContext, file: unknown): TraceFile | null {
  return typeof file === 'string' ? new TraceFile(ctx.resolve(file)) : null;
}

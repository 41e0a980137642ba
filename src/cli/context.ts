/**
 * What every command handler gets, the exit codes, and the helpers shared by the commands.
 * @module
 */
import { readFileSync } from 'node:fs';
import { CliUsageError, type OptionValues } from './args.ts';
import type { CliIo } from './io.ts';
import type { ScenarioDoc } from './scenario/types.ts';
import { loadScenario } from './scenario/validate.ts';
import { DEFAULT_TRACE_SPACING_NS, TraceFile } from './tracing.ts';

export { EXIT_FAILED, EXIT_INTERNAL, EXIT_OK, EXIT_SCENARIO, EXIT_USAGE } from './errors.ts';

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
  /** The signal that interrupted the command (SIGINT, SIGTERM), or null. */
  readonly interrupted: () => string | null;
  /** Registers what to do on an interrupt (tell workers to stop); long loops also poll {@link interrupted}. */
  readonly onInterrupt: (stop: () => void) => void;
}

/** The package's version (package.json, two levels up from both src/cli and dist/cli). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Reads and validates a scenario file named on the command line (`-`: standard input). */
export function readScenario(ctx: CommandContext, file: string): ScenarioDoc {
  if (file === '-') {
    if (ctx.io.readStdin === undefined)
      throw new CliUsageError('there is no standard input to read the scenario from');
    return loadScenario(ctx.io.readStdin(), '<stdin>');
  }
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

/** The `--trace-spacing` of the command line, or the CLI's default. */
export function traceSpacing(ctx: CommandContext): number {
  return (ctx.options['trace-spacing'] as number | undefined) ?? DEFAULT_TRACE_SPACING_NS;
}

/** Opens the --trace file if one was asked for. */
export function openTrace(ctx: CommandContext, file: unknown): TraceFile | null {
  return typeof file === 'string' ? new TraceFile(ctx.resolve(file), traceSpacing(ctx)) : null;
}

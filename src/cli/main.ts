/**
 * The `hmmsim` command: `hmmsim <command> [options]` with the commands demo, run, selftest,
 * explore, trace and help. `bin/hmmsim.mjs` calls {@link main}; tests call it with their own
 * {@link CliIo}.
 *
 * Exit codes: 0 success; 1 a check, test or expectation failed, or a violation was found;
 * 2 usage error; 3 invalid scenario file; 4 internal error.
 *
 * Adding a command: a {@link CommandSpec} in `specs.ts` (listed in `COMMANDS`) and a handler in
 * `HANDLERS` below. The framework gives it, with nothing more to write: `--help`/`-h` (anywhere on
 * its line), `hmmsim help <command>`, its entry in `hmmsim help`, option parsing with
 * did-you-mean, `hmmsim --version`, and the error discipline: throw `CliUsageError` (exit 2),
 * `CliInputError` (3) or `CliCheckFailed` (1) from `errors.ts` with a one-line message; anything
 * else that escapes is reported as an internal error (4) without a stack trace.
 * @module
 */
import path from 'node:path';
import type { Machine } from '../machine.ts';
import { KselftestTap, listSelftests, runSelftest, type SelftestResult } from '../selftest/index.ts';
import { type CommandSpec, formatHelp, parseArgs } from './args.ts';
import {
  type CommandContext,
  DEFAULT_DEMO_TRACE,
  EXIT_FAILED,
  EXIT_INTERNAL,
  EXIT_OK,
  EXIT_SCENARIO,
  EXIT_USAGE,
  openTrace,
  packageVersion,
  readScenario,
  traceSpacing,
} from './context.ts';
import { formatCounters } from './counters.ts';
import { runDemoDetailed } from './demo.ts';
import { CliError, CliUsageError, EXIT_SIGINT, EXIT_SIGTERM } from './errors.ts';
import { NODE_HOST, runExplore } from './explore-command.ts';
import { type CliIo, nodeIo, Progress } from './io.ts';
import { KernelUnavailableError } from './kernel/artifacts.ts';
import { artifactsFor, kernelCommand, runKernel, selftestKernel } from './kernel/commands.ts';
import { selftestCowKernel } from './kernel/cow-selftest.ts';
import { runScenario, type StepReport } from './scenario/run.ts';
import { formatIssue, ScenarioError } from './scenario/validate.ts';
import { selftestCow } from './selftest-cow.ts';
import { COMMANDS, overview } from './specs.ts';
import { suggest } from './suggest.ts';
import { summarizeTrace, TraceFile } from './tracing.ts';
import { runWeb } from './web.ts';
import { runWorkloadCommand } from './workload/command.ts';

type Handler = (ctx: CommandContext) => Promise<number>;

/** Runs `hmmsim` with `argv` (the words after `hmmsim`); resolves to the exit code. */
export async function main(argv: readonly string[], io: CliIo = nodeIo()): Promise<number> {
  const wantsJson = argv.includes('--json');
  const emit = (doc: unknown): void => io.out(`${JSON.stringify(doc, null, 2)}\n`);
  const usage = (message: string, command?: string): number => {
    if (wantsJson) emit({ ok: false, exitCode: EXIT_USAGE, error: message });
    io.err(`hmmsim: ${message}\n`);
    io.err(command ? `Run 'hmmsim ${command} --help' for usage.\n` : "Run 'hmmsim help' for the commands.\n");
    return EXIT_USAGE;
  };
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.err(overview());
    return EXIT_USAGE;
  }
  if (name === '--help' || name === '-h') {
    io.out(overview());
    return EXIT_OK;
  }
  if (name === '--version' || name === '-V') {
    if (wantsJson) emit({ name: 'hmmsim', version: packageVersion() });
    else io.out(`hmmsim ${packageVersion()}\n`);
    return EXIT_OK;
  }
  const spec = COMMANDS.find((c) => c.name === name);
  if (spec === undefined) {
    if (name.startsWith('-')) return usage(`expected a command before ${name}`);
    const s = suggest(
      name,
      COMMANDS.map((c) => c.name),
    );
    return usage(`unknown command "${name}"${s ? ` (did you mean "${s}"?)` : ''}`);
  }
  try {
    const { options, positionals } = parseArgs(spec, rest);
    if (options.help) {
      io.out(formatHelp(spec));
      return EXIT_OK;
    }
    const json = options.json === true;
    let interrupted: string | null = null;
    const stops: (() => void)[] = [];
    const ctx: CommandContext = {
      io,
      options,
      positionals,
      json,
      emit,
      print: (line) => {
        if (!json) io.out(`${line}\n`);
      },
      resolve: (p) => path.resolve(io.cwd, p),
      interrupted: () => interrupted,
      onInterrupt: (stop) => {
        stops.push(stop);
      },
    };
    // SIGINT/SIGTERM stop the command at its next safe point (between schedules or tests): the
    // trace file is closed valid and the report covers the work done. A second signal kills.
    const off = io.onInterrupt?.((signal) => {
      interrupted = signal;
      for (const stop of stops) stop();
    });
    let code: number;
    try {
      code = await HANDLERS[spec.name]!(ctx);
    } finally {
      off?.();
    }
    if (interrupted !== null && spec.endsOnSignal !== true) {
      io.err(`hmmsim: interrupted by ${interrupted}: the output above covers the work done before it\n`);
      // A violation found is still the answer (1); otherwise the shell's code for the signal.
      if (code !== EXIT_FAILED) code = interrupted === 'SIGINT' ? EXIT_SIGINT : EXIT_SIGTERM;
    }
    return code;
  } catch (e) {
    return reportError(e, spec.name, io, wantsJson, emit, usage);
  }
}

/**
 * What every command's failure prints: a {@link CliError} (usage, input file, failed check) as
 * one line with its exit code; scenario issues as `file:line:column: path: message` lines (3);
 * anything else is a bug in hmmsim (4): one line, the stack only under `HMMSIM_DEBUG=1`.
 */
function reportError(
  e: unknown,
  command: string,
  io: CliIo,
  wantsJson: boolean,
  emit: (doc: unknown) => void,
  usage: (message: string, command?: string) => number,
): number {
  if (e instanceof CliUsageError) return usage(e.message, e.command ?? command);
  if (e instanceof CliError) {
    if (wantsJson) emit({ ok: false, exitCode: e.exitCode, error: e.message });
    io.err(`hmmsim: ${e.message}\n`);
    return e.exitCode;
  }
  if (e instanceof ScenarioError) {
    if (wantsJson) emit({ ok: false, exitCode: EXIT_SCENARIO, issues: e.issues });
    for (const i of e.issues) io.err(`${formatIssue(i)}\n`);
    return EXIT_SCENARIO;
  }
  if (e instanceof KernelUnavailableError) {
    // The kernel oracle could not run: say what is missing; never a skip.
    if (wantsJson) emit({ ok: false, exitCode: EXIT_FAILED, error: e.message });
    io.err(`hmmsim: the kernel oracle cannot run: ${e.message}\n`);
    return EXIT_FAILED;
  }
  const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  if (wantsJson) emit({ ok: false, exitCode: EXIT_INTERNAL, error: what });
  io.err(`hmmsim: internal error (a bug in hmmsim, please report it): ${what}\n`);
  if (io.debug && e instanceof Error && e.stack) io.err(`${e.stack}\n`);
  else io.err('Run with HMMSIM_DEBUG=1 for the stack trace.\n');
  return EXIT_INTERNAL;
}

const us = (ns: number): string => `${(ns / 1000).toFixed(1).padStart(9)} µs`;

function stepLine(r: StepReport): string {
  const checked = r.checked.length > 0 ? `  ✓ ${r.checked.join(', ')}` : '';
  return `${us(r.time)}  ${r.actor.padEnd(12)} ${r.text}${checked}`;
}

async function demo(ctx: CommandContext): Promise<number> {
  if (ctx.options['no-trace'] && ctx.options.trace !== undefined) {
    throw new CliUsageError('give --trace FILE or --no-trace, not both');
  }
  const traceArg = ctx.options['no-trace']
    ? undefined
    : ((ctx.options.trace as string | undefined) ?? DEFAULT_DEMO_TRACE);
  const trace = openTrace(ctx, traceArg);
  const result = await runDemoDetailed({
    print: ctx.print,
    onMachine: (m) => trace?.attach(m, 'hmmsim demo'),
  });
  await trace?.close();
  if (ctx.json) {
    ctx.emit({
      command: 'demo',
      ok: true,
      entries: result.entries,
      counters: result.counters,
      trace: trace?.path ?? null,
    });
  } else if (trace) {
    ctx.print(`\ntrace written to ${traceArg}: open it in https://ui.perfetto.dev (or chrome://tracing)`);
  }
  return EXIT_OK;
}

async function run(ctx: CommandContext): Promise<number> {
  if (ctx.options.kernel) {
    if (ctx.options.trace !== undefined) throw new CliUsageError('--trace cannot be combined with --kernel');
    return runKernel(ctx);
  }
  const file = ctx.positionals[0]!;
  const doc = readScenario(ctx, file);
  const trace = openTrace(ctx, ctx.options.trace);
  ctx.print(`scenario ${doc.name}${doc.description ? `: ${doc.description}` : ''}\n`);
  let result: Awaited<ReturnType<typeof runScenario>>;
  try {
    result = await runScenario(doc, {
      onMachine: (m: Machine) => trace?.attach(m, `scenario ${doc.name}`),
      onStep: (r) => ctx.print(stepLine(r)),
      host: NODE_HOST,
    });
  } finally {
    await trace?.close();
  }
  const checks = result.steps.reduce((n, s) => n + s.checked.length, 0);
  if (ctx.json) {
    ctx.emit({
      command: 'run',
      scenario: doc.name,
      file,
      ok: result.ok,
      steps: result.steps,
      failure: result.failure,
      counters: result.counters,
      trace: trace?.path ?? null,
    });
  } else {
    if (result.failure) {
      const f = result.failure;
      ctx.print(`\nFAIL ${file}:${f.line}: ${f.path} (${f.op}): ${f.message}`);
    } else {
      ctx.print(`\nPASS ${doc.name}: ${result.steps.length} steps, ${checks} expectations met`);
    }
    ctx.print('\ncounters:');
    for (const l of formatCounters(result.counters)) ctx.print(l);
    if (trace) ctx.print(`\ntrace written to ${ctx.options.trace}: open it in https://ui.perfetto.dev`);
  }
  return result.ok ? EXIT_OK : EXIT_FAILED;
}

/** True when `name` matches `pattern`: a glob when it has * or ?, a substring otherwise. */
export function matchesFilter(name: string, pattern: string): boolean {
  if (!/[*?]/.test(pattern)) return name.includes(pattern);
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(name);
}

/** `hmmsim selftest --suite hmm|cow|all`: hmm-tests.c's port (the default), cow.c's, or both. */
async function selftest(ctx: CommandContext): Promise<number> {
  const suite = (ctx.options.suite as string | undefined) ?? 'hmm';
  if (suite === 'hmm') return selftestHmm(ctx);
  if (suite === 'all' && ctx.json)
    throw new CliUsageError('--json reports one suite: give --suite hmm or --suite cow');
  if (ctx.options.kernel && ctx.options.trace !== undefined)
    throw new CliUsageError('--trace cannot be combined with --kernel');
  const hmm = suite === 'all' ? await selftestHmm(ctx) : EXIT_OK;
  const cow = ctx.options.kernel
    ? await selftestCowKernel(ctx, await artifactsFor(ctx), matchesFilter)
    : await selftestCow(ctx, matchesFilter);
  return Math.max(hmm, cow);
}

async function selftestHmm(ctx: CommandContext): Promise<number> {
  if (ctx.options.kernel) {
    if (ctx.options.trace !== undefined) throw new CliUsageError('--trace cannot be combined with --kernel');
    return selftestKernel(ctx, matchesFilter);
  }
  const filter = ctx.options.filter as string | undefined;
  const cases = listSelftests().filter((c) => filter === undefined || matchesFilter(c.name, filter));
  if (cases.length === 0) throw new CliUsageError(`no self-test matches --filter ${filter}`);
  const trace = openTrace(ctx, ctx.options.trace);
  const tap = new KselftestTap((line) => ctx.print(line));
  const progress = new Progress(ctx.io);
  const results: SelftestResult[] = [];
  const t0 = ctx.io.now();
  tap.plan(cases);
  try {
    for (const [i, c] of cases.entries()) {
      if (ctx.interrupted() !== null) break;
      progress.update(`[${i + 1}/${cases.length}] ${c.name}`, true);
      const r = await runSelftest(c, { onMachine: (m) => trace?.attach(m, c.name) });
      trace?.detachAll();
      progress.done();
      results.push(r);
      tap.result(i, r);
      // Let the event loop run between tests: a closed stdout (`| head -1`) is reported as an
      // error event, which a run of promise jobs alone would hold back until the last test.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    progress.done();
    await trace?.close();
  }
  const ok = tap.finish();
  if (trace) ctx.print(`# trace written to ${ctx.options.trace}`);
  if (ctx.json) {
    ctx.emit({
      command: 'selftest',
      ok,
      total: results.length,
      passed: results.filter((r) => r.ok).length,
      failed: results.filter((r) => !r.ok).length,
      elapsedMs: Math.round(ctx.io.now() - t0),
      results,
      trace: trace?.path ?? null,
    });
  }
  return ok ? EXIT_OK : EXIT_FAILED;
}

async function traceCommand(ctx: CommandContext): Promise<number> {
  const out = (ctx.options.output ?? ctx.options.trace) as string | undefined;
  if (out === undefined) throw new CliUsageError('missing -o FILE (where to write the trace)');
  if (ctx.options.output !== undefined && ctx.options.trace !== undefined) {
    throw new CliUsageError('give -o FILE once (--trace is the same option)');
  }
  const what = ctx.positionals[0]!;
  let ok = true;
  let name = 'demo';
  if (what === 'demo') {
    const trace = new TraceFile(ctx.resolve(out), traceSpacing(ctx));
    await runDemoDetailed({ onMachine: (m) => trace.attach(m, 'hmmsim demo') });
    await trace.close();
  } else {
    const doc = readScenario(ctx, what);
    name = doc.name;
    const trace = new TraceFile(ctx.resolve(out), traceSpacing(ctx));
    try {
      const r = await runScenario(doc, {
        onMachine: (m) => trace.attach(m, `scenario ${doc.name}`),
        host: NODE_HOST,
      });
      ok = r.ok;
      if (r.failure && !ctx.json) {
        ctx.io.err(
          `FAIL ${what}:${r.failure.line}: ${r.failure.path} (${r.failure.op}): ${r.failure.message}\n`,
        );
      }
    } finally {
      await trace.close();
    }
  }
  const summary = summarizeTrace(ctx.resolve(out));
  if (ctx.json) {
    ctx.emit({ command: 'trace', ok, source: name, file: out, ...summary });
  } else {
    ctx.print(
      `wrote ${out}: ${summary.events} events, ${summary.spans} spans, ${summary.tracks.length} tracks`,
    );
    ctx.print(`  tracks: ${summary.tracks.join(', ')}`);
    ctx.print('open it in https://ui.perfetto.dev (or chrome://tracing)');
  }
  return ok ? EXIT_OK : EXIT_FAILED;
}

async function help(ctx: CommandContext): Promise<number> {
  // No machine is created: --trace FILE gets a valid, empty trace.
  await openTrace(ctx, ctx.options.trace)?.close();
  const topic = ctx.positionals[0];
  if (topic !== undefined) {
    const spec = COMMANDS.find((c) => c.name === topic);
    if (spec === undefined) {
      const s = suggest(
        topic,
        COMMANDS.map((c) => c.name),
      );
      throw new CliUsageError(`unknown command "${topic}"${s ? ` (did you mean "${s}"?)` : ''}`, 'help');
    }
    if (ctx.json) ctx.emit(specJson(spec));
    else ctx.io.out(formatHelp(spec));
    return EXIT_OK;
  }
  if (ctx.json) ctx.emit({ command: 'help', commands: COMMANDS.map(specJson) });
  else ctx.io.out(overview());
  return EXIT_OK;
}

function specJson(spec: CommandSpec): unknown {
  return {
    name: spec.name,
    summary: spec.summary,
    usage: spec.usage.map((u) => `hmmsim ${u}`),
    options: spec.options.map((o) => ({ name: `--${o.name}`, kind: o.kind, description: o.description })),
    examples: spec.examples.map(([c, d]) => ({ command: `hmmsim ${c}`, description: d })),
  };
}

const HANDLERS: Record<string, Handler> = {
  demo,
  run,
  selftest,
  explore: (ctx) => runExplore(ctx),
  trace: traceCommand,
  workload: runWorkloadCommand,
  web: runWeb,
  kernel: kernelCommand,
  help,
};

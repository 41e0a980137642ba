/**
 * Runs the benchmarks in bench/ (every `*.bench.ts`, or the ones named) and prints a table.
 *
 *   npm run bench                         every benchmark
 *   npm run bench -- first-touch          one (or several) by name
 *   npm run bench -- --json               also write the results as JSON (bench-results.json)
 *   npm run bench -- --json=out.json      … to a chosen file ('-' for stdout)
 *   npm run bench -- --reps 7 --warmup 2  repetitions and warm-up runs per benchmark
 *   npm run bench -- --cpu-prof=prof      write a V8 CPU profile of each benchmark to prof/
 *
 * Each benchmark runs in its own node process (`--expose-gc`, a fresh heap, a time limit), so
 * one benchmark's garbage does not slow the next. Extra node flags pass through NODE_OPTIONS
 * (those node allows there); `--cpu-prof` profiles the benchmark processes (open the
 * `.cpuprofile` in Chrome DevTools or speedscope).
 * @module
 */
import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type Benchmark,
  type BenchResult,
  formatNumber,
  gcAvailable,
  type HostInfo,
  hostInfo,
  meets,
} from './harness.ts';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
/** Where the human-readable output goes: stdout, or stderr when the JSON goes to stdout. */
let out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const SUFFIX = '.bench.ts';
/** Marker of the child's result line on its stdout. */
const RESULT_MARK = '@@bench-result@@';
/** A benchmark taking longer than this is killed and reported as failed. */
const TIME_LIMIT_MS = 180_000;

interface Args {
  names: string[];
  json: string | null;
  reps: number | null;
  warmup: number;
  child: string | null;
  cpuProf: string | null;
}

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: tsx bench/run.ts [name ...] [--json[=file]] [--reps N] [--warmup N] [--cpu-prof[=dir]]\n`,
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = { names: [], json: null, reps: null, warmup: 1, child: null, cpuProf: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const count = (v: string | undefined): number => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) usage(`${arg} needs a non-negative integer, got ${v}`);
      return n;
    };
    if (arg === '--json') a.json = 'bench-results.json';
    else if (arg.startsWith('--json=')) a.json = arg.slice('--json='.length);
    else if (arg === '--reps') a.reps = Math.max(1, count(argv[++i]));
    else if (arg === '--warmup') a.warmup = count(argv[++i]);
    else if (arg === '--child') a.child = argv[++i] ?? usage('--child needs a file');
    else if (arg === '--cpu-prof') a.cpuProf = 'bench-profiles';
    else if (arg.startsWith('--cpu-prof=')) a.cpuProf = arg.slice('--cpu-prof='.length);
    else if (arg === '--help' || arg === '-h') usage('');
    else if (arg.startsWith('-')) usage(`unknown option ${arg}`);
    else a.names.push(arg);
  }
  return a;
}

/** Every benchmark file, sorted by name. */
function benchFiles(): string[] {
  return readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith(SUFFIX))
    .sort()
    .map((f) => path.join(BENCH_DIR, f));
}

function nameOf(file: string): string {
  return path.basename(file, SUFFIX);
}

interface Report {
  benchmark: string;
  description: string;
  seconds: number;
  results: BenchResult[];
  error?: string;
}

/** Child mode: runs one benchmark file and prints its report as one marked JSON line. */
async function runChild(file: string, args: Args): Promise<void> {
  const mod = (await import(pathToFileURL(file).href)) as { default: Benchmark };
  const b = mod.default;
  const t0 = performance.now();
  const results = await b.run({ repetitions: args.reps ?? b.repetitions ?? 5, warmup: args.warmup });
  const report: Report = {
    benchmark: b.name,
    description: b.description,
    seconds: (performance.now() - t0) / 1000,
    results,
  };
  process.stdout.write(`${RESULT_MARK}${JSON.stringify(report)}\n`);
}

/** Runs one benchmark file in a child node process. */
function runInChild(file: string, args: Args): Promise<Report> {
  const childArgs = ['--expose-gc'];
  if (args.cpuProf !== null) childArgs.push('--cpu-prof', `--cpu-prof-dir=${args.cpuProf}`);
  childArgs.push('--import', import.meta.resolve('tsx'), fileURLToPath(import.meta.url));
  childArgs.push('--child', file, '--warmup', String(args.warmup));
  if (args.reps !== null) childArgs.push('--reps', String(args.reps));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, childArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), TIME_LIMIT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARK));
      for (const l of stdout.split('\n'))
        if (l !== '' && !l.startsWith(RESULT_MARK)) process.stderr.write(`${l}\n`);
      if (line !== undefined && code === 0) {
        resolve(JSON.parse(line.slice(RESULT_MARK.length)) as Report);
        return;
      }
      const why = signal === 'SIGKILL' ? `killed after ${TIME_LIMIT_MS / 1000} s` : `exit ${code ?? signal}`;
      resolve({ benchmark: nameOf(file), description: '', seconds: 0, results: [], error: why });
    });
  });
}

function printHost(h: HostInfo): void {
  out(`machine: ${h.cpu}, ${h.cores} cores, ${h.memoryGiB} GiB RAM`);
  out(`node ${h.node}, ${h.os}, ${h.date}, load average ${h.loadAverage}`);
}

function printTable(reports: Report[]): void {
  const rows: string[][] = [['benchmark', 'figure', 'best', 'median', 'unit', 'goal', 'n', 'note']];
  for (const r of reports) {
    if (r.error !== undefined) {
      rows.push([r.benchmark, '-', '-', '-', '-', '-', '-', `FAILED: ${r.error}`]);
      continue;
    }
    for (const x of r.results) {
      const goal =
        x.goal === undefined
          ? ''
          : `${x.goal.op} ${formatNumber(x.goal.value)} ${meets(x.median, x.goal) ? 'met' : 'MISSED'}`;
      rows.push([
        r.benchmark,
        x.name,
        formatNumber(x.best),
        formatNumber(x.median),
        x.unit,
        goal,
        String(x.samples.length),
        x.note ?? '',
      ]);
    }
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const numeric = new Set([2, 3, 6]);
  const fmt = (row: string[]): string =>
    row
      .map((cell, c) =>
        c === row.length - 1 ? cell : numeric.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!),
      )
      .join('  ');
  out(fmt(rows[0]!));
  out(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows.slice(1)) out(fmt(row));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.child !== null) {
    if (!gcAvailable()) process.stderr.write('warning: no --expose-gc, heap figures are noisy\n');
    await runChild(args.child, args);
    return;
  }
  const all = benchFiles();
  const unknown = args.names.filter((n) => !all.some((f) => nameOf(f) === n));
  if (unknown.length > 0)
    usage(`unknown benchmark ${unknown.join(', ')}; available: ${all.map(nameOf).join(', ')}`);
  const files = args.names.length === 0 ? all : all.filter((f) => args.names.includes(nameOf(f)));
  if (args.json === '-')
    out = (line: string): void => {
      process.stderr.write(`${line}\n`);
    };
  const host = hostInfo();
  printHost(host);
  const reports: Report[] = [];
  for (const file of files) {
    process.stderr.write(`running ${nameOf(file)} …\n`);
    const r = await runInChild(file, args);
    process.stderr.write(`  ${r.error ?? `done in ${r.seconds.toFixed(1)} s`}\n`);
    reports.push(r);
  }
  out(`\nload average at the end: ${os.loadavg()[0]!.toFixed(2)}`);
  printTable(reports);
  if (args.json !== null) {
    const text = `${JSON.stringify({ host, reports }, null, 2)}\n`;
    if (args.json === '-') process.stdout.write(text);
    else {
      writeFileSync(args.json, text);
      out(`\nresults written to ${args.json}`);
    }
  }
  if (reports.some((r) => r.error !== undefined)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

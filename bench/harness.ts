/**
 * The benchmark harness: what a benchmark file exports, timing helpers (warm-up, repetitions,
 * min / median), garbage collection between samples, and the description of the host machine.
 *
 * The workloads here are large (hundreds of thousands of pages) and each timed step needs an
 * untimed set-up of the same size (a populated 1 GiB mapping before `fork`), so samples are taken
 * by hand with `performance.now()` around exactly the step measured, rather than by a
 * micro-benchmark loop.
 * @module
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';

/** A goal a figure is held to. */
export interface Goal {
  /** `>=`: higher is better; `<=`: lower is better. */
  readonly op: '>=' | '<=';
  /** The bound, in the result's unit. */
  readonly value: number;
}

/** One figure a benchmark reports. */
export interface BenchResult {
  /** Short name, unique within its benchmark. */
  readonly name: string;
  /** Unit of `min`, `median` and `samples`. */
  readonly unit: string;
  /** Best sample (the smallest for times, the largest for rates), or the single value. */
  readonly best: number;
  /** Median of the samples. */
  readonly median: number;
  /** Every sample, in the order taken. */
  readonly samples: readonly number[];
  /** The goal, if there is one. */
  readonly goal?: Goal;
  /** Informational note (set-up, what was measured). */
  readonly note?: string;
}

/** Options passed to every benchmark. */
export interface BenchOptions {
  /** Timed repetitions (after the warm-up). */
  readonly repetitions: number;
  /** Untimed warm-up repetitions. */
  readonly warmup: number;
}

/** What a `*.bench.ts` file exports as default. */
export interface Benchmark {
  /** Name (the file name without `.bench.ts`). */
  readonly name: string;
  /** One line on what it measures. */
  readonly description: string;
  /** Default repetitions (the runner's `--reps` overrides). */
  readonly repetitions?: number;
  /** Runs the benchmark and returns its figures. */
  run(options: BenchOptions): Promise<BenchResult[]>;
}

/** The median of `xs` (mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Builds a result from samples; `higherIsBetter` picks the best sample. */
export function summarize(
  name: string,
  unit: string,
  samples: readonly number[],
  higherIsBetter: boolean,
  extra: { goal?: Goal; note?: string } = {},
): BenchResult {
  const best = higherIsBetter ? Math.max(...samples) : Math.min(...samples);
  return { name, unit, best, median: median(samples), samples: [...samples], ...extra };
}

/** Runs a full garbage collection when node runs with `--expose-gc` (the runner passes it). */
export function collectGarbage(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

/**
 * Collects garbage, then lets the host finish releasing it (the previous sample's memory is
 * returned to the OS by background threads) before the next sample starts.
 */
export async function settle(ms = 200): Promise<void> {
  collectGarbage();
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** True when `collectGarbage` really collects. */
export function gcAvailable(): boolean {
  return typeof (globalThis as { gc?: () => void }).gc === 'function';
}

/** Milliseconds taken by `fn`. */
export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** The host: CPU model, cores, RAM, Node version, OS. */
export interface HostInfo {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly os: string;
  readonly date: string;
  /** 1-minute load average when the run started (other work on the machine skews figures). */
  readonly loadAverage: number;
}

/** Describes the machine the benchmarks run on. */
export function hostInfo(): HostInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString(),
    loadAverage: Math.round(os.loadavg()[0]! * 100) / 100,
  };
}

/** Formats a figure with a precision suited to its size. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (Number.isInteger(x) || a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

/** True when `value` meets `goal`. */
export function meets(value: number, goal: Goal): boolean {
  return goal.op === '>=' ? value >= goal.value : value <= goal.value;
}

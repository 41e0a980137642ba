/**
 * The workload model's fast tier: simulated GPU faults per second of host time, for whole runs
 * (generation, CPU init, kernels, fault servicing) of 4 GiB footprints on `titanv-pcie3` with
 * nvidia-uvm:
 *
 * - `stream-4g`: BabelStream triad over three arrays (4 GiB in all), prefetching on (the default):
 *   few faults per batch, large prefetches.
 * - `random-4g`: every page of 4 GiB once in random order, prefetching off (SC21 "Random"): the
 *   most faults and VA blocks per batch.
 * - `oversub-1.5`: the stream run at 1.5× oversubscription (evictions on every batch).
 *
 * Figure: faults fetched by the driver (counters.faults) per second of wall-clock time, and per
 * second of the process's CPU time (`…/cpu`, user + system from `process.cpuUsage`): on a shared,
 * overloaded host the process waits for a core, which the wall figure counts and the CPU figure
 * does not, so the CPU figure is what the run costs on a core of its own. Each wall figure also
 * carries its ratio to a reference measured in the same process just before (`reference`: a
 * typed-array loop testing and setting bits of a 4 GiB page bitmap in random order, the fast
 * tier's innermost operation), so that runs on differently loaded hosts compare. Notes carry the
 * host's load average.
 * @module
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { generatorWorkload, type RunResult, runWorkload } from '../src/workload/index.ts';
import { type Benchmark, type BenchResult, collectGarbage, summarize } from './harness.ts';

const GIB = 1024 ** 3;
const GOAL = { op: '>=', value: 1_000_000 } as const;

/** Bit tests and sets per second on a 1 M-page bitmap in a seeded random order. */
function reference(): number {
  const pages = (4 * GIB) / 4096;
  const bits = new Uint32Array(pages / 32);
  let x = 12345;
  const t0 = performance.now();
  let hits = 0;
  for (let i = 0; i < 8 * pages; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const p = x % pages;
    if ((bits[p >>> 5]! >>> (p & 31)) & 1) hits++;
    else bits[p >>> 5]! |= 1 << (p & 31);
  }
  const s = (performance.now() - t0) / 1000;
  if (hits < 0) throw new Error('unreachable');
  return (8 * pages) / s;
}

/** One measured case: a generator over 4 GiB with settings and an oversubscription. */
export interface WorkloadBenchCase {
  readonly name: string;
  readonly gen: string;
  readonly set: readonly (readonly [string, number])[];
  readonly oversub?: number;
}

/**
 * The measured cases. `test/unit/workload/bench-results.test.ts` pins their counters and virtual
 * times, so that speed work cannot change what they compute.
 */
export const WORKLOAD_BENCH_CASES: readonly WorkloadBenchCase[] = [
  { name: 'stream-4g', gen: 'stream', set: [] },
  { name: 'random-4g', gen: 'random-page', set: [['prefetchEnable', 0]] },
  { name: 'oversub-1.5', gen: 'stream', set: [], oversub: 1.5 },
];

/** Runs one case (no timing). */
export function runBenchCase(c: WorkloadBenchCase): RunResult {
  return runWorkload(generatorWorkload(c.gen, 4 * GIB, {}), {
    platform: 'titanv-pcie3',
    set: c.set,
    ...(c.oversub !== undefined ? { oversub: c.oversub } : {}),
  });
}

function faultsPerSecond(c: WorkloadBenchCase): { rate: number; cpuRate: number; faults: number } {
  collectGarbage();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = runBenchCase(c);
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  return { rate: r.counters.faults / s, cpuRate: r.counters.faults / cpuS, faults: r.counters.faults };
}

const bench: Benchmark = {
  name: 'workload',
  description: 'workload model fast tier: simulated GPU faults per second on 4 GiB footprints',
  repetitions: 3,
  async run({ repetitions, warmup }) {
    const out: BenchResult[] = [];
    const refs: number[] = [];
    for (let i = 0; i < warmup; i++) reference();
    for (let i = 0; i < repetitions; i++) refs.push(reference());
    const ref = summarize('reference', 'bit ops/s', refs, true, {
      note: 'random bit test-and-set on a 4 GiB page bitmap',
    });
    out.push(ref);
    for (const c of WORKLOAD_BENCH_CASES) {
      const name = c.name;
      for (let i = 0; i < warmup; i++) faultsPerSecond(c);
      const samples: number[] = [];
      const cpuSamples: number[] = [];
      let faults = 0;
      for (let i = 0; i < repetitions; i++) {
        const r = faultsPerSecond(c);
        samples.push(r.rate);
        cpuSamples.push(r.cpuRate);
        faults = r.faults;
      }
      const load = `load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`;
      const s = summarize(name, 'faults/s', samples, true, {
        goal: GOAL,
        note: `${faults} faults per run, ${load}`,
      });
      out.push(s);
      out.push(
        summarize(`${name}/cpu`, 'faults/CPU-s', cpuSamples, true, {
          goal: GOAL,
          note: `faults per second of process CPU time (user + system), ${load}`,
        }),
      );
      out.push(
        summarize(`${name}/reference`, 'ratio', [s.median / ref.median], true, {
          note: 'median faults/s ÷ median reference ops/s, same process',
        }),
      );
    }
    return out;
  },
};

export default bench;

/**
 * The kernel's `benchmark_thp_migration` (tools/testing/selftests/mm/hmm-tests.c) on hmmsim: for
 * buffer sizes from a quarter THP to 128 THPs (T = 2 MiB: 512 KiB … 256 MiB), with THP
 * (MADV_HUGEPAGE) and without (MADV_NOHUGEPAGE), a warm-up round then timed rounds of
 * MIGRATE_TO_DEV and MIGRATE_TO_SYS on a device-private dmirror device, averaged like the
 * kernel's (milliseconds per migration and GB/s, GB = 2^30 bytes). The mapping is not aligned,
 * as in the kernel test, so only the 2 MiB runs it happens to cover can move as THPs.
 *
 * Each figure is given on two clocks:
 *
 * - `virtual`: the simulated machine's clock, advanced by the dmirror device's cost model (copy
 *   bandwidth and allocations, src/devices/dmirror/cost.ts) and HMM walks. Deterministic.
 * - `wall`: host time the simulation takes (`performance.now()`): the cost of simulating it.
 *
 * Run it alone with `npx tsx bench/thp-migration.bench.ts` (prints the kernel's tables), or with
 * the other benchmarks through `npm run bench -- thp-migration`.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import {
  type DmirrorFile,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from '../src/index.ts';
import { type Benchmark, type BenchResult, collectGarbage, formatNumber, summarize } from './harness.ts';

/** THP size (`read_pmd_pagesize()`). */
const THP_SIZE = 2 * 1024 * 1024;
/** The kernel's sizes and names. */
const TESTS: readonly { size: number; name: string }[] = [
  { size: THP_SIZE / 4, name: 'Small Buffer' },
  { size: THP_SIZE / 2, name: 'Half THP Size' },
  { size: THP_SIZE, name: 'Single THP Size' },
  { size: THP_SIZE * 2, name: 'Two THP Size' },
  { size: THP_SIZE * 4, name: 'Four THP Size' },
  { size: THP_SIZE * 8, name: 'Eight THP Size' },
  { size: THP_SIZE * 128, name: 'One twenty eight THP Size' },
];
/** The kernel's iteration count. */
const ITERATIONS = 5;
/**
 * RAM of the machine: the largest buffer (256 MiB) plus the system pages backing it on the
 * device-private device (another 256 MiB), with room to spare.
 */
const MEMORY = 768 * 1024 * 1024;

/** `struct benchmark_results` on one clock. */
interface Results {
  sysToDevMs: number;
  devToSysMs: number;
  throughputS2d: number;
  throughputD2s: number;
}

/** One run: its per-iteration samples on both clocks, and the averages. */
interface Run {
  wall: Results;
  virtual: Results;
  s2dWall: number[];
  d2sWall: number[];
}

function results(size: number, s2d: number[], d2s: number[]): Results {
  const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const sysToDevMs = avg(s2d);
  const devToSysMs = avg(d2s);
  const gib = size / 2 ** 30;
  return {
    sysToDevMs,
    devToSysMs,
    throughputS2d: gib / (sysToDevMs / 1000),
    throughputD2s: gib / (devToSysMs / 1000),
  };
}

/** One migration command; throws with the kernel's meaning when it fails. */
async function migrate(fd: DmirrorFile, toDev: boolean, addr: number, npages: number): Promise<void> {
  const r = toDev ? await fd.migrateToDev(addr, npages) : await fd.migrateToSys(addr, npages);
  if (r.ret !== 0) throw new Error(`${toDev ? 'MIGRATE_TO_DEV' : 'MIGRATE_TO_SYS'} failed with ${r.ret}`);
}

/** `run_migration_benchmark`. */
async function runMigrationBenchmark(
  machine: Machine,
  proc: Process,
  fd: DmirrorFile,
  useThp: boolean,
  bufferSize: number,
  iterations: number,
  warmup: number,
): Promise<Run> {
  const npages = bufferSize / PAGE_SIZE;
  const clock = machine.sched.clock;
  const addr = await proc.mmap(0, bufferSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (addr < 0) throw new Error(`mmap failed: ${addr}`);
  const ret = await proc.madvise(addr, bufferSize, useThp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  if (ret !== 0) throw new Error(`madvise failed: ${ret}`);

  // Initialize memory to make sure pages are allocated: int i holds i & 0xff.
  const init = new Int32Array(bufferSize / 4);
  for (let i = 0; i < init.length; i++) init[i] = i & 0xff;
  await proc.write(addr, new Uint8Array(init.buffer));

  for (let w = 0; w < warmup; w++) {
    await migrate(fd, true, addr, npages);
    await migrate(fd, false, addr, npages);
  }

  const s2dWall: number[] = [];
  const d2sWall: number[] = [];
  const s2dVirtual: number[] = [];
  const d2sVirtual: number[] = [];
  for (let i = 0; i < iterations; i++) {
    let t0 = performance.now();
    let v0 = clock.now;
    await migrate(fd, true, addr, npages);
    s2dWall.push(performance.now() - t0);
    s2dVirtual.push((clock.now - v0) / 1e6);

    t0 = performance.now();
    v0 = clock.now;
    await migrate(fd, false, addr, npages);
    d2sWall.push(performance.now() - t0);
    d2sVirtual.push((clock.now - v0) / 1e6);
  }
  await proc.munmap(addr, bufferSize);
  collectGarbage();
  return {
    wall: results(bufferSize, s2dWall, d2sWall),
    virtual: results(bufferSize, s2dVirtual, d2sVirtual),
    s2dWall,
    d2sWall,
  };
}

/** A machine with the four dmirror devices and a process with /dev/hmm_dmirror0 open. */
async function setup(): Promise<{ machine: Machine; proc: Process; fd: DmirrorFile }> {
  const machine = new Machine({ memory: MEMORY, thp: 'madvise', hugetlbPages: 1 });
  const device = machine.addDmirrorDevice();
  const proc = await machine.createProcess();
  const fd = await device.open(proc);
  return { machine, proc, fd };
}

/** `print_benchmark_results`, once per clock. */
function printResults(name: string, size: number, thp: Run, regular: Run): void {
  const line = (label: string, a: number, b: number, unit: string, better: number): string =>
    `${label.padEnd(21)}| ${`${a.toFixed(3)} ${unit}`.padEnd(16)}| ${`${b.toFixed(3)} ${unit}`.padEnd(16)}| ${better.toFixed(1)}%`;
  process.stdout.write(`\n=== ${name} (${(size / (1024 * 1024)).toFixed(1)} MB) ===\n`);
  for (const clock of ['virtual', 'wall'] as const) {
    const t = thp[clock];
    const r = regular[clock];
    process.stdout.write(
      `${`[${clock} clock]`.padEnd(21)}| With THP        | Without THP     | Improvement\n`,
    );
    process.stdout.write(`${'-'.repeat(69)}\n`);
    process.stdout.write(
      `${line('Sys->Dev Migration', t.sysToDevMs, r.sysToDevMs, 'ms', ((r.sysToDevMs - t.sysToDevMs) / r.sysToDevMs) * 100)}\n`,
    );
    process.stdout.write(
      `${line('Dev->Sys Migration', t.devToSysMs, r.devToSysMs, 'ms', ((r.devToSysMs - t.devToSysMs) / r.devToSysMs) * 100)}\n`,
    );
    process.stdout.write(
      `${line('S->D Throughput', t.throughputS2d, r.throughputS2d, 'GB/s', ((t.throughputS2d - r.throughputS2d) / r.throughputS2d) * 100)}\n`,
    );
    process.stdout.write(
      `${line('D->S Throughput', t.throughputD2s, r.throughputD2s, 'GB/s', ((t.throughputD2s - r.throughputD2s) / r.throughputD2s) * 100)}\n`,
    );
  }
}

/** Runs every size with and without THP; `report` sees each pair of runs. */
async function runAll(
  iterations: number,
  warmup: number,
  report: (name: string, size: number, thp: Run, regular: Run) => void,
): Promise<void> {
  const { machine, proc, fd } = await setup();
  for (const { size, name } of TESTS) {
    // Skip test sizes exceeding INT_MAX to avoid overflow.
    if (size > 0x7fff_ffff) break;
    const thp = await runMigrationBenchmark(machine, proc, fd, true, size, iterations, warmup);
    const regular = await runMigrationBenchmark(machine, proc, fd, false, size, iterations, warmup);
    report(name, size, thp, regular);
  }
  await fd.close();
  await proc.exit();
}

const benchmark: Benchmark = {
  name: 'thp-migration',
  description:
    'benchmark_thp_migration: MIGRATE_TO_DEV / MIGRATE_TO_SYS of 512 KiB … 256 MiB, with and without THP, on a device-private dmirror device',
  repetitions: ITERATIONS,
  async run({ repetitions, warmup }): Promise<BenchResult[]> {
    const out: BenchResult[] = [];
    await runAll(repetitions, Math.max(1, warmup), (_name, size, thp, regular) => {
      const mib = `${size / 2 ** 20} MiB`;
      for (const [mode, run] of [
        ['thp', thp],
        ['4k', regular],
      ] as const) {
        const v = run.virtual;
        out.push(
          summarize(`${mib} ${mode} sys->dev`, 'ms', run.s2dWall, false, {
            note: `wall; virtual ${formatNumber(v.sysToDevMs)} ms = ${formatNumber(v.throughputS2d)} GB/s`,
          }),
          summarize(`${mib} ${mode} dev->sys`, 'ms', run.d2sWall, false, {
            note: `wall; virtual ${formatNumber(v.devToSysMs)} ms = ${formatNumber(v.throughputD2s)} GB/s`,
          }),
        );
      }
    });
    return out;
  },
};

export default benchmark;

// Run directly: the kernel benchmark's output.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write('\nHMM THP Migration Benchmark\n---------------------------\n');
  process.stdout.write(`System page size: ${PAGE_SIZE} bytes\n`);
  const t0 = performance.now();
  await runAll(ITERATIONS, 1, printResults);
  process.stdout.write(`\n(${((performance.now() - t0) / 1000).toFixed(1)} s of wall time)\n`);
}

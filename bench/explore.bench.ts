/**
 * Schedules per second of the race explorer on its smallest real race: a device READ of four
 * pages racing an `munmap` of them (one process, the pages written in setup, one dmirror file
 * with a 2 MiB chunk), random strategy, default oracles on, as `explore()` runs it for any
 * user: the first schedule builds an 8 MiB machine and runs setup, every later one restores the
 * machine as setup left it (the post-setup snapshot); each races the two threads, tears
 * everything down (the file's close evicts the device's chunk; the process exits) and runs the
 * end-of-run oracles. The race, `read-vs-store` (a READ of one page racing a store32),
 * is measured the same way.
 *
 * Figures: `read-vs-store` and `random` — schedules per second over a batch of {@link BATCH}
 * schedules (median of the repetitions); `read-vs-store CPU` (info) — CPU µs per schedule of
 * the same batches; `machine` (info) — µs to build and tear down the scenario's machine alone
 * (setup, no threads), what a schedule cost before the snapshot at least.
 * @module
 */
import { performance } from 'node:perf_hooks';
import type { DmirrorFile } from '../src/devices/dmirror/file.ts';
import { explore } from '../src/explore/explore.ts';
import { defaultTeardown } from '../src/explore/runner.ts';
import type { Scenario } from '../src/explore/types.ts';
import {
  EFAULT,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../src/index.ts';
import type { Process } from '../src/mm/process.ts';
import { type Benchmark, type BenchResult, summarize } from './harness.ts';

/** Pages read and unmapped. */
const NPAGES = 4;
/** Schedules per sample. */
const BATCH = 2000;
const GOAL = { op: '>=', value: 5000 } as const;

interface State {
  readonly process: Process;
  readonly file: DmirrorFile;
  readonly addr: number;
}

/**
 * The benchmark's scenario: a device read racing an munmap. `explore` sets it up once and
 * restores the machine before each later schedule (`Scenario.snapshot`, on by default).
 */
export const readVersusMunmap: Scenario<State> = {
  name: 'read-vs-munmap',
  description: 'a dmirror READ of four written pages races an munmap of them',
  machine: { memory: 8 * 1024 * 1024, hugetlbPages: 0 },
  async setup(machine) {
    const process = await machine.createProcess();
    const len = NPAGES * PAGE_SIZE;
    const addr = await process.mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (let i = 0; i < NPAGES; i++) await process.store32(addr + i * PAGE_SIZE, i + 1);
    const file = await machine.addDmirrorDevice({ chunkSize: 2 * 1024 * 1024 }).open(process);
    return { process, file, addr };
  },
  threads: {
    async 'device-read'(s) {
      const r = await s.file.read(s.addr, NPAGES);
      if (r.ret !== 0 && r.ret !== -EFAULT) throw new Error(`READ returned ${r.ret}`);
    },
    async munmap(s) {
      const r = await s.process.munmap(s.addr, NPAGES * PAGE_SIZE);
      if (r !== 0) throw new Error(`munmap returned ${r}`);
    },
  },
};

/** The minimal race: a dmirror READ of one written page races a CPU store to it. */
export const readVersusStore: Scenario<State> = {
  name: 'read-vs-store',
  description: 'a dmirror READ of a written page races a CPU store32 to it',
  machine: { memory: 8 * 1024 * 1024, hugetlbPages: 0 },
  async setup(machine) {
    const process = await machine.createProcess();
    const addr = await process.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    await process.store32(addr, 1);
    const file = await machine.addDmirrorDevice({ chunkSize: 2 * 1024 * 1024 }).open(process);
    return { process, file, addr };
  },
  threads: {
    async 'device-read'(s) {
      const r = await s.file.read(s.addr, 1);
      if (r.ret !== 0) throw new Error(`READ returned ${r.ret}`);
    },
    async store(s) {
      await s.process.store32(s.addr, 2);
    },
  },
};

/** CPU µs per schedule of the last {@link schedulesPerSecond} call (user + system, this process). */
let lastCpuMicros = 0;

async function schedulesPerSecond(
  seed: number,
  scenario: Scenario<State> = readVersusMunmap,
): Promise<number> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const report = await explore({ ...scenario, strategy: 'random', schedules: BATCH, seed });
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  lastCpuMicros = (cpu.user + cpu.system) / report.schedules;
  if (report.failure !== null) throw new Error(`unexpected violation:\n${report.failure.text}`);
  return (report.schedules / ms) * 1000;
}

async function machineMicros(): Promise<number> {
  const n = 500;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const m = new Machine(readVersusMunmap.machine);
    await readVersusMunmap.setup(m, { seed: 1, mutant: null });
    await defaultTeardown(m);
  }
  return ((performance.now() - t0) / n) * 1000;
}

const bench: Benchmark = {
  name: 'explore',
  description: 'race explorer: schedules/s of a device read racing an munmap (random, default oracles)',
  repetitions: 5,
  async run({ repetitions, warmup }): Promise<BenchResult[]> {
    const rates: number[] = [];
    const machines: number[] = [];
    const stores: number[] = [];
    const storeCpu: number[] = [];
    for (let i = 0; i < warmup + repetitions; i++) {
      const r = await schedulesPerSecond(i + 1);
      const st = await schedulesPerSecond(i + 1, readVersusStore);
      const stCpu = lastCpuMicros;
      const m = await machineMicros();
      if (i < warmup) continue;
      rates.push(r);
      stores.push(st);
      storeCpu.push(stCpu);
      machines.push(m);
    }
    return [
      summarize('read-vs-store', 'schedules/s', stores, true, {
        goal: { op: '>=', value: 15_000 },
        note: `${BATCH} schedules per sample: a dmirror READ of one page races a store32 (goal 25,000)`,
      }),
      summarize('read-vs-store CPU', 'µs', storeCpu, false, {
        note: 'CPU time (user + system) per schedule of the read-vs-store samples: the figure least moved by load (info)',
      }),
      summarize('random', 'schedules/s', rates, true, {
        goal: GOAL,
        note: `${BATCH} schedules per sample, 8 MiB machine, 2 MiB chunk`,
      }),
      summarize('machine', 'µs', machines, false, { note: 'setup + teardown alone (info)' }),
    ];
  },
};

export default bench;

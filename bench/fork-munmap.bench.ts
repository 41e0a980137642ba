/**
 * fork and munmap of a populated 1 GiB private anonymous mapping (262,144 pages, 4 KiB each) on a
 * 1.5 GiB machine. Each sample: `mmap(MAP_POPULATE)` (untimed, reported for information); then,
 * each timed on its own:
 *
 * - `fork`: `dup_mmap` / `copy_page_range`: every PTE copied write-protected, every page's
 *   mapcount and refcount raised.
 * - `munmap-child`: the child unmaps the whole mapping (every page still mapped by the parent).
 * - `munmap-parent`: the parent unmaps it (every page's last mapping: the frames are freed).
 *
 * then the child exits (untimed). Figure: milliseconds. In two settings, as in first-touch:
 *
 * - `warm`: one machine for every sample; the page-table pool and the frame metadata arrays were
 *   already used by the previous samples (the simulation's steady state).
 * - `cold`: a fresh machine per sample; the host backs the metadata arrays and the page-table
 *   pool for the first time as they are written, and frees the previous machine's memory.
 * @module
 */
import { performance } from 'node:perf_hooks';
import {
  MAP_ANONYMOUS,
  MAP_POPULATE,
  MAP_PRIVATE,
  Machine,
  MM_ANONPAGES,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from '../src/index.ts';
import { type Benchmark, type BenchResult, collectGarbage, settle, summarize } from './harness.ts';

const BYTES = 2 ** 30;
const PAGES = BYTES / PAGE_SIZE;
const MEMORY = 1.5 * 2 ** 30;
const GOAL = { op: '<=', value: 50 } as const;

interface Sample {
  populate: number;
  fork: number;
  munmapChild: number;
  munmapParent: number;
}

/** One sample on `machine`, whose process `parent` maps nothing at the start and at the end. */
async function sample(machine: Machine, parent: Process): Promise<Sample> {
  let t0 = performance.now();
  const addr = await parent.mmap(
    0,
    BYTES,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
    -1,
    0,
  );
  const populate = performance.now() - t0;
  if (addr < 0) throw new Error(`mmap failed: ${addr}`);
  if (parent.mm.rss[MM_ANONPAGES] !== PAGES)
    throw new Error(`populate left ${parent.mm.rss[MM_ANONPAGES]} of ${PAGES} pages resident`);
  const usedBefore = machine.pm.ramFrames - machine.pm.freeFrames;
  collectGarbage();

  t0 = performance.now();
  const child = await parent.fork();
  const fork = performance.now() - t0;
  if (child.mm.rss[MM_ANONPAGES] !== PAGES)
    throw new Error(`the child has ${child.mm.rss[MM_ANONPAGES]} of ${PAGES} pages`);
  collectGarbage();

  t0 = performance.now();
  let r = await child.munmap(addr, BYTES);
  const munmapChild = performance.now() - t0;
  if (r !== 0) throw new Error(`child munmap returned ${r}`);
  if (machine.pm.ramFrames - machine.pm.freeFrames !== usedBefore)
    throw new Error('the child munmap freed frames the parent still maps');
  collectGarbage();

  t0 = performance.now();
  r = await parent.munmap(addr, BYTES);
  const munmapParent = performance.now() - t0;
  if (r !== 0) throw new Error(`parent munmap returned ${r}`);
  if (machine.pm.ramFrames - machine.pm.freeFrames !== usedBefore - PAGES)
    throw new Error('the parent munmap did not free every frame');

  await child.exit();
  return { populate, fork, munmapChild, munmapParent };
}

async function warm(warmup: number, repetitions: number): Promise<Sample[]> {
  const machine = new Machine({ memory: MEMORY });
  const parent = await machine.createProcess();
  const out: Sample[] = [];
  // At least two untimed passes: the first backs the host memory, the second lets the JIT settle.
  const untimed = Math.max(2, warmup);
  for (let i = 0; i < untimed + repetitions; i++) {
    const s = await sample(machine, parent);
    if (i >= untimed) out.push(s);
  }
  await parent.exit();
  return out;
}

async function cold(warmup: number, repetitions: number): Promise<Sample[]> {
  const out: Sample[] = [];
  for (let i = 0; i < warmup + repetitions; i++) {
    await settle();
    const machine = new Machine({ memory: MEMORY });
    const parent = await machine.createProcess();
    const s = await sample(machine, parent);
    await parent.exit();
    if (i >= warmup) out.push(s);
  }
  return out;
}

const benchmark: Benchmark = {
  name: 'fork-munmap',
  description: 'fork, then munmap in child and parent, of a populated 1 GiB private anonymous mapping',
  repetitions: 7,
  async run({ repetitions, warmup }): Promise<BenchResult[]> {
    const results: BenchResult[] = [];
    for (const [mode, run] of [
      ['warm', warm],
      ['cold', cold],
    ] as const) {
      const samples = await run(warmup, repetitions);
      const col = (k: keyof Sample): number[] => samples.map((s) => s[k]);
      const machineNote = mode === 'cold' ? '; fresh machine' : '';
      results.push(
        summarize(`fork ${mode}`, 'ms', col('fork'), false, {
          goal: GOAL,
          note: `${PAGES} PTEs copied write-protected${machineNote}`,
        }),
        summarize(`munmap-child ${mode}`, 'ms', col('munmapChild'), false, {
          goal: GOAL,
          note: `pages stay mapped by the parent${machineNote}`,
        }),
        summarize(`munmap-parent ${mode}`, 'ms', col('munmapParent'), false, {
          goal: GOAL,
          note: `last mapping: every frame freed${machineNote}`,
        }),
        summarize(`populate ${mode} (info)`, 'ms', col('populate'), false, {
          note: `mmap(MAP_POPULATE) of 1 GiB, write faults without data${machineNote}`,
        }),
      );
    }
    return results;
  },
};

export default benchmark;

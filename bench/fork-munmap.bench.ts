/**
 * fork and munmap of a populated 1 GiB private anonymous mapping (262,144 pages, 4 KiB each) on a
 * 1.5 GiB machine. Each sample: a fresh machine; `mmap(MAP_POPULATE)` (untimed, reported for
 * information); then, each timed on its own:
 *
 * - `fork`: `dup_mmap` / `copy_page_range`: every PTE copied write-protected, every page's
 *   mapcount and refcount raised.
 * - `munmap-child`: the child unmaps the whole mapping (every page still mapped by the parent).
 * - `munmap-parent`: the parent unmaps it (every page's last mapping: the frames are freed).
 *
 * then both processes exit (untimed). Figure: milliseconds.
 * @module
 */
import { performance } from 'node:perf_hooks';
import {
  MAP_ANONYMOUS,
  MAP_POPULATE,
  MAP_PRIVATE,
  MM_ANONPAGES,
  Machine,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../src/index.ts';
import { type Benchmark, type BenchResult, collectGarbage, summarize } from './harness.ts';

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

async function sample(): Promise<Sample> {
  const machine = new Machine({ memory: MEMORY });
  const parent = await machine.createProcess();
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
  await parent.exit();
  return { populate, fork, munmapChild, munmapParent };
}

const benchmark: Benchmark = {
  name: 'fork-munmap',
  description: 'fork, then munmap in child and parent, of a populated 1 GiB private anonymous mapping',
  repetitions: 5,
  async run({ repetitions, warmup }): Promise<BenchResult[]> {
    for (let i = 0; i < warmup; i++) {
      await sample();
      collectGarbage();
    }
    const samples: Sample[] = [];
    for (let i = 0; i < repetitions; i++) {
      samples.push(await sample());
      collectGarbage();
    }
    const col = (k: keyof Sample): number[] => samples.map((s) => s[k]);
    return [
      summarize('fork', 'ms', col('fork'), false, {
        goal: GOAL,
        note: `${PAGES} PTEs copied write-protected`,
      }),
      summarize('munmap-child', 'ms', col('munmapChild'), false, {
        goal: GOAL,
        note: 'pages stay mapped by the parent',
      }),
      summarize('munmap-parent', 'ms', col('munmapParent'), false, {
        goal: GOAL,
        note: 'last mapping: every frame freed',
      }),
      summarize('populate (info)', 'ms', col('populate'), false, {
        note: 'mmap(MAP_POPULATE) of 1 GiB, write faults without data',
      }),
    ];
  },
};

export default benchmark;

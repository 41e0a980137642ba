/**
 * Memory the simulation spends per page:
 *
 * - `frame-metadata`: bytes of `struct page` metadata per frame, from the byteLength of every typed
 *   array PhysMem holds (refcount, mapcount, flags, … and the allocator's bitmap and block lists)
 *   divided by the number of frames. Page contents are not metadata and are not counted.
 * - `pte-bytes`: bytes of page-table memory per entry, from PageTablePool's array.
 * - `pt-per-page`: page-table bytes per mapped page of a populated 1 GiB mapping (PTE tables
 *   plus the upper levels), for information.
 * - `heap-per-page`: growth of the process's memory (V8 heap + array buffers, from
 *   `process.memoryUsage()`) per page populated, for information. Frame metadata is allocated
 *   with the machine, so what grows is page tables and per-mapping objects.
 * @module
 */
import {
  MAP_ANONYMOUS,
  MAP_POPULATE,
  MAP_PRIVATE,
  Machine,
  PAGE_SIZE,
  PageTablePool,
  PROT_READ,
  PROT_WRITE,
} from '../src/index.ts';
import { type Benchmark, type BenchResult, collectGarbage, gcAvailable, summarize } from './harness.ts';

const MEMORY = 1.5 * 2 ** 30;
const BYTES = 2 ** 30;
const PAGES = BYTES / PAGE_SIZE;

/** Sum of the byteLength of the typed arrays `obj` holds directly. */
function typedArrayBytes(obj: object): number {
  let sum = 0;
  for (const v of Object.values(obj)) if (ArrayBuffer.isView(v)) sum += v.byteLength;
  return sum;
}

async function heapSample(): Promise<{ heap: number; pt: number }> {
  const machine = new Machine({ memory: MEMORY });
  const p = await machine.createProcess();
  collectGarbage();
  const before = process.memoryUsage();
  const addr = await p.mmap(
    0,
    BYTES,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
    -1,
    0,
  );
  if (addr < 0) throw new Error(`mmap failed: ${addr}`);
  collectGarbage();
  const after = process.memoryUsage();
  const grown = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers);
  const pt = (machine.pt.inUse * 512 * PageTablePool.BYTES_PER_ENTRY) / PAGES;
  await p.exit();
  return { heap: grown / PAGES, pt };
}

const benchmark: Benchmark = {
  name: 'metadata',
  description: 'bytes of metadata per frame and per page-table entry; heap growth per populated page',
  repetitions: 3,
  async run({ repetitions }): Promise<BenchResult[]> {
    const machine = new Machine({ memory: MEMORY });
    const pm = machine.pm;
    const perFrame = typedArrayBytes(pm) / pm.nrFrames;
    const words = machine.pt.words;
    const perEntry = words.byteLength / (words.length / 2);
    const heap: number[] = [];
    const pt: number[] = [];
    for (let i = 0; i < repetitions; i++) {
      const s = await heapSample();
      heap.push(s.heap);
      pt.push(s.pt);
    }
    return [
      summarize('frame-metadata', 'B/frame', [perFrame], false, {
        goal: { op: '<=', value: 32 },
        note: `typed arrays of PhysMem over ${pm.nrFrames} frames`,
      }),
      summarize('pte-bytes', 'B/entry', [perEntry], false, {
        goal: { op: '<=', value: 8 },
        note: 'PageTablePool.words per entry',
      }),
      summarize('pt-per-page (info)', 'B/page', pt, false, {
        note: 'page tables in use / pages of a populated 1 GiB mapping',
      }),
      summarize('heap-per-page (info)', 'B/page', heap, false, {
        note: `memoryUsage() heapUsed + arrayBuffers growth over MAP_POPULATE of ${PAGES} pages${gcAvailable() ? '' : ' (no --expose-gc: noisy)'}`,
      }),
    ];
  },
};

export default benchmark;

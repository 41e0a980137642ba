/**
 * First-touch anonymous faults through `Process.write`: a fresh private anonymous mapping of
 * 65,536 pages (256 MiB), every page written once, so every page takes a write fault
 * (do_anonymous_page: allocate, map, account) before its bytes are stored.
 *
 * - `write-4k`: one `process.write` of a 256 MiB buffer (4 KiB per page): faults plus the copy of
 *   the page contents into the content store.
 * - `store32`: one `process.store32` per page (4 bytes): the fault cost with almost no copying,
 *   but one simulated CPU access (one awaited call) per page.
 *
 * Figure: pages per second (fault-ins per second). THP is off for the mapping (the default
 * 'madvise' policy without MADV_HUGEPAGE), so every page is a 4 KiB fault.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { MAP_ANONYMOUS, MAP_PRIVATE, MM_ANONPAGES, Machine, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../src/index.ts';
import { type Benchmark, type BenchResult, collectGarbage, summarize } from './harness.ts';

const PAGES = 65_536;
const BYTES = PAGES * PAGE_SIZE;
/** RAM of the simulated machine: the mapping plus room for the reserved blocks and hugetlb pool. */
const MEMORY = BYTES + 64 * 2 ** 20;
const GOAL = { op: '>=', value: 2_000_000 } as const;

type Variant = 'write-4k' | 'store32';

/** One sample: seconds for faulting in every page of a fresh mapping. */
async function sample(variant: Variant, data: Uint8Array): Promise<number> {
  const machine = new Machine({ memory: MEMORY });
  const p = await machine.createProcess();
  const addr = await p.mmap(0, BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (addr < 0) throw new Error(`mmap failed: ${addr}`);
  collectGarbage();
  const t0 = performance.now();
  if (variant === 'write-4k') await p.write(addr, data);
  else for (let i = 0; i < PAGES; i++) await p.store32(addr + i * PAGE_SIZE, i + 1);
  const seconds = (performance.now() - t0) / 1000;
  // Check that the work was done: every page resident, the last page's value in place.
  const rss = p.mm.rss[MM_ANONPAGES];
  if (rss !== PAGES) throw new Error(`expected ${PAGES} resident pages, found ${rss}`);
  const last = addr + (PAGES - 1) * PAGE_SIZE;
  const v = await p.load32(last);
  const expected = variant === 'write-4k' ? new DataView(data.buffer).getUint32(BYTES - PAGE_SIZE, true) : PAGES;
  if (v !== expected) throw new Error(`page ${PAGES - 1} reads ${v}, expected ${expected}`);
  await p.exit();
  return seconds;
}

const benchmark: Benchmark = {
  name: 'first-touch',
  description: `first-touch anonymous write faults over ${PAGES} pages (${BYTES / 2 ** 20} MiB) via Process.write`,
  repetitions: 5,
  async run({ repetitions, warmup }): Promise<BenchResult[]> {
    const data = new Uint8Array(BYTES);
    for (let i = 0; i < BYTES; i += 4) data[i] = (i >>> 12) & 0xff || 1;
    const results: BenchResult[] = [];
    for (const variant of ['write-4k', 'store32'] as const) {
      for (let i = 0; i < warmup; i++) await sample(variant, data);
      const rates: number[] = [];
      for (let i = 0; i < repetitions; i++) rates.push(PAGES / (await sample(variant, data)));
      results.push(
        summarize(variant, 'pages/s', rates, true, {
          goal: GOAL,
          note:
            variant === 'write-4k'
              ? 'one process.write of 4 KiB per page: faults + 256 MiB copied'
              : 'one process.store32 per page: faults, 4 bytes copied per page',
        }),
      );
    }
    return results;
  },
};

export default benchmark;

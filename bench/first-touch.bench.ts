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
 * Each in two settings:
 *
 * - `cold`: a fresh machine per sample. The simulated RAM's content store (2 MiB host buffers)
 *   is backed by the host for the first time as the pages are written, so the host's own page
 *   faults on 256 MiB of fresh memory are part of the figure.
 * - `warm`: one machine; the mapping is unmapped and mapped again between samples. The simulated
 *   faults are the same (new VMA, empty page tables, every frame allocated and mapped anew), but
 *   the host memory behind the frames' content slots already exists, as physical RAM does for
 *   a real kernel. This is the cost of the simulation itself.
 *
 * Figure: pages per second (fault-ins per second). THP is off for the mapping (the default
 * 'madvise' policy without MADV_HUGEPAGE), so every page is a 4 KiB fault.
 * @module
 */
import { performance } from 'node:perf_hooks';
import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  MM_ANONPAGES,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from '../src/index.ts';
import { type Benchmark, type BenchResult, collectGarbage, settle, summarize } from './harness.ts';

const PAGES = 65_536;
const BYTES = PAGES * PAGE_SIZE;
/** RAM of the simulated machine: the mapping plus room for the reserved blocks and hugetlb pool. */
const MEMORY = BYTES + 64 * 2 ** 20;
const GOAL = { op: '>=', value: 2_000_000 } as const;

type Variant = 'write-4k' | 'store32';

/** Maps the region on `machine`'s process, faults every page in, checks; returns seconds. */
async function touchAll(p: Process, variant: Variant, data: Uint8Array): Promise<number> {
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
  const expected =
    variant === 'write-4k' ? new DataView(data.buffer).getUint32(BYTES - PAGE_SIZE, true) : PAGES;
  if (v !== expected) throw new Error(`page ${PAGES - 1} reads ${v}, expected ${expected}`);
  const r = await p.munmap(addr, BYTES);
  if (r !== 0) throw new Error(`munmap failed: ${r}`);
  return seconds;
}

/** Pages per second of `repetitions` samples, each on a fresh machine. */
async function cold(
  variant: Variant,
  data: Uint8Array,
  warmup: number,
  repetitions: number,
): Promise<number[]> {
  const rates: number[] = [];
  for (let i = 0; i < warmup + repetitions; i++) {
    await settle();
    const machine = new Machine({ memory: MEMORY });
    const p = await machine.createProcess();
    const s = await touchAll(p, variant, data);
    await p.exit();
    if (i >= warmup) rates.push(PAGES / s);
  }
  return rates;
}

/** Pages per second of `repetitions` samples on one machine whose memory has been touched once. */
async function warm(
  variant: Variant,
  data: Uint8Array,
  warmup: number,
  repetitions: number,
): Promise<number[]> {
  const machine = new Machine({ memory: MEMORY });
  const p = await machine.createProcess();
  const rates: number[] = [];
  for (let i = 0; i < Math.max(1, warmup) + repetitions; i++) {
    const s = await touchAll(p, variant, data);
    if (i >= Math.max(1, warmup)) rates.push(PAGES / s);
  }
  await p.exit();
  return rates;
}

const benchmark: Benchmark = {
  name: 'first-touch',
  description: `first-touch anonymous write faults over ${PAGES} pages (${BYTES / 2 ** 20} MiB) via Process.write`,
  repetitions: 5,
  async run({ repetitions, warmup }): Promise<BenchResult[]> {
    const data = new Uint8Array(BYTES);
    for (let i = 0; i < BYTES; i += 4) data[i] = (i >>> 12) & 0xff || 1;
    const results: BenchResult[] = [];
    const notes: Record<Variant, string> = {
      'write-4k': 'one process.write of 4 KiB per page: faults + 256 MiB copied',
      store32: 'one process.store32 per page: faults, 4 bytes written per page',
    };
    for (const variant of ['write-4k', 'store32'] as const) {
      const w = await warm(variant, data, warmup, repetitions);
      results.push(summarize(`${variant} warm`, 'pages/s', w, true, { goal: GOAL, note: notes[variant] }));
      const c = await cold(variant, data, warmup, repetitions);
      results.push(
        summarize(`${variant} cold`, 'pages/s', c, true, {
          goal: GOAL,
          note: `${notes[variant]}; fresh machine: host backs the content store`,
        }),
      );
    }
    return results;
  },
};

export default benchmark;

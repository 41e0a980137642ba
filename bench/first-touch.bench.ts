/**
 * First-touch anonymous faults through `Process.write`: a fresh private anonymous mapping of
 * 65,536 pages (256 MiB), every page written once, so every page takes a write fault
 * (do_anonymous_page: allocate, map, account) before its bytes are stored.
 *
 * - `write-4k`: one `process.write` of a 256 MiB buffer (4 KiB per page): faults plus the copy of
 *   the page contents into the content store.
 * - `store32`: one `process.store32` per page (4 bytes): no copy, but one awaited call per page,
 *   and the frame's content slot is zeroed before its first bytes land in it (the simulation's
 *   clear_page: a reused slot holds an earlier page's bytes).
 *
 * Each in two settings:
 *
 * - `cold`: a fresh machine per sample. The simulated RAM's content store (2 MiB host buffers)
 *   is backed by the host for the first time as the pages are written, so the host's own page
 *   faults on 256 MiB of fresh memory are part of the figure (and V8 re-optimizes the hot
 *   functions for the new machine's objects).
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
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  MM_ANONPAGES,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from '../src/index.ts';
import { type Benchmark, type BenchResult, collectGarbage, median, settle, summarize } from './harness.ts';
import { nativeCompiler, runNative } from './native.ts';

const PAGES = 65_536;
const BYTES = PAGES * PAGE_SIZE;
/** RAM of the simulated machine: the mapping plus room for the reserved blocks and hugetlb pool. */
const MEMORY = BYTES + 64 * 2 ** 20;
const GOAL = { op: '>=', value: 2_000_000 } as const;

type Variant = 'write-4k' | 'store32';

/** Seconds to write every page of the mapping at `addr` once, as `variant` does. */
async function writeAll(p: Process, addr: number, variant: Variant, data: Uint8Array): Promise<number> {
  const t0 = performance.now();
  if (variant === 'write-4k') await p.write(addr, data);
  else for (let i = 0; i < PAGES; i++) await p.store32(addr + i * PAGE_SIZE, i + 1);
  return (performance.now() - t0) / 1000;
}

/**
 * Maps the region on `p`, faults every page in by writing it, checks, unmaps. Returns the seconds
 * of the faulting pass and of a second, identical pass over the now-mapped pages (no fault: what
 * the same writes cost without the faults).
 */
async function touchAll(
  p: Process,
  variant: Variant,
  data: Uint8Array,
): Promise<{ seconds: number; again: number }> {
  const addr = await p.mmap(0, BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (addr < 0) throw new Error(`mmap failed: ${addr}`);
  collectGarbage();
  const seconds = await writeAll(p, addr, variant, data);
  // Check that the work was done: every page resident, the last page's value in place.
  const rss = p.mm.rss[MM_ANONPAGES];
  if (rss !== PAGES) throw new Error(`expected ${PAGES} resident pages, found ${rss}`);
  const last = addr + (PAGES - 1) * PAGE_SIZE;
  const v = await p.load32(last);
  const expected =
    variant === 'write-4k' ? new DataView(data.buffer).getUint32(BYTES - PAGE_SIZE, true) : PAGES;
  if (v !== expected) throw new Error(`page ${PAGES - 1} reads ${v}, expected ${expected}`);
  const again = await writeAll(p, addr, variant, data);
  const r = await p.munmap(addr, BYTES);
  if (r !== 0) throw new Error(`munmap failed: ${r}`);
  return { seconds, again };
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
    const { seconds } = await touchAll(p, variant, data);
    await p.exit();
    if (i >= warmup) rates.push(PAGES / seconds);
  }
  return rates;
}

/** Pages per second of `repetitions` samples on one machine whose memory has been touched once. */
async function warm(
  variant: Variant,
  data: Uint8Array,
  warmup: number,
  repetitions: number,
): Promise<{ rates: number[]; noFault: number[] }> {
  const machine = new Machine({ memory: MEMORY });
  const p = await machine.createProcess();
  const rates: number[] = [];
  const noFault: number[] = [];
  // At least two untimed passes: the first backs the host memory, the second lets the JIT settle.
  const untimed = Math.max(2, warmup);
  for (let i = 0; i < untimed + repetitions; i++) {
    const { seconds, again } = await touchAll(p, variant, data);
    if (i < untimed) continue;
    rates.push(PAGES / seconds);
    noFault.push(PAGES / again);
  }
  await p.exit();
  return { rates, noFault };
}

/**
 * Copy-on-write faults from the zero page (warm machine): every page is read first (a read fault
 * maps the shared zero page), then `store32` per page is timed: each takes a write-protect fault
 * that copies the zero page into a new frame (wp_page_copy). Pages per second.
 */
async function afterRead(warmup: number, repetitions: number): Promise<number[]> {
  const machine = new Machine({ memory: MEMORY });
  const p = await machine.createProcess();
  const rates: number[] = [];
  const untimed = Math.max(2, warmup);
  for (let i = 0; i < untimed + repetitions; i++) {
    const addr = await p.mmap(0, BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (addr < 0) throw new Error(`mmap failed: ${addr}`);
    for (let j = 0; j < PAGES; j++) await p.load32(addr + j * PAGE_SIZE);
    collectGarbage();
    const t0 = performance.now();
    for (let j = 0; j < PAGES; j++) await p.store32(addr + j * PAGE_SIZE, j + 1);
    const seconds = (performance.now() - t0) / 1000;
    if (p.mm.rss[MM_ANONPAGES] !== PAGES) throw new Error('copy-on-write left pages unmapped');
    await p.munmap(addr, BYTES);
    if (i >= untimed) rates.push(PAGES / seconds);
  }
  await p.exit();
  return rates;
}

/**
 * The host alone: pages per second at which a fresh 256 MiB `Uint8Array` can be written one byte
 * per 4 KiB (each write is the host's first touch of a page). No simulation involved.
 */
async function hostTouch(repetitions: number): Promise<number[]> {
  const rates: number[] = [];
  for (let i = 0; i < repetitions; i++) {
    await settle();
    const t0 = performance.now();
    const a = new Uint8Array(BYTES);
    for (let off = 0; off < BYTES; off += PAGE_SIZE) a[off] = 1;
    rates.push(PAGES / ((performance.now() - t0) / 1000));
  }
  return rates;
}

/** Pages of the 1 GiB figure compared with Linux's own faults. */
const GIB_PAGES = 262_144;

/**
 * `store32` on each 4 KiB page of 1 GiB (MADV_NOHUGEPAGE), a fresh machine per sample (the
 * cold setting: nothing of the host's memory is reused), pages per second.
 */
async function store32GiB(repetitions: number): Promise<number[]> {
  const rates: number[] = [];
  const bytes = GIB_PAGES * PAGE_SIZE;
  for (let i = 0; i < repetitions; i++) {
    await settle();
    const machine = new Machine({ memory: bytes + 64 * 2 ** 20 });
    const p = await machine.createProcess();
    const addr = await p.mmap(0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (addr < 0) throw new Error(`mmap failed: ${addr}`);
    if ((await p.madvise(addr, bytes, MADV_NOHUGEPAGE)) !== 0) throw new Error('madvise failed');
    const t0 = performance.now();
    for (let j = 0; j < GIB_PAGES; j++) await p.store32(addr + j * PAGE_SIZE, j + 1);
    const seconds = (performance.now() - t0) / 1000;
    if (p.mm.rss[MM_ANONPAGES] !== GIB_PAGES) throw new Error('store32 left pages unmapped');
    if ((await p.load32(addr + (GIB_PAGES - 1) * PAGE_SIZE)) !== GIB_PAGES) throw new Error('lost a store');
    await p.exit();
    machine.dispose();
    rates.push(GIB_PAGES / seconds);
  }
  return rates;
}

/**
 * The same on the host kernel (bench/native/first-touch.c, one sample per repetition), and the
 * ratio of the medians; nothing when no C compiler is installed.
 */
async function versusLinux(repetitions: number, warmup: number): Promise<BenchResult[]> {
  const compiler = nativeCompiler();
  if (compiler === null) {
    process.stderr.write('first-touch: no C compiler (gcc/cc): the Linux reference is not measured\n');
    return [];
  }
  await store32GiB(warmup);
  const sim = await store32GiB(repetitions);
  await settle();
  const linux = runNative('first-touch', [GIB_PAGES, repetitions])!;
  return [
    summarize('store32 1 GiB cold', 'pages/s', sim, true, {
      note: 'fresh machine per sample; 262,144 pages, MADV_NOHUGEPAGE, one store32 each',
    }),
    summarize('linux store32 1 GiB (ref)', 'pages/s', linux, true, {
      note: `the host kernel's own first-touch faults, same pattern (${compiler.version}, -O2)`,
    }),
    summarize('store32 1 GiB ÷ linux', '×', [median(sim) / median(linux)], true, {
      goal: { op: '>=', value: 3 },
      note: 'ratio of the medians (goal 4×)',
    }),
  ];
}

const benchmark: Benchmark = {
  name: 'first-touch',
  description: `first-touch anonymous write faults over ${PAGES} pages (${BYTES / 2 ** 20} MiB) via Process.write`,
  repetitions: 7,
  async run({ repetitions, warmup }): Promise<BenchResult[]> {
    const results: BenchResult[] = await versusLinux(repetitions, warmup);
    const data = new Uint8Array(BYTES);
    for (let i = 0; i < BYTES; i += 4) data[i] = (i >>> 12) & 0xff || 1;
    const notes: Record<Variant, string> = {
      'write-4k': 'one process.write of 4 KiB per page: faults + 256 MiB copied',
      store32: 'one process.store32 per page: faults, 4 bytes written per page',
    };
    for (const variant of ['write-4k', 'store32'] as const) {
      const w = await warm(variant, data, warmup, repetitions);
      results.push(
        summarize(`${variant} warm`, 'pages/s', w.rates, true, { goal: GOAL, note: notes[variant] }),
        summarize(`${variant} no-fault (info)`, 'pages/s', w.noFault, true, {
          note: 'the same writes again over the mapped pages: their cost without the faults',
        }),
      );
      const c = await cold(variant, data, warmup, repetitions);
      results.push(
        summarize(`${variant} cold`, 'pages/s', c, true, {
          goal: GOAL,
          note: `${notes[variant]}; fresh machine: host backs the content store`,
        }),
      );
    }
    results.push(
      summarize('store32 after read (info)', 'pages/s', await afterRead(warmup, repetitions), true, {
        note: 'warm; every page read first (zero page), then store32: copy-on-write faults',
      }),
      summarize('host memory touch (info)', 'pages/s', await hostTouch(repetitions), true, {
        note: 'no simulation: one byte written per 4 KiB of a fresh 256 MiB Uint8Array',
      }),
    );
    return results;
  },
};

export default benchmark;

/**
 * The migration figures, as ratios to the host's memcpy page rate measured in the same
 * run: dmirror MIGRATE_TO_DEV then MIGRATE_TO_SYS of 256 MiB (65,536 pages, THP off), both
 * commands timed together, once with pages holding 4 bytes each (one `store32` per page) and once
 * with every byte of every page written. The reference (bench/native/memcpy-pages.c, compiled
 * with the host's gcc) copies 256 MiB page by page between two buffers touched beforehand.
 * Figure: pages per second of the round trip, and its ratio to memcpy's pages per second.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { MAP_ANONYMOUS, MAP_PRIVATE, Machine, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../src/index.ts';
import { type Benchmark, type BenchResult, median, settle, summarize } from './harness.ts';
import { check, patternWord, tagWord } from './migrate.bench.ts';
import { nativeCompiler, runNative } from './native.ts';

/** Pages of the figures compared with memcpy: 256 MiB. */
const RATIO_PAGES = 65_536;

/**
 * MIGRATE_TO_DEV then MIGRATE_TO_SYS of 256 MiB of 4 KiB pages (THP off), timed together: pages
 * per second of the round trip. `full`: every byte of every page written (one `process.write`);
 * otherwise each page holds 4 bytes (one `store32`). The pages are written anew before each sample.
 */
export async function roundTrip(full: boolean, samples: number): Promise<number[]> {
  const bytes = RATIO_PAGES * PAGE_SIZE;
  const m = new Machine({ memory: 2 * bytes + 64 * 2 ** 20, thp: 'never' });
  const device = m.addDmirrorDevice();
  const p = await m.createProcess();
  const fd = await device.open(p);
  const addr = await p.mmap(0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (addr < 0) throw new Error(`mmap failed: ${addr}`);
  const data = new Uint32Array(bytes / 4);
  for (let i = 0; i < data.length; i++) data[i] = patternWord(i >>> 10, i & 1023);
  const rates: number[] = [];
  for (let s = 0; s < samples; s++) {
    if (full) {
      data[0] = tagWord(0, s);
      await p.write(addr, new Uint8Array(data.buffer));
    } else for (let pg = 0; pg < RATIO_PAGES; pg++) await p.store32(addr + pg * PAGE_SIZE, tagWord(pg, s));
    await settle(50);
    const t0 = performance.now();
    check('MIGRATE_TO_DEV', await fd.migrateToDev(addr, RATIO_PAGES), RATIO_PAGES);
    check('MIGRATE_TO_SYS', await fd.migrateToSys(addr, RATIO_PAGES), RATIO_PAGES);
    rates.push(RATIO_PAGES / ((performance.now() - t0) / 1000));
    const last = addr + (RATIO_PAGES - 1) * PAGE_SIZE;
    const want = full ? data[data.length - 1024]! : tagWord(RATIO_PAGES - 1, s);
    if ((await p.load32(last)) !== want) throw new Error('migration lost the data of the last page');
  }
  await fd.close();
  await p.exit();
  return rates;
}

/**
 * The round trips of {@link roundTrip}, the host's memcpy page rate (bench/native/memcpy-pages.c),
 * and their ratios; only the informational figures when no C compiler is installed.
 */
async function versusMemcpy(repetitions: number, warmup: number): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const sparse = (await roundTrip(false, warmup + repetitions)).slice(warmup);
  await settle();
  const full = (await roundTrip(true, warmup + repetitions)).slice(warmup);
  results.push(
    summarize('256m 4-byte pages to-dev+to-sys', 'pages/s', sparse, true, {
      note: 'thp never; each page holds 4 bytes (store32); both commands timed together',
    }),
    summarize('256m full pages to-dev+to-sys', 'pages/s', full, true, {
      note: 'thp never; every byte of every page written',
    }),
  );
  const compiler = nativeCompiler();
  if (compiler === null) {
    process.stderr.write('migrate: no C compiler (gcc/cc): the memcpy reference is not measured\n');
    return results;
  }
  await settle();
  const memcpy = runNative('memcpy-pages', [RATIO_PAGES, repetitions])!;
  const goal = { op: '>=', value: 0.5 } as const;
  results.push(
    summarize('memcpy 4 KiB pages (ref)', 'pages/s', memcpy, true, {
      note: `host memcpy of 256 MiB page by page, buffers touched beforehand (${compiler.version}, -O2)`,
    }),
    summarize('4-byte pages ÷ memcpy', '×', [median(sparse) / median(memcpy)], true, {
      goal,
      note: 'ratio of the medians (goal 1×)',
    }),
    summarize('full pages ÷ memcpy', '×', [median(full) / median(memcpy)], true, {
      goal,
      note: 'ratio of the medians',
    }),
  );
  return results;
}

const benchmark: Benchmark = {
  name: 'migrate-256m',
  description: 'dmirror MIGRATE_TO_DEV + MIGRATE_TO_SYS of 256 MiB (4-byte and full pages) ÷ host memcpy',
  repetitions: 3,
  run: ({ repetitions, warmup }) => versusMemcpy(repetitions, warmup),
};

export default benchmark;

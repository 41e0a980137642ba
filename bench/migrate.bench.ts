/**
 * Migration of 1 GiB (262,144 pages) of written private anonymous memory to device-private
 * memory (a dmirror device, MIGRATE_TO_DEV) and back (MIGRATE_TO_SYS), one command for the
 * whole range in each direction:
 *
 * - `4k`: a machine with THP off (`thp: 'never'`): 262,144 base pages move one by one.
 * - `thp`: a 2 MiB-aligned mapping with MADV_HUGEPAGE, written so that it is mapped by 512
 *   PMD-level THPs (checked with a SNAPSHOT before each sample): whole 2 MiB folios move.
 *
 * Each sample re-writes every page (one `process.write` of 1 GiB whose first word per page
 * carries the sample number), then times MIGRATE_TO_DEV and MIGRATE_TO_SYS separately; each
 * must return 0 with `cpages === npages` (for MIGRATE_TO_SYS of THPs, `npages / 512`: the
 * driver counts a device THP that moved whole once), and a SNAPSHOT after MIGRATE_TO_SYS must
 * show every page back in system memory. After the last sample a few hundred pages are read back
 * with `load32` and compared with what was written.
 *
 * Figure: pages migrated per second (wall clock) in each direction, median of the samples.
 * @module
 */
import { performance } from 'node:perf_hooks';
import {
  type DmirrorFile,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_PMD,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_PROT_ZERO,
  HPAGE_PMD_NR,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from '../src/index.ts';
import { type Benchmark, type BenchResult, settle, summarize } from './harness.ts';

const BYTES = 2 ** 30;
const PAGES = BYTES / PAGE_SIZE;
/** The data (1 GiB), the system pages backing the device-private pages (1 GiB), and slack. */
const MEMORY = 2.5 * 2 ** 30;
/** Pages read back with `load32` after the last sample. */
const CHECKED_PAGES = 300;
/** 32-bit words of the pattern in each page (the first one holds the sample tag). */
const WORDS_PER_PAGE = PAGE_SIZE / 4;

/** The pattern's word `w` of page `p` (word 0 is the tag, set per sample). */
export function patternWord(p: number, w: number): number {
  return (Math.imul(p, 0x9e3779b1) ^ Math.imul(w + 1, 0x85ebca6b)) >>> 0;
}

/** The tag in word 0 of page `p` for sample `s`. */
export function tagWord(p: number, s: number): number {
  return (Math.imul(s + 1, 0x27d4eb2f) ^ p) >>> 0;
}

/** A 2 MiB-aligned private anonymous mapping of BYTES. */
async function alignedMapping(p: Process): Promise<number> {
  const raw = await p.mmap(0, BYTES + PMD_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw < 0) throw new Error(`mmap failed: ${raw}`);
  const a = Math.ceil(raw / PMD_SIZE) * PMD_SIZE;
  if (a > raw) await p.munmap(raw, a - raw);
  await p.munmap(a + BYTES, raw + PMD_SIZE - a);
  return a;
}

/** Checks the result of one migration command: 0, and `cpages` as expected. */
export function check(what: string, r: { ret: number; cpages: number }, cpages: number): void {
  if (r.ret !== 0) throw new Error(`${what} returned ${r.ret}`);
  if (r.cpages !== cpages) throw new Error(`${what}: cpages ${r.cpages}, expected ${cpages}`);
}

/**
 * Checks with a SNAPSHOT that every page is in system memory, writable (the driver reports
 * PROT_WRITE alone for a writable page), and PMD-mapped (thp) or
 * not (4k).
 */
async function checkMapping(fd: DmirrorFile, addr: number, thp: boolean): Promise<void> {
  const s = await fd.snapshot(addr, PAGES);
  if (s.ret !== 0) throw new Error(`SNAPSHOT returned ${s.ret}`);
  const want = HMM_DMIRROR_PROT_WRITE | (thp ? HMM_DMIRROR_PROT_PMD : 0);
  const mask = want | HMM_DMIRROR_PROT_PMD | HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_ZERO;
  for (let i = 0; i < PAGES; i++) {
    if ((s.prot[i]! & mask) !== want)
      throw new Error(`page ${i}: snapshot 0x${s.prot[i]!.toString(16)}, expected 0x${want.toString(16)}`);
  }
}

interface Rates {
  toDev: number[];
  toSys: number[];
}

/** All samples of one variant on a fresh machine. */
async function runVariant(thp: boolean, samples: number, warmup: number): Promise<Rates> {
  const m = new Machine({ memory: MEMORY, thp: thp ? 'madvise' : 'never' });
  const device = m.addDmirrorDevice();
  const p = await m.createProcess();
  const fd = await device.open(p);
  const addr = await alignedMapping(p);
  const adv = await p.madvise(addr, BYTES, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  if (adv !== 0) throw new Error(`madvise failed: ${adv}`);

  const data = new Uint32Array(BYTES / 4);
  for (let pg = 0; pg < PAGES; pg++) {
    const base = pg * WORDS_PER_PAGE;
    for (let w = 1; w < WORDS_PER_PAGE; w++) data[base + w] = patternWord(pg, w);
  }
  const bytes = new Uint8Array(data.buffer);

  const rates: Rates = { toDev: [], toSys: [] };
  let last = -1;
  for (let s = 0; s < warmup + samples; s++) {
    for (let pg = 0; pg < PAGES; pg++) data[pg * WORDS_PER_PAGE] = tagWord(pg, s);
    await p.write(addr, bytes);
    last = s;
    await checkMapping(fd, addr, thp);
    await settle(50);

    let t0 = performance.now();
    const toDev = await fd.migrateToDev(addr, PAGES);
    const devS = (performance.now() - t0) / 1000;
    check('MIGRATE_TO_DEV', toDev, PAGES);

    t0 = performance.now();
    const toSys = await fd.migrateToSys(addr, PAGES);
    const sysS = (performance.now() - t0) / 1000;
    // dmirror_successful_migrated_pages counts a device THP that moved whole once (one slot).
    check('MIGRATE_TO_SYS', toSys, thp ? PAGES / HPAGE_PMD_NR : PAGES);
    // Every page is back in system memory, mapped as before (PMD-level for THP).
    await checkMapping(fd, addr, thp);

    if (s >= warmup) {
      rates.toDev.push(PAGES / devS);
      rates.toSys.push(PAGES / sysS);
    }
  }

  // Verify a few hundred pages, spread over the range (first and last included), three words each.
  for (let i = 0; i < CHECKED_PAGES; i++) {
    const pg = Math.floor((i * (PAGES - 1)) / (CHECKED_PAGES - 1));
    const base = addr + pg * PAGE_SIZE;
    const expect: [number, number][] = [
      [0, tagWord(pg, last)],
      [1, patternWord(pg, 1)],
      [WORDS_PER_PAGE - 1, patternWord(pg, WORDS_PER_PAGE - 1)],
    ];
    for (const [w, v] of expect) {
      const got = await p.load32(base + w * 4);
      if (got !== v)
        throw new Error(
          `${thp ? 'thp' : '4k'}: page ${pg} word ${w} is 0x${got.toString(16)}, expected 0x${v.toString(16)}`,
        );
    }
  }
  await fd.close();
  await p.exit();
  return rates;
}

const benchmark: Benchmark = {
  name: 'migrate',
  description: `dmirror MIGRATE_TO_DEV / MIGRATE_TO_SYS of ${BYTES / 2 ** 30} GiB (${PAGES} pages) of written anonymous memory, 4 KiB pages and PMD-mapped THPs`,
  repetitions: 3,
  async run({ repetitions, warmup }): Promise<BenchResult[]> {
    const results: BenchResult[] = [];
    const goal = { op: '>=', value: 1_500_000 } as const;
    const r4k = await runVariant(false, repetitions, warmup);
    results.push(
      summarize('4k to-dev', 'pages/s', r4k.toDev, true, {
        goal,
        note: 'thp never; 262,144 written base pages to device-private memory',
      }),
      summarize('4k to-sys', 'pages/s', r4k.toSys, true, {
        goal,
        note: 'thp never; 262,144 device-private pages back to system memory',
      }),
    );
    await settle();
    const rThp = await runVariant(true, repetitions, warmup);
    results.push(
      summarize('thp to-dev', 'pages/s', rThp.toDev, true, {
        note: '512 PMD-mapped written THPs (MADV_HUGEPAGE, 2 MiB aligned) to device-private memory',
      }),
      summarize('thp to-sys', 'pages/s', rThp.toSys, true, {
        note: 'the 512 device-private THPs back to system memory',
      }),
    );
    return results;
  },
};

export default benchmark;

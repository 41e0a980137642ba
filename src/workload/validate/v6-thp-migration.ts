/**
 * V6, device-private THP migration against 4 KiB: the kernel's `benchmark_thp_migration`
 * self-test (tools/testing/selftests/mm/hmm-tests.c, added with the device-private THP series)
 * run on hmmsim's dmirror with the `dmirror-cpu-copy` platform costs. For each buffer size, with
 * THP (MADV_HUGEPAGE) and without (MADV_NOHUGEPAGE): map, fill, one warm-up round trip, then
 * timed MIGRATE_TO_DEV and MIGRATE_TO_SYS rounds, averaged. Times are virtual (the machine's
 * clock); the check is the ratio of the regular run's time to the THP run's time.
 *
 * One difference from the kernel test is deliberate: the buffer is placed on a 2 MiB boundary
 * when its length is a multiple of 2 MiB, which is what mainline's `thp_get_unmapped_area` does
 * for such anonymous mappings (since 6.7; limited to PMD-multiple lengths in 6.13), whereas
 * hmmsim's `mmap` only aligns to a page.
 * @module
 */
import type { DmirrorFile } from '../../devices/dmirror/file.ts';
import { Machine } from '../../machine.ts';
import {
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../../mm/constants.ts';
import type { Process } from '../../mm/process.ts';
import { findPlatform, type PlatformParams } from '../cost/platform.ts';
import { machineCosts } from '../functional/machine-costs.ts';
import {
  checkPoint,
  type Expectations,
  result,
  type Tolerance,
  type ValidationPoint,
  type ValidationTarget,
} from './target.ts';

/** `struct benchmark_results`: averages in ms (virtual) and GB/s (GB = 2^30 bytes, as the test). */
export interface ThpBenchmarkResults {
  /** Average MIGRATE_TO_DEV time, virtual ms. */
  readonly sysToDevMs: number;
  /** Average MIGRATE_TO_SYS time, virtual ms. */
  readonly devToSysMs: number;
  /** Buffer size / sys→dev time, GB/s. */
  readonly throughputS2d: number;
  /** Buffer size / dev→sys time, GB/s. */
  readonly throughputD2s: number;
}

/** One buffer size: the THP run and the regular run. */
export interface ThpBenchmarkSize {
  /** Buffer size. */
  readonly bytes: number;
  /** The kernel test's name for it (`Single THP Size`). */
  readonly name: string;
  /** With MADV_HUGEPAGE. */
  readonly thp: ThpBenchmarkResults;
  /** With MADV_NOHUGEPAGE. */
  readonly regular: ThpBenchmarkResults;
}

/** One buffer size to run. */
export interface ThpBenchmarkSizeSpec {
  /** Buffer size. */
  readonly bytes: number;
  /** The kernel test's name for it. */
  readonly name: string;
}

/** Options of {@link runThpMigrationBenchmark}. */
export interface ThpBenchmarkOptions {
  /** Buffer sizes with the kernel's names. */
  readonly sizes: readonly ThpBenchmarkSizeSpec[];
  /** Timed iterations per run (the kernel's 5). */
  readonly iterations: number;
  /** Called after each size (progress for long runs). */
  readonly onSize?: (size: ThpBenchmarkSize) => void;
}

/** Bytes of RAM for a run whose largest buffer is `maxBytes`: the buffer, its device backing, room. */
function machineMemory(maxBytes: number): number {
  return Math.max(64 * 1024 * 1024, 3 * Math.ceil(maxBytes / PMD_SIZE) * PMD_SIZE);
}

/**
 * Runs `benchmark_thp_migration` on a fresh machine whose kernel and dmirror device carry the
 * costs of platform parameters `p`. Deterministic; throws when a migration fails or moves fewer
 * pages than asked.
 */
export async function runThpMigrationBenchmark(
  p: PlatformParams,
  options: ThpBenchmarkOptions,
): Promise<ThpBenchmarkSize[]> {
  const costs = machineCosts(p);
  const maxBytes = Math.max(...options.sizes.map((s) => s.bytes));
  const machine = new Machine({
    memory: machineMemory(maxBytes),
    hugetlbPages: 0,
    thp: 'madvise',
    costs: costs.kernel,
  });
  const device = machine.addDmirrorDevice({ costs: costs.device });
  const process = await machine.createProcess();
  const fd = await device.open(process);
  const out: ThpBenchmarkSize[] = [];
  for (const { bytes, name } of options.sizes) {
    // Skip test sizes exceeding INT_MAX to avoid overflow (as the kernel test).
    if (bytes > 0x7fff_ffff) break;
    const thp = await runMigrationBenchmark(machine, process, fd, true, bytes, options.iterations);
    const regular = await runMigrationBenchmark(machine, process, fd, false, bytes, options.iterations);
    const size = { bytes, name, thp, regular };
    out.push(size);
    options.onSize?.(size);
  }
  await fd.close();
  await process.exit();
  machine.dispose();
  return out;
}

/** `mmap(NULL, size, …)` placed as mainline places an anonymous mapping (see the module comment). */
async function mmapBuffer(process: Process, bytes: number): Promise<number> {
  const prot = PROT_READ | PROT_WRITE;
  const flags = MAP_PRIVATE | MAP_ANONYMOUS;
  if (bytes % PMD_SIZE !== 0) return process.mmap(0, bytes, prot, flags, -1, 0);
  // __thp_get_unmapped_area: ask for one more PMD and keep the aligned part.
  const raw = await process.mmap(0, bytes + PMD_SIZE, prot, flags, -1, 0);
  if (raw < 0) return raw;
  const addr = Math.ceil(raw / PMD_SIZE) * PMD_SIZE;
  if (addr > raw) await process.munmap(raw, addr - raw);
  if (raw + bytes + PMD_SIZE > addr + bytes) await process.munmap(addr + bytes, raw + PMD_SIZE - addr);
  return addr;
}

/** `run_migration_benchmark`: averages of `iterations` timed rounds after one warm-up. */
async function runMigrationBenchmark(
  machine: Machine,
  process: Process,
  fd: DmirrorFile,
  useThp: boolean,
  bytes: number,
  iterations: number,
): Promise<ThpBenchmarkResults> {
  const npages = bytes / PAGE_SIZE;
  const clock = machine.sched.clock;
  const addr = await mmapBuffer(process, bytes);
  if (addr < 0) throw new Error(`V6: mmap of ${bytes} bytes failed (${addr})`);
  const r = await process.madvise(addr, bytes, useThp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  if (r !== 0) throw new Error(`V6: madvise failed (${r})`);
  // Initialize memory to make sure pages are allocated: int i holds i & 0xff.
  const init = new Int32Array(bytes / 4);
  for (let i = 0; i < init.length; i++) init[i] = i & 0xff;
  await process.write(addr, new Uint8Array(init.buffer));

  const migrate = async (toDev: boolean): Promise<number> => {
    const t0 = clock.now;
    const res = toDev ? await fd.migrateToDev(addr, npages) : await fd.migrateToSys(addr, npages);
    if (res.ret !== 0)
      throw new Error(
        `V6: ${toDev ? 'MIGRATE_TO_DEV' : 'MIGRATE_TO_SYS'} of ${bytes} bytes failed (${res.ret})`,
      );
    if (toDev && res.cpages !== npages)
      throw new Error(`V6: MIGRATE_TO_DEV moved ${res.cpages} of ${npages} pages`);
    return (clock.now - t0) / 1e6;
  };
  // Warmup iteration.
  await migrate(true);
  await migrate(false);
  let s2d = 0;
  let d2s = 0;
  for (let i = 0; i < iterations; i++) {
    s2d += await migrate(true);
    d2s += await migrate(false);
  }
  await process.munmap(addr, bytes);
  const gib = bytes / 2 ** 30;
  const sysToDevMs = s2d / iterations;
  const devToSysMs = d2s / iterations;
  return {
    sysToDevMs,
    devToSysMs,
    throughputS2d: gib / (sysToDevMs / 1000),
    throughputD2s: gib / (devToSysMs / 1000),
  };
}

/** The V6 expectation file. */
interface V6Expect extends Expectations {
  readonly platform: string;
  readonly iterations: number;
  readonly sizes: readonly { readonly bytes: number; readonly name: string; readonly thpGain: boolean }[];
  /** Sizes holding a whole THP: time ratio regular/THP. */
  readonly gain: { readonly expected: number; readonly tolerance: Tolerance };
  /** Sizes below a THP: no gain. */
  readonly noGain: { readonly expected: number; readonly tolerance: Tolerance };
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** The V6 target. */
export const V6_THP_MIGRATION: ValidationTarget = {
  id: 'V6',
  title: 'Device-private THP vs 4 KiB migration (benchmark_thp_migration on dmirror)',
  source:
    'Balbir Singh, "mm: support device-private THP" (dri-devel, v2 cover letter msg558318 and v3 2025-08-12): 350 % throughput, 500 % latency improvement with lib/test_hmm; hmm-tests.c benchmark_thp_migration',
  async run(raw) {
    const e = raw as V6Expect;
    const platform = findPlatform(e.platform);
    if (!platform) throw new Error(`V6: unknown platform ${e.platform}`);
    const sizes = await runThpMigrationBenchmark(platform.params, {
      sizes: e.sizes,
      iterations: e.iterations,
    });
    const points: ValidationPoint[] = [];
    const notes: string[] = [];
    for (const s of sizes) {
      const gain = e.sizes.find((x) => x.bytes === s.bytes)?.thpGain ?? false;
      const want = gain ? e.gain : e.noGain;
      for (const [dir, thpMs, regMs] of [
        ['sys→dev', s.thp.sysToDevMs, s.regular.sysToDevMs],
        ['dev→sys', s.thp.devToSysMs, s.regular.devToSysMs],
      ] as const) {
        points.push(
          checkPoint(
            `${s.name} ${dir}: regular/THP time`,
            want.expected,
            round3(regMs / thpMs),
            want.tolerance,
          ),
        );
      }
      notes.push(
        `${s.name}: THP ${round3(s.thp.sysToDevMs)} / ${round3(s.thp.devToSysMs)} ms (${round3(s.thp.throughputS2d)} / ${round3(s.thp.throughputD2s)} GB/s), regular ${round3(s.regular.sysToDevMs)} / ${round3(s.regular.devToSysMs)} ms (sys→dev / dev→sys, virtual)`,
      );
    }
    return result(V6_THP_MIGRATION, points, [`platform ${e.platform}, ${e.iterations} iterations`, ...notes]);
  },
};

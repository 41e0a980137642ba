/**
 * V1, the prefetcher golden trace: the nvidia-uvm policy on `pascal-pcie3` must produce exactly
 * the transfers (address and size, in order) of the GTX 1080 Ti nvprof trace of UVM Smart's P1
 * micro-benchmark, with copy durations and fault-group durations within tolerance. The run drives
 * the engine directly: a CPU-written 2 MiB buffer, one GPU thread touching six 64 KiB blocks one
 * after the other (each fault serviced alone), then CPU reads of the same blocks in reverse.
 * @module
 */
import { findPlatform } from '../cost/platform.ts';
import { Engine } from '../engine/engine.ts';
import type { BatchRecord, TransferRecord } from '../engine/observer.ts';
import { serialTrace } from '../generators/generators.ts';
import { findPolicy } from '../policy/presets.ts';
import { FastBackend } from '../residency/fast-backend.ts';
import { WL_PAGE_SIZE } from '../units.ts';
import {
  checkPoint,
  type Expectations,
  result,
  type Tolerance,
  type ValidationPoint,
  type ValidationTarget,
} from './target.ts';

interface Xfer {
  readonly addr: number;
  readonly bytes: number;
  readonly us: number;
}

interface V1Expect extends Expectations {
  readonly platform: string;
  readonly policy: string;
  readonly bufferBytes: number;
  readonly gpuTouches: readonly number[];
  readonly cpuReads: readonly number[];
  readonly tolerance: {
    readonly transfers: Tolerance;
    readonly copyDurations: Tolerance;
    readonly faultGroups: Tolerance;
  };
  readonly faultGroupsUs: readonly number[];
  readonly htod: readonly Xfer[];
  readonly dtoh: readonly Xfer[];
}

/** Runs the P1 sequence and returns the transfers and batches the engine produced. */
export function runP1(
  platformName: string,
  policyName: string,
  bufferBytes: number,
  gpuTouches: readonly number[],
  cpuReads: readonly number[],
): { transfers: TransferRecord[]; batches: BatchRecord[] } {
  const platform = findPlatform(platformName);
  const policy = findPolicy(policyName);
  if (!platform || !policy) throw new Error(`V1: unknown platform ${platformName} or policy ${policyName}`);
  const transfers: TransferRecord[] = [];
  const batches: BatchRecord[] = [];
  const pages = bufferBytes / WL_PAGE_SIZE;
  const engine = new Engine({
    platform: platform.params,
    policy: policy.params,
    capacityPages: Math.floor(platform.params.deviceMemory.value / WL_PAGE_SIZE),
    backend: new FastBackend(pages),
    seed: 1,
    observer: { onTransfer: (t) => transfers.push(t), onBatch: (b) => batches.push(b) },
  });
  engine.cpuAccess(0, pages, true, 1, 'init');
  // x[k*BB] += c: a read fault (the write follows after the replay and hits).
  engine.runKernel(
    serialTrace(
      'getHWPrefetch',
      gpuTouches.map((a) => a / WL_PAGE_SIZE),
    ),
  );
  for (const a of cpuReads) engine.cpuAccess(a / WL_PAGE_SIZE, 1, false, 1, 'read');
  return { transfers, batches };
}

/** The V1 target. */
export const V1_PREFETCH: ValidationTarget = {
  id: 'V1',
  title: 'Prefetcher golden trace (GTX 1080 Ti, P1)',
  source: 'UVM Smart micro-benchmarks/getHWPrefetcherP1.cu (nvprof trace, GTX 1080 Ti)',
  run(raw) {
    const e = raw as V1Expect;
    const { transfers, batches } = runP1(e.platform, e.policy, e.bufferBytes, e.gpuTouches, e.cpuReads);
    const points: ValidationPoint[] = [];
    const check = (dir: 'h2d' | 'd2h', expected: readonly Xfer[]): void => {
      const got = transfers.filter((t) => t.dir === dir);
      points.push(checkPoint(`${dir} transfers (count)`, expected.length, got.length, e.tolerance.transfers));
      expected.forEach((x, i) => {
        const g = got[i];
        const tag = `${dir} #${i + 1} @0x${x.addr.toString(16)}`;
        points.push(checkPoint(`${tag} address`, x.addr, g?.addr ?? -1, e.tolerance.transfers));
        points.push(checkPoint(`${tag} bytes`, x.bytes, g?.bytes ?? -1, e.tolerance.transfers));
        points.push(checkPoint(`${tag} µs`, x.us, round((g?.durNs ?? 0) / 1000), e.tolerance.copyDurations));
      });
    };
    check('h2d', e.htod);
    e.faultGroupsUs.forEach((us, i) => {
      points.push(
        checkPoint(
          `fault group ${i + 1} µs`,
          us,
          round((batches[i]?.durNs ?? 0) / 1000),
          e.tolerance.faultGroups,
        ),
      );
    });
    check('d2h', e.dtoh);
    return result(V1_PREFETCH, points, [`${batches.length} fault batches, ${transfers.length} transfers`]);
  },
};

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * V3, batch anatomy (SC21 Table 3, Fig. 7, Fig. 9): VA blocks per batch and faults per VA block
 * of four generators on `titanv-pcie3` within a factor of two of the Titan V measurements, their
 * ordering, the copy share of batch time, and the batch-size sweep's knee.
 * @module
 */
import { generatorWorkload, runWorkload } from '../engine/run.ts';
import { parseSize } from '../units.ts';
import {
  checkPoint,
  type Expectations,
  result,
  type Tolerance,
  type ValidationPoint,
  type ValidationTarget,
} from './target.ts';

interface V3Expect extends Expectations {
  readonly platform: string;
  readonly policy: string;
  readonly settings: Readonly<Record<string, number | string>>;
  readonly workloads: readonly {
    readonly label: string;
    readonly gen: string;
    readonly footprint: string;
    readonly blocksPerBatch: number;
    readonly faultsPerBlock: number;
  }[];
  readonly tolerance: Tolerance;
  readonly ordering: readonly string[];
  readonly copyShare: { readonly label: string; readonly max: number };
  readonly batchSweep: {
    readonly gen: string;
    readonly footprint: string;
    readonly sizes: readonly number[];
    readonly kneeMin: number;
    readonly kneeMax: number;
    readonly flatWithin: number;
  };
}

/** The V3 target. */
export const V3_BATCH: ValidationTarget = {
  id: 'V3',
  title: 'Batch anatomy (SC21 Titan V)',
  source: 'Allen & Ge SC21, Table 3, Fig. 7, Fig. 9',
  run(raw) {
    const e = raw as V3Expect;
    const set = Object.entries(e.settings);
    const points: ValidationPoint[] = [];
    const got = new Map<string, { blocks: number; faults: number; copyShare: number }>();
    for (const w of e.workloads) {
      const r = runWorkload(generatorWorkload(w.gen, parseSize(w.footprint), {}), {
        platform: e.platform,
        policy: e.policy,
        set,
      });
      const c = r.counters;
      const batchTime = r.timeNs - r.breakdownNs.cpuPhase;
      got.set(w.label, {
        blocks: c.vaBlocksPerBatch,
        faults: c.faultsPerVaBlock,
        copyShare: r.breakdownNs.copyH2D / batchTime,
      });
      points.push(
        checkPoint(
          `${w.label} (${w.gen} ${w.footprint}) VA blocks/batch`,
          w.blocksPerBatch,
          r3(c.vaBlocksPerBatch),
          e.tolerance,
        ),
      );
      points.push(
        checkPoint(`${w.label} faults/VA block`, w.faultsPerBlock, r3(c.faultsPerVaBlock), e.tolerance),
      );
    }
    const order = e.ordering.map((l) => got.get(l)?.blocks ?? 0);
    const ordered = order.every((v, i) => i === 0 || order[i - 1]! > v);
    points.push(
      checkPoint(`blocks/batch ordering ${e.ordering.join(' > ')} (1 = holds)`, 1, ordered ? 1 : 0, {
        kind: 'exact',
      }),
    );
    const share = got.get(e.copyShare.label)?.copyShare ?? 1;
    points.push(
      checkPoint(`${e.copyShare.label} copy share of fault time`, e.copyShare.max, r3(share), {
        kind: 'range',
        min: 0,
        max: e.copyShare.max,
      }),
    );
    // Batch-size sweep.
    const times: number[] = [];
    for (const b of e.batchSweep.sizes) {
      const r = runWorkload(generatorWorkload(e.batchSweep.gen, parseSize(e.batchSweep.footprint), {}), {
        platform: e.platform,
        policy: e.policy,
        set: [...set, ['batchSize', b]],
      });
      times.push(r.timeNs);
    }
    const monotone = times.every((t, i) => i === 0 || t <= times[i - 1]! * 1.001);
    let knee = e.batchSweep.sizes[e.batchSweep.sizes.length - 1]!;
    for (let i = 1; i < times.length; i++) {
      if (times[i]! >= times[i - 1]! * (1 - e.batchSweep.flatWithin)) {
        knee = e.batchSweep.sizes[i - 1]!;
        break;
      }
    }
    points.push(
      checkPoint('batch-size sweep: runtime never grows with batch size (1 = holds)', 1, monotone ? 1 : 0, {
        kind: 'exact',
      }),
    );
    points.push(
      checkPoint('batch-size knee (faults)', 1024, knee, {
        kind: 'range',
        min: e.batchSweep.kneeMin,
        max: e.batchSweep.kneeMax,
      }),
    );
    return result(V3_BATCH, points, [
      `settings: ${set.map(([k, v]) => `${k}=${v}`).join(', ')}`,
      `batch sweep ${e.batchSweep.gen} ${e.batchSweep.footprint}: ${e.batchSweep.sizes.map((b, i) => `${b}→${(times[i]! / 1e6).toFixed(1)} ms`).join(', ')}`,
    ]);
  },
};

function r3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

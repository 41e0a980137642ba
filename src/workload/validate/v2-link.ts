/**
 * V2, the link curve: the affine model of `pascal-pcie3` against the GTX 1080 Ti's pageable
 * `cudaMemcpy` HtoD bandwidths, and the UVM Smart atan model against UVM Smart's own simulated
 * transfer durations.
 * @module
 */
import { transferNs } from '../cost/link.ts';
import { findPlatform, platformLink } from '../cost/platform.ts';
import { withParam } from '../params.ts';
import {
  checkPoint,
  type Expectations,
  result,
  type Tolerance,
  type ValidationPoint,
  type ValidationTarget,
} from './target.ts';

interface V2Expect extends Expectations {
  readonly platform: string;
  readonly pageable: {
    readonly tolerance: Tolerance;
    readonly minBytes: number;
    readonly points: readonly { readonly bytes: number; readonly gibps: number }[];
  };
  readonly uvmsmart: {
    readonly tolerance: Tolerance;
    readonly points: readonly { readonly bytes: number; readonly us: number }[];
  };
}

const GIB = 1024 ** 3;

/** The V2 target. */
export const V2_LINK: ValidationTarget = {
  id: 'V2',
  title: 'Link curve (affine vs pageable HtoD; atan vs UVM Smart)',
  source:
    'UVM Smart micro-benchmarks/transferBandwidth.cu (GTX 1080 Ti nvprof) and HWPrefetchers/TBN/backprop.log',
  run(raw) {
    const e = raw as V2Expect;
    const platform = findPlatform(e.platform);
    if (!platform) throw new Error(`V2: unknown platform ${e.platform}`);
    const affine = platformLink(platform.params, 'h2d');
    const atan = platformLink(withParam(platform.params, 'linkModel', 'atan', 'V2'), 'h2d');
    const points: ValidationPoint[] = [];
    let lastBw = 0;
    let monotone = true;
    for (const p of e.pageable.points) {
      const expectedUs = (p.bytes / (p.gibps * GIB)) * 1e6;
      const gotUs = transferNs(affine, p.bytes) / 1000;
      const bw = p.bytes / gotUs;
      if (bw < lastBw) monotone = false;
      lastBw = bw;
      if (p.bytes >= e.pageable.minBytes) {
        points.push(
          checkPoint(
            `affine HtoD ${p.bytes / 1024} KiB (µs)`,
            round(expectedUs),
            round(gotUs),
            e.pageable.tolerance,
          ),
        );
      }
    }
    points.push(
      checkPoint('affine bandwidth monotone in size (1 = yes)', 1, monotone ? 1 : 0, { kind: 'exact' }),
    );
    for (const p of e.uvmsmart.points) {
      const gotUs = transferNs(atan, p.bytes) / 1000;
      points.push(checkPoint(`atan ${p.bytes / 1024} KiB (µs)`, p.us, round(gotUs), e.uvmsmart.tolerance));
    }
    return result(V2_LINK, points, [
      `affine: t0 = ${affine.kind === 'affine' ? affine.t0Ns : 0} ns, B = ${affine.kind === 'affine' ? affine.bytesPerNs : 0} GB/s (${platform.name})`,
    ]);
  },
};

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}

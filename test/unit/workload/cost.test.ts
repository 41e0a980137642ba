import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CostModel,
  findPlatform,
  fitAffineLink,
  PASCAL_FAULT_GROUP_PAGES,
  PASCAL_FAULT_GROUPS_NS,
  PASCAL_UM_HTOD,
  PLATFORMS,
  platformLink,
  transferNs,
  V2_LINK,
  withParam,
} from '../../../src/workload/index.ts';

const pascal = findPlatform('pascal-pcie3')!;

describe('link model', () => {
  it('the pascal-pcie3 affine link is the relative least-squares fit of the P1 HtoD durations', () => {
    const fit = fitAffineLink(PASCAL_UM_HTOD);
    expect(pascal.params.h2dT0Ns.value).toBeCloseTo(fit.t0Ns, -1);
    expect(pascal.params.h2dBytesPerNs.value).toBeCloseTo(fit.bytesPerNs, 1);
    for (const p of PASCAL_UM_HTOD) {
      expect(Math.abs(transferNs(platformLink(pascal.params, 'h2d'), p.bytes) / p.ns - 1)).toBeLessThan(0.08);
    }
  });

  it('the affine model is t0 + s/B; the atan model truncates to core cycles and halves at 2 MiB', () => {
    expect(transferNs({ kind: 'affine', t0Ns: 1000, bytesPerNs: 10 }, 10000)).toBe(2000);
    expect(transferNs({ kind: 'affine', t0Ns: 1000, bytesPerNs: 10 }, 0)).toBe(0);
    const atan = platformLink(withParam(pascal.params, 'linkModel', 'atan', 'test'), 'h2d');
    expect(transferNs(atan, 4096) / 1000).toBeCloseTo(1.759, 3);
    // Just below and at 2 MiB: the speed halves, so the time nearly doubles.
    const below = transferNs(atan, 2 * 1024 * 1024 - 4096);
    const at = transferNs(atan, 2 * 1024 * 1024);
    expect(at / below).toBeGreaterThan(1.95);
  });

  it('H2D and D2H have their own fitted lines (DtoH 4 KiB 1.056 µs, 60 KiB 5.28 µs)', () => {
    const d2h = platformLink(pascal.params, 'd2h');
    expect(transferNs(d2h, 4096)).toBeCloseTo(1056, -1);
    expect(transferNs(d2h, 61440)).toBeCloseTo(5280, -1);
  });
});

describe('service cost calibration', () => {
  it('the per-group fixed and per-page costs add up to the least-squares fit of the P1 fault groups', () => {
    // Non-copy time of groups 2..6 = group duration − its two HtoD copies (4 KiB + the rest).
    const copies = [7744, 12960, 23488, 45024, 88160];
    const xs = PASCAL_FAULT_GROUP_PAGES.slice(1);
    const ys = PASCAL_FAULT_GROUPS_NS.slice(1).map((g, i) => g - copies[i]!);
    const mx = xs.reduce((a, b) => a + b) / xs.length;
    const my = ys.reduce((a, b) => a + b) / ys.length;
    let sxy = 0;
    let sxx = 0;
    xs.forEach((x, i) => {
      sxy += (x - mx) * (ys[i]! - my);
      sxx += (x - mx) ** 2;
    });
    const slope = sxy / sxx;
    const intercept = my - slope * mx;
    const p = pascal.params;
    const fixed = p.batchFixedNs.value + p.replayNs.value + p.blockFixedNs.value + p.tlbInvalidateNs.value;
    const perPage = p.cpuUnmapPerPageNs.value + p.populatePerPageNs.value + p.pteUpdatePerPageNs.value;
    expect(Math.abs(fixed - intercept)).toBeLessThan(100);
    expect(Math.abs(perPage - slope)).toBeLessThan(5);
    // First touch: the first group's extra time spread over the 512 pages of the block.
    const first = PASCAL_FAULT_GROUPS_NS[0]! - (1728 + 5760) - (intercept + slope * 16);
    expect(p.dmaMapPerPageNs.value * 512).toBeCloseTo(first, -3);
  });

  it('the cost model charges each named component from the platform', () => {
    const c = new CostModel(pascal.params);
    expect(c.cpuUnmap(10)).toBe(10 * pascal.params.cpuUnmapPerPageNs.value);
    expect(c.copyRuns([1, 15], 'h2d')).toBeCloseTo(c.copy(4096, 'h2d') + c.copy(61440, 'h2d'));
    expect(c.dmaMap(512)).toBe(512 * pascal.params.dmaMapPerPageNs.value);
  });
});

describe('platform presets', () => {
  it('has the six presets, every value with a source, JSON-serializable', () => {
    expect(PLATFORMS.map((p) => p.name)).toEqual([
      'pascal-pcie3',
      'titanv-pcie3',
      'a5000-pcie4',
      'h100-pcie5',
      'gh200-c2c',
      'dmirror-cpu-copy',
    ]);
    for (const p of PLATFORMS) {
      expect(JSON.parse(JSON.stringify(p))).toEqual(p);
      for (const [k, v] of Object.entries(p.params)) {
        expect(v.source.length, `${p.name}.${k}`).toBeGreaterThan(5);
        expect(v.doc.length, `${p.name}.${k}`).toBeGreaterThan(3);
      }
    }
    // Unfitted links are marked as such.
    expect(findPlatform('gh200-c2c')!.params.h2dBytesPerNs.unverified).toBe(true);
    expect(pascal.params.h2dBytesPerNs.unverified).toBeUndefined();
  });

  it('withParam converts and checks values', () => {
    expect(withParam(pascal.params, 'h2dBytesPerNs', '25', '--set').h2dBytesPerNs.value).toBe(25);
    expect(() => withParam(pascal.params, 'h2dBytesPerNs', 'fast', '--set')).toThrow(/expects a number/);
    expect(() => withParam(pascal.params, 'linkModel', 'cubic', '--set')).toThrow(/affine, atan/);
    expect(() => withParam(pascal.params, 'nope', '1', '--set')).toThrow(/unknown parameter/);
  });
});

describe('V2', () => {
  it('passes against its checked-in expectation file', async () => {
    const e = JSON.parse(
      readFileSync(new URL('../../../validation/v2-link-curve.json', import.meta.url), 'utf8'),
    );
    const r = await V2_LINK.run(e);
    expect(r.points.filter((p) => !p.pass)).toEqual([]);
    expect(r.pass).toBe(true);
    expect(r.points.length).toBe(11);
  });
});

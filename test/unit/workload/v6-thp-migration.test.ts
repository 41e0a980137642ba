/**
 * V6 (src/workload/validate/v6-thp-migration.ts): the port of benchmark_thp_migration on dmirror
 * with the dmirror-cpu-copy costs. Each round costs exactly what the preset says (per folio and
 * per page), THP buffers come out 3–6× faster and sub-THP buffers equal; the checked-in
 * expectation file is registered and well formed. The 256 MiB size runs in `hmmsim workload
 * validate` (CI), not here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  findPlatform,
  machineCosts,
  runThpMigrationBenchmark,
  V6_THP_MIGRATION,
  VALIDATION_TARGETS,
} from '../../../src/workload/index.ts';

const platform = findPlatform('dmirror-cpu-copy')!;
const expectations = JSON.parse(
  readFileSync(new URL('../../../validation/v6-thp-migration.json', import.meta.url), 'utf8'),
);
const MIB = 1024 * 1024;

describe('V6: THP vs 4 KiB device-private migration', () => {
  it('the preset comes from the move_pages fit: 370 ns per page copied, 767 + 100 ns per folio', () => {
    const c = machineCosts(platform.params);
    expect(c.device).toEqual({ copyPageNs: 370, allocNs: 100 });
    expect(c.kernel.migrateVmaFolioNs).toBe(767);
    expect(c.kernel.migrateVmaPageNs).toBe(0);
    expect(platform.params.kMigrateVmaPerFolioNs.source).toMatch(/move_pages/);
    expect(platform.params.kMigrateVmaPerFolioNs.unverified).toBeUndefined();
  });

  it('each round costs per folio and per page exactly what the preset charges', async () => {
    const sizes = await runThpMigrationBenchmark(platform.params, {
      sizes: [
        { bytes: MIB / 2, name: 'Small Buffer' },
        { bytes: 2 * MIB, name: 'Single THP Size' },
        { bytes: 4 * MIB, name: 'Two THP Size' },
      ],
      iterations: 2,
    });
    const perFolio = 767 + 100;
    const perPage = 370;
    const ms = (ns: number): number => ns / 1e6;
    // 512 KiB: 128 base-page folios, with or without MADV_HUGEPAGE.
    expect(sizes[0]!.thp.sysToDevMs).toBeCloseTo(ms(128 * (perFolio + perPage)), 9);
    expect(sizes[0]!.regular.devToSysMs).toBeCloseTo(ms(128 * (perFolio + perPage)), 9);
    // 2 MiB and 4 MiB: one folio per THP against 512 per THP.
    for (const [i, thps] of [
      [1, 1],
      [2, 2],
    ] as const) {
      const s = sizes[i]!;
      for (const t of [s.thp.sysToDevMs, s.thp.devToSysMs])
        expect(t).toBeCloseTo(ms(thps * (perFolio + 512 * perPage)), 9);
      for (const t of [s.regular.sysToDevMs, s.regular.devToSysMs])
        expect(t).toBeCloseTo(ms(thps * 512 * (perFolio + perPage)), 9);
    }
  });

  it('passes the published window at sizes up to 16 MiB (3.33×; no gain below a THP)', async () => {
    const trimmed = {
      ...expectations,
      sizes: expectations.sizes.filter((s: { bytes: number }) => s.bytes <= 16 * MIB),
    };
    const r = await V6_THP_MIGRATION.run(trimmed);
    expect(r.pass).toBe(true);
    expect(r.points).toHaveLength(12);
    for (const p of r.points)
      expect(p.got).toBe(p.label.startsWith('Small') || p.label.startsWith('Half') ? 1 : 3.328);
  });

  it('fails when the window excludes what the model gives', async () => {
    const strict = {
      ...expectations,
      sizes: expectations.sizes.filter((s: { bytes: number }) => s.bytes === 2 * MIB),
      gain: { expected: 4.5, tolerance: { kind: 'range', min: 4, max: 6 } },
    };
    const r = await V6_THP_MIGRATION.run(strict);
    expect(r.pass).toBe(false);
  });

  it('is registered with its expectation file, which names its sources and the kernel sizes', () => {
    const reg = VALIDATION_TARGETS.find((t) => t.target.id === 'V6');
    expect(reg?.expectations).toBe('v6-thp-migration.json');
    expect(expectations.id).toBe('V6');
    expect(expectations.source).toMatch(/350%/);
    expect(expectations.sizes.map((s: { bytes: number }) => s.bytes / MIB)).toEqual([
      0.5, 1, 2, 4, 8, 16, 256,
    ]);
    expect(expectations.iterations).toBe(5);
  });
});

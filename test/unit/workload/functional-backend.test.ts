/**
 * The functional tier's residency (src/workload/functional): every result read from the real
 * kernel — migrations through migrate_vma into device-private memory, first touch through
 * hmm_range_fault, CPU accesses through real faults and migrate_to_ram — and the lockstep replay
 * that compares a recording with it call by call.
 */
import { describe, expect, it } from 'vitest';
import { defaultOracles } from '../../../src/explore/index.ts';
import {
  type BackendCall,
  FUNCTIONAL_MAX_BYTES,
  FunctionalBackend,
  findPlatform,
  replayLockstep,
} from '../../../src/workload/index.ts';

const dmirrorCpu = findPlatform('dmirror-cpu-copy')!.params;
const pascal = findPlatform('pascal-pcie3')!.params;
const ALL = new Uint32Array(16).fill(0xffffffff);
const NONE = { ptes: 0, ranges: 0, shootdowns: 0, callbacks: 0, pages: 0, folios: 0 };

function maskOf(...pages: number[]): Uint32Array {
  const m = new Uint32Array(16);
  for (const p of pages) m[p >>> 5]! |= 1 << (p & 31);
  return m;
}

describe('functional backend: the real kernel behind each residency change', () => {
  it('CPU init populates and maps; migrating the block moves 512 base pages through migrate_vma', async () => {
    const b = await FunctionalBackend.create({ pageCount: 1024, platform: pascal });
    const init = await b.cpuAccess(0, ALL, 0, true);
    expect(init).toMatchObject({ migratedBack: 0, populated: 512, faults: 512, runs: [] });
    expect([...b.cpuMapped.subarray(0, 16)].every((w) => w === 0xffffffff)).toBe(true);
    const m = await b.migrateToGpu(0, ALL, 0, 'fault');
    expect(m).toMatchObject({
      pages: 512,
      cpuUnmapped: 512,
      zeroed: 0,
      copied: 512,
      firstTouch: true,
      dmaMapped: 512,
    });
    // One MIGRATE invalidation (the GPU's own, ignored by its callback), one flush for the PTE
    // table whose present entries became migration entries, 512 single-page folios.
    expect(m.kernel).toEqual({ ptes: 0, ranges: 0, shootdowns: 1, callbacks: 1, pages: 512, folios: 512 });
    expect([...b.gpuResident.subarray(0, 16)].every((w) => w === 0xffffffff)).toBe(true);
    expect(b.cpuMapped.subarray(0, 16).every((w) => w === 0)).toBe(true);
    await b.close();
  });

  it('an untouched aligned 2 MiB block moves as one zero-filled device folio (a compound hole)', async () => {
    const b = await FunctionalBackend.create({ pageCount: 512, platform: pascal });
    const m = await b.migrateToGpu(0, ALL, 0, 'fault');
    expect(m).toMatchObject({ pages: 512, cpuUnmapped: 0, zeroed: 512, copied: 0 });
    expect(m.kernel.folios).toBe(1);
    expect(m.kernel.pages).toBe(512);
    await b.close();
  });

  it('a CPU access to GPU-resident pages faults each back through migrate_to_ram: one transfer per page', async () => {
    const b = await FunctionalBackend.create({ pageCount: 512, platform: pascal });
    await b.cpuAccess(0, ALL, 0, true);
    await b.migrateToGpu(0, ALL, 0, 'fault');
    const back = await b.cpuAccess(0, maskOf(3, 4, 5, 9), 0, false);
    expect(back).toMatchObject({ migratedBack: 4, runs: [1, 1, 1, 1], populated: 0, faults: 4 });
    expect(back.kernel.folios).toBe(4);
    expect(b.cpuMapped[0]).toBe(maskOf(3, 4, 5, 9)[0]);
    expect(b.gpuResident[0]).toBe((0xffffffff & ~maskOf(3, 4, 5, 9)[0]!) >>> 0);
    await b.close();
  });

  it('eviction migrates the resident runs back; the pages come back mapped (migrate_vma_finalize)', async () => {
    const b = await FunctionalBackend.create({ pageCount: 512, platform: pascal });
    await b.cpuAccess(0, ALL, 0, true);
    await b.migrateToGpu(0, maskOf(0, 1, 2, 10, 11), 0, 'fault');
    const e = await b.evictToCpu(0, ALL, 0);
    expect(e.pages).toBe(5);
    expect(e.runs).toEqual([3, 2]);
    expect(e.kernel.folios).toBe(5);
    expect(b.gpuResident.subarray(0, 16).every((w) => w === 0)).toBe(true);
    expect(b.cpuMapped[0]).toBe(0xffffffff);
    await b.close();
  });

  it('kernel costs of the platform are charged on the machine clock (dmirror-cpu-copy: 867 + 370 ns per page)', async () => {
    const b = await FunctionalBackend.create({ pageCount: 512, platform: dmirrorCpu });
    await b.cpuAccess(0, ALL, 0, true);
    // The first touch mirrors the block with one hmm_range_fault pass (200 + 512 ns).
    await b.migrateToGpu(0, maskOf(0), 0, 'fault');
    const t0 = b.nowNs;
    await b.migrateToGpu(0, maskOf(100, 101), 0, 'fault');
    expect(b.nowNs - t0).toBe(2 * (767 + 100 + 370));
    await b.close();
  });

  it('refuses a footprint above its limit with a clear error', async () => {
    await expect(
      FunctionalBackend.create({ pageCount: FUNCTIONAL_MAX_BYTES / 4096 + 1, platform: pascal }),
    ).rejects.toThrow(/above its limit of 268435456 bytes \(256 MiB\); use the fast tier/);
  });
});

describe('lockstep replay', () => {
  /** A call stream and what the functional tier returned for it. */
  async function record(): Promise<BackendCall[]> {
    const b = await FunctionalBackend.create({ pageCount: 1024, platform: pascal });
    const calls: BackendCall[] = [];
    const bitmapsOf = (block: number) => ({
      gpuResident: b.gpuResident.slice(block * 16, block * 16 + 16),
      cpuMapped: b.cpuMapped.slice(block * 16, block * 16 + 16),
      populated: b.populated.slice(block * 16, block * 16 + 16),
      readDuplicated: b.readDuplicated.slice(block * 16, block * 16 + 16),
      cpuReadOnly: b.cpuReadOnly.slice(block * 16, block * 16 + 16),
    });
    const init = await b.cpuAccess(1, ALL, 0, true);
    calls.push({ op: 'cpuAccess', block: 1, mask: ALL, write: true, result: init, after: bitmapsOf(1) });
    const m = await b.migrateToGpu(1, maskOf(0, 1, 2, 3), 0, 'fault');
    calls.push({
      op: 'migrateToGpu',
      block: 1,
      mask: maskOf(0, 1, 2, 3),
      cause: 'fault',
      result: m,
      after: bitmapsOf(1),
    });
    const e = await b.evictToCpu(1, ALL, 0);
    calls.push({ op: 'evictToCpu', block: 1, mask: ALL, result: e, after: bitmapsOf(1) });
    await b.close();
    return calls;
  }

  it('two functional runs of the same calls agree call by call (the kernel is deterministic)', async () => {
    const calls = await record();
    const b = await FunctionalBackend.create({ pageCount: 1024, platform: pascal });
    const r = await replayLockstep(calls, b);
    expect(r.divergences).toEqual([]);
    expect(r.replayed).toBe(3);
    expect(r.kernel.recorded).toEqual(r.kernel.functional);
    await b.close();
  });

  it('reports the first call where the recording differs, with both sides', async () => {
    const calls = await record();
    const wrong = calls.map((c, i) =>
      i === 1 && c.op === 'migrateToGpu'
        ? { ...c, result: { ...c.result, kernel: NONE, cpuUnmapped: 3 } }
        : c,
    );
    const b = await FunctionalBackend.create({ pageCount: 1024, platform: pascal });
    const r = await replayLockstep(wrong, b);
    expect(r.replayed).toBe(2);
    expect(r.divergences.map((d) => d.field).sort()).toEqual(['cpuUnmapped', 'kernel']);
    expect(r.divergences[0]).toMatchObject({ call: 1, op: 'migrateToGpu', block: 1 });
    await b.close();
  });
});

describe('functional backend: the explorer oracles watch a run', () => {
  it('the default oracles find nothing wrong in migrations, CPU faults back and eviction', async () => {
    const b = await FunctionalBackend.create({
      pageCount: 1024,
      platform: pascal,
      oracles: defaultOracles(),
    });
    await b.cpuAccess(0, ALL, 0, true);
    await b.migrateToGpu(0, ALL, 0, 'fault');
    await b.migrateToGpu(1, maskOf(0, 7, 8), 0, 'prefetch');
    await b.cpuAccess(0, maskOf(1, 2, 40), 0, true);
    await b.evictToCpu(0, ALL, 0);
    await b.close();
    expect(b.violations).toEqual([]);
  });

  it('an oracle that objects is heard', async () => {
    const b = await FunctionalBackend.create({
      pageCount: 512,
      platform: pascal,
      oracles: [(ctx) => ({ atEnd: () => ctx.violate('test', `clock at ${ctx.machine.sched.clock.now}`) })],
    });
    await b.migrateToGpu(0, maskOf(0), 0, 'fault');
    await b.close();
    expect(b.violations.map((v) => v.oracle)).toEqual(['test']);
  });
});

/**
 * `hmmsim workload` as a user runs it (in-process through `main` with a captured io): runs,
 * sweeps, shards and merge, outputs, and a clear error with exit 2 or 3 for every bad flag or file.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../src/cli/io.ts';
import { main } from '../../src/cli/main.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TMP = mkdtempSync(path.join(tmpdir(), 'hmmsim-workload-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    out: (t) => {
      stdout += t;
    },
    err: (t) => {
      stderr += t;
    },
    errIsTTY: false,
    cwd: ROOT,
    now: () => 0,
  };
  const code = await main(['workload', ...args], io);
  return { code, stdout, stderr };
}

const file = (name: string, text: string): string => {
  const p = path.join(TMP, name);
  writeFileSync(p, text);
  return p;
};

describe('hmmsim workload', () => {
  it('validate runs the targets named, from their expectation files', async () => {
    const r = await run(['validate', 'v2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^PASS V2 /m);
    expect(r.stdout).not.toMatch(/ V1 | V3 | V6 /);
    expect(r.stdout).toMatch(/^1 passed, 0 failed$/m);
  });

  it('validate with an unknown target is a usage error naming the known ones', async () => {
    const r = await run(['validate', 'V9']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown validation target "V9"; known: V1, V2, V3, V6/);
  });

  it('runs a generator and prints the counters and the time by component', async () => {
    const r = await run(['--gen', 'stream', '--footprint', '12MiB', '--platform', 'titanv-pcie3']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/faults \d+ .* in \d+ batches/);
    expect(r.stdout).toMatch(/copy engines busy: H2D/);
    expect(r.stdout).toMatch(/copyH2D/);
  });

  it('--json prints the fields relied on from outside', async () => {
    const r = await run([
      '--gen',
      'random-page',
      '--footprint',
      '8MiB',
      '--json',
      '--set',
      'eviction=lru-4k',
      '--oversub',
      '1.5',
    ]);
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout);
    for (const k of ['policy', 'platform', 'timeNs', 'counters', 'breakdownNs']) expect(o).toHaveProperty(k);
    for (const k of [
      'faults',
      'faultsCoalesced',
      'duplicates',
      'batches',
      'blocksPerBatch',
      'faultsPerBlock',
      'bytesH2D',
      'bytesD2H',
      'bytesPrefetched',
      'evictions',
      'throttles',
      'pins',
      'invalidations',
      'ebusyRetries',
    ]) {
      expect(o.counters).toHaveProperty(k);
    }
    expect(o.settings).toEqual({ eviction: 'lru-4k' });
    expect(o.counters.evictions).toBeGreaterThan(0);
  });

  it('runs the example workload file', async () => {
    const r = await run([path.join(ROOT, 'examples/workloads/small.json'), '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).workload).toBe('small-stencil');
  });

  it('runs the AccessedBy example: the GPU reads the advised inputs remotely, and the report says so', async () => {
    const file = path.join(ROOT, 'examples/workloads/accessed-by.json');
    const text = await run([file]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^remote accesses [1-9]\d*, .* by advice [1-9]\d*$/m);
    const json = JSON.parse((await run([file, '--json'])).stdout).counters;
    expect(json.adviceRemoteMaps).toBeGreaterThan(0);
    expect(json.evictions).toBe(0);
  });

  it('runs the read-mostly example: evicted duplicates are not copied back, and the report says so', async () => {
    const file = path.join(ROOT, 'examples/workloads/read-mostly.json');
    const text = await run([file]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(
      /^read duplication: [1-9]\d* pages copied .* [1-9]\d* evicted without a copy back$/m,
    );
    const c = JSON.parse((await run([file, '--json'])).stdout).counters;
    expect(c.readDuplications).toBeGreaterThan(0);
    expect(c.readDuplicatesEvicted).toBeGreaterThan(0);
    // The evictions copy back only the written array a (32 MiB per kernel's worth of evictions).
    expect(c.bytesD2H).toBeLessThan(c.evictions * 2 * 1024 * 1024);
  });

  it('runs the access-counter example: fewer faults than with the default policy (no ATS: off)', async () => {
    const file = path.join(ROOT, 'examples/workloads/access-counters.json');
    const on = await run([file, '--json']);
    const off = await run([file, '--set', 'accessCounterMigration=default', '--json']);
    expect(on.code).toBe(0);
    expect(off.code).toBe(0);
    const a = JSON.parse(on.stdout).counters;
    const b = JSON.parse(off.stdout).counters;
    expect(a.accessCounterNotifications).toBeGreaterThan(0);
    expect(a.remoteMapsOnEviction).toBeGreaterThan(0);
    expect(b.accessCounterNotifications).toBe(0);
    expect(a.faults).toBeLessThan(b.faults);
  });

  it('sweeps (cartesian, an array), shards and merges them back in order', async () => {
    const args = [
      '--gen',
      'stream',
      '--footprint',
      '12MiB',
      '--sweep',
      'oversub=1,1.5',
      '--sweep',
      'policy=nvidia-uvm,uvmsmart-tbn',
      '--json',
    ];
    const all = JSON.parse((await run(args)).stdout);
    expect(all.map((r: { policy: string; oversub: number }) => `${r.oversub} ${r.policy}`)).toEqual([
      '1 nvidia-uvm',
      '1 uvmsmart-tbn',
      '1.5 nvidia-uvm',
      '1.5 uvmsmart-tbn',
    ]);
    const s0 = file('s0.json', (await run([...args, '--shard', '0/3'])).stdout);
    const s1 = file('s1.json', (await run([...args, '--shard', '1/3'])).stdout);
    const s2 = file('s2.json', (await run([...args, '--shard', '2/3'])).stdout);
    const merged = JSON.parse((await run(['merge', s2, s0, s1, '--json'])).stdout);
    expect(merged.map((r: { timeNs: number }) => r.timeNs)).toEqual(
      all.map((r: { timeNs: number }) => r.timeNs),
    );
  });

  it('writes the uvm-eval CSVs, a Chrome trace and an SVG plot', async () => {
    const b = path.join(TMP, 'b.csv');
    const f = path.join(TMP, 'f.csv');
    const t = path.join(TMP, 't.json');
    const p = path.join(TMP, 'p.svg');
    const r = await run([
      '--gen',
      'random-page',
      '--footprint',
      '8MiB',
      '--batches',
      b,
      '--faults',
      f,
      '--trace',
      t,
      '--plot',
      p,
    ]);
    expect(r.code).toBe(0);
    const rows = readFileSync(b, 'utf8').trim().split('\n');
    expect(rows[0]!.split(',')).toHaveLength(32);
    expect(readFileSync(f, 'utf8')).toMatch(/^f,[0-9a-f]+,/m);
    expect(readFileSync(f, 'utf8')).toMatch(/^b,\d+,0$/m);
    const trace = JSON.parse(readFileSync(t, 'utf8'));
    const names = new Set(trace.traceEvents.map((e: { name: string }) => e.name));
    expect(names).toContain('Unified Memory Memcpy HtoD');
    expect(names).toContain('Unified Memory GPU page faults');
    expect(names).toContain('faults outstanding');
    expect(readFileSync(p, 'utf8')).toMatch(/^<svg/);
  });

  it('replays a uvm-eval fault CSV', async () => {
    const f = path.join(TMP, 'in.csv');
    await run(['--gen', 'block-stream', '--footprint', '8MiB', '--faults', f]);
    const r = await run([f, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).counters.faults).toBeGreaterThan(0);
  });

  it('--list shows every parameter with its default and source', async () => {
    const r = await run(['--list']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/batchSize = 256 faults .*source: nvidia-uvm uvm_gpu_replayable_faults.c/);
    expect(r.stdout).toMatch(/graph-frontier/);
    expect(r.stdout).toMatch(/gh200-c2c/);
  });

  it.each([
    [['--gen', 'strem', '--footprint', '1MiB'], /unknown generator "strem"/],
    [['--gen', 'stream'], /--gen needs --footprint/],
    [['--gen', 'stream', '--footprint', 'lots'], /not a size/],
    [['--gen', 'stream', '--footprint', '8MiB', '--arg', 'iterations'], /--arg expects KEY=VALUE/],
    [['--gen', 'stream', '--footprint', '8MiB', '--arg', 'nope=1'], /has no argument "nope"/],
    [['--gen', 'stream', '--footprint', '8MiB', '--set', 'batchSize=big'], /expects a number/],
    [['--gen', 'stream', '--footprint', '8MiB', '--set', 'bachSize=1'], /unknown parameter "bachSize"/],
    [['--gen', 'stream', '--footprint', '8MiB', '--policy', 'nvidia'], /unknown policy/],
    [['--gen', 'stream', '--footprint', '8MiB', '--oversub', '1000'], /at least 4 MiB/],
    [['--gen', 'stream', '--footprint', '8MiB', '--shard', '3/2'], /--shard expects I\/N/],
    [
      ['--gen', 'stream', '--footprint', '512MiB', '--functional'],
      /functional tier takes footprints up to 256 MiB/,
    ],
    [
      ['--gen', 'stream', '--footprint', '8MiB', '--sweep', 'oversub=1,2', '--batches', 'x.csv'],
      /write one run/,
    ],
    [['nope.json'], /cannot read workload file nope.json: no such file/],
    [[], /missing FILE.json or --gen/],
    [['--bogus'], /unknown option --bogus/],
  ])('usage error %j → exit 2', async (args, message) => {
    const r = await run(args);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.code).toBe(2);
  });

  it.each([
    ['{"name": "x", "allocations": [', /bad.json:1:\d+: invalid JSON/],
    [
      '{"name": "x", "allocatons": []}',
      /bad.json:1:15: allocatons: unknown field "allocatons" \(did you mean "allocations"\?\)/,
    ],
    [
      '{"name": "x",\n "allocations": [{"name": "a", "size": "1GB!"}],\n "steps": []}',
      /bad.json:2:\d+: allocations.0.size: expected a size/,
    ],
    [
      '{"name": "x",\n "allocations": [{"name": "a", "size": "4MiB", "accessedBy": "cpu"}],\n "steps": []}',
      /bad.json:2:\d+: allocations.0.accessedBy: expected "gpu" \(cudaMemAdviseSetAccessedBy of the GPU; the CPU cannot map GPU memory over PCIe/,
    ],
    [
      '{"name": "x",\n "allocations": [{"name": "a", "size": "4MiB", "readMostly": "yes"}],\n "steps": []}',
      /bad.json:2:\d+: allocations.0.readMostly: expected true or false \(cudaMemAdviseSetReadMostly/,
    ],
    [
      '{"name": "x",\n "allocations": [{"name": "a", "size": "4MiB"}],\n "steps": [{"kernel": "k", "gen": "stream", "arrays": ["a", "b", "c"]}]}',
      /bad.json:3:\d+: steps.0.arrays.1: unknown allocation "b"/,
    ],
    [
      '{"name": "x",\n "allocations": [{"name": "a", "size": "4MiB"}],\n "steps": [{"kernel": "k", "gen": "randompage", "arrays": ["a"]}]}',
      /steps.0.gen: unknown generator "randompage" \(did you mean "random-page"\?\)/,
    ],
    [
      '{"name": "x", "policy": "nvidia-uv",\n "allocations": [{"name": "a", "size": "4MiB"}], "steps": []}',
      /bad.json:1:\d+: policy: unknown policy "nvidia-uv" \(did you mean "nvidia-uvm"\?\)/,
    ],
    [
      '{"name": "x", "set": {"batchsize": 3},\n "allocations": [{"name": "a", "size": "4MiB"}], "steps": []}',
      /set.batchsize: unknown parameter "batchsize" \(did you mean "batchSize"\?\)/,
    ],
    [
      '{"name": "x",\n "allocations": [{"name": "a", "size": "4MiB"}],\n "steps": [{"cpu": "read", "aray": "a"}]}',
      /steps.0/,
    ],
  ])('invalid workload file %# → exit 3 with file:line:column', async (text, message) => {
    const p = file('bad.json', text);
    const r = await run([p]);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.code).toBe(3);
  });

  it('merge rejects a file that is not a run (exit 3) and a missing one (exit 2)', async () => {
    expect((await run(['merge', file('x.json', '{"a": 1}')])).code).toBe(3);
    expect((await run(['merge', path.join(TMP, 'none.json')])).code).toBe(2);
  });
});

describe('hmmsim workload --functional', () => {
  it('runs the residency changes on the real kernel in lockstep: same counters and time as the fast tier', async () => {
    const args = ['--gen', 'stencil2d', '--footprint', '4MiB', '--json'];
    const fast = await run(args);
    const functional = await run([...args, '--functional']);
    expect(functional.code).toBe(0);
    expect(functional.stderr).not.toMatch(/\n\s+at /);
    const f = JSON.parse(functional.stdout);
    const r = JSON.parse(fast.stdout);
    expect(f.tier).toBe('functional');
    expect(f.functional.agreed).toBe(true);
    expect(f.functional.calls).toBeGreaterThan(0);
    expect(f.counters).toEqual(r.counters);
    expect(f.timeNs).toBe(r.timeNs);
  });
});

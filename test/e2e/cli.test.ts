/**
 * The `hmmsim` command as a user runs it (from the sources: scripts/hmmsim-dev.mjs) in a child process, checking
 * exit codes, output, error messages and the files it writes.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { explore, findMutant } from '../../src/explore/index.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// From the TypeScript sources (no build needed); test/package checks the built bin.
const BIN = path.join(ROOT, 'scripts/hmmsim-dev.mjs');
const TMP = mkdtempSync(path.join(tmpdir(), 'hmmsim-e2e-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `hmmsim args…` from `cwd` (default: the repository root). */
function hmmsim(args: string[], cwd = ROOT): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const SCENARIOS = readdirSync(path.join(ROOT, 'examples/scenarios'))
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('hmmsim demo', () => {
  it('narrates the run, prints counters and writes the trace in the current directory', async () => {
    const r = await hmmsim(['demo'], TMP);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ µs {2}device {4}READ 8 pages: ret 0, cpages 8, faults 1; data 1000 1001/);
    expect(r.stdout).toMatch(/ µs {2}notifier {2}UNMAP \[0x[0-9a-f]+, 0x[0-9a-f]+\)/);
    expect(r.stdout).toContain('READ 8 pages across the hole: ret -EFAULT');
    expect(r.stdout).toContain('MIGRATE_TO_DEV 4 pages: ret 0, cpages 4');
    expect(r.stdout).toContain('cpu       read 1005 at page 5');
    expect(r.stdout).toContain('wrote 42 to page 6; parent still reads 1006');
    expect(r.stdout).toContain('  migrated to device    4 pages');
    expect(r.stdout).toMatch(/ {2}invalidations {9}UNMAP \d+, MIGRATE \d+/);
    expect(r.stdout).toContain(
      'trace written to hmmsim-demo.trace.json: open it in https://ui.perfetto.dev (or chrome://tracing)',
    );
    const trace = JSON.parse(readFileSync(path.join(TMP, 'hmmsim-demo.trace.json'), 'utf8'));
    expect(trace.traceEvents.length).toBeGreaterThan(50);
  });

  it('--no-trace --json: one JSON document, no file', async () => {
    const dir = mkdtempSync(path.join(TMP, 'nt-'));
    const r = await hmmsim(['demo', '--no-trace', '--json'], dir);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ command: 'demo', ok: true, trace: null, counters: { migratedToDevice: 4 } });
    expect(doc.entries).toContainEqual(
      expect.objectContaining({ actor: 'cpu', text: 'read 1005 at page 5' }),
    );
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('hmmsim run', () => {
  it('has the example scenarios the docs name', () => {
    expect(SCENARIOS).toEqual(
      expect.arrayContaining([
        'anon_read.json',
        'anon_write.json',
        'migrate.json',
        'migrate_fault.json',
        'exclusive.json',
        'device-read-vs-munmap.json',
        'fork_device_private.json',
      ]),
    );
  });

  // One test per scenario: each CLI run gets the whole per-test time budget, so a loaded machine
  // slows the suite down without failing it, and a failure names its scenario.
  it.each(SCENARIOS)('passes on example scenario %s', async (f) => {
    const r = await hmmsim(['run', `examples/scenarios/${f}`]);
    expect({ f, code: r.code, stderr: r.stderr }).toEqual({ f, code: 0, stderr: '' });
    expect(r.stdout).toMatch(/\nPASS \S+: \d+ steps, \d+ expectations met\n/);
  });

  it('anon_read: the kernel numbers', async () => {
    const r = await hmmsim(['run', 'examples/scenarios/anon_read.json', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(true);
    const read = doc.steps.find((s: { op: string }) => s.op === 'deviceRead');
    expect(read.text).toBe('READ buffer[0..1024): ret 0, cpages 1024, faults 1');
    expect(read.checked).toEqual(['ret', 'cpages', 'faults', 'data']);
  });

  it('a failed expectation exits 1 naming the step', async () => {
    const r = await hmmsim(['run', 'test/e2e/fixtures/fails.json']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      'FAIL test/e2e/fixtures/fails.json:11: steps[2] (deviceRead): expected cpages 3, got 4',
    );
  });

  it('an invalid scenario exits 3 with file:line:column: field: message', async () => {
    let r = await hmmsim(['run', 'test/e2e/fixtures/bad.json']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toEqual([
      'test/e2e/fixtures/bad.json:12:13: steps[3].op: unknown operation "migrate_to_dev" (did you mean "migrateToDev"? expected one of mmap, munmap, mremap, vmas, fallocate, mprotect, madvise, write, read, store32, load32, fork, exit, sleep, open, close, deviceRead, deviceWrite, migrateToDev, migrateToSys, snapshot, exclusive, checkExclusive, release, setFlags, threads)',
      'test/e2e/fixtures/bad.json:13:43: steps[4].pagse: unknown property in munmap step (did you mean "pages"?)',
      'test/e2e/fixtures/bad.json:14:63: steps[5].prot[1]: unknown protection "rw" (expected one of read, write, exec, none)',
      '',
    ]);
    r = await hmmsim(['run', 'test/e2e/fixtures/syntax-error.scenario']);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(
      "test/e2e/fixtures/syntax-error.scenario:5:5: JSON syntax error: expected ',' or ']' after an array element, got '{'\n",
    );
    r = await hmmsim(['run', 'test/e2e/fixtures/names.json', '--json']);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout).issues[0]).toEqual({
      file: 'test/e2e/fixtures/names.json',
      line: 9,
      column: 31,
      path: 'steps[0].device',
      message: 'unknown device "dmirror1" (did you mean "dmirror0"?)',
    });
  });

  it('--trace writes a trace of the run', async () => {
    const out = path.join(TMP, 'run.trace.json');
    const r = await hmmsim(['run', 'examples/scenarios/migrate.json', '--trace', out]);
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8')).traceEvents.length).toBeGreaterThan(100);
  });
});

describe('usage errors', () => {
  it('exit 2 with what was wrong and what was meant', async () => {
    let r = await hmmsim(['explore', '--mutant', 'D2', '--shedules', '5']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "hmmsim: unknown option --shedules (did you mean --schedules?)\nRun 'hmmsim explore --help' for usage.\n",
    );
    r = await hmmsim(['rn', 'x.json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'hmmsim: unknown command "rn" (did you mean "run"?)\nRun \'hmmsim help\' for the commands.\n',
    );
    r = await hmmsim(['run', 'no/such.json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('hmmsim: cannot read scenario file no/such.json: no such file');
    r = await hmmsim(['explore', '--mutant', 'D99']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('hmmsim: unknown mutant "D99" (see \'hmmsim explore --list-mutants\')');
    r = await hmmsim(['trace', 'demo']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('hmmsim: missing -o FILE (where to write the trace)');
  });

  it('--help prints usage, examples and the exit codes', async () => {
    const r = await hmmsim(['explore', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage:\n  hmmsim explore <scenario.json>');
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain('Exit codes:\n  0  success\n  1  a check, test or expectation failed');
    const help = await hmmsim(['help', '--json']);
    expect(JSON.parse(help.stdout).commands.map((c: { name: string }) => c.name)).toEqual([
      'demo',
      'run',
      'selftest',
      'explore',
      'trace',
      'workload',
      'web',
      'kernel',
      'help',
    ]);
  });
});

describe('hmmsim selftest', () => {
  it('runs the 78 kernel test instances and prints TAP', async () => {
    const r = await hmmsim(['selftest']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.slice(0, 3)).toEqual(['TAP version 13', '1..78', '# Starting 78 tests from 4 test cases.']);
    const oks = lines.filter((l) => /^ok \d+ /.test(l));
    expect(oks).toHaveLength(78);
    expect(lines.filter((l) => l.startsWith('not ok'))).toEqual([]);
    expect(oks).toContain('ok 2 hmm.hmm_device_private.anon_read');
    expect(r.stdout).toContain('# Totals: pass:78 fail:0 xfail:0 xpass:0 skip:0 error:0');
  }, 300_000);

  it('--filter selects by substring or glob; --json gives the results', async () => {
    const r = await hmmsim(['selftest', '--filter', 'hmm.hmm_device_coherent.anon_read*', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.results.map((x: { name: string }) => x.name)).toEqual([
      'hmm.hmm_device_coherent.anon_read',
      'hmm.hmm_device_coherent.anon_read_prot',
      'hmm.hmm_device_coherent.anon_read_multiple',
    ]);
    expect(doc).toMatchObject({ ok: true, total: 3, passed: 3, failed: 0 });
    const none = await hmmsim(['selftest', '--filter', 'nothing_like_this']);
    expect(none.code).toBe(2);
  });
});

describe('hmmsim trace', () => {
  it('writes a Chrome trace with named tracks and spans', async () => {
    const out = path.join(TMP, 'race.trace.json');
    const r = await hmmsim(['trace', 'examples/scenarios/device-read-vs-munmap.json', '-o', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*race\.trace\.json: \d+ events, \d+ spans, \d+ tracks\n/);
    const trace = JSON.parse(readFileSync(out, 'utf8'));
    const names = trace.traceEvents
      .filter((e: { ph: string; name: string }) => e.ph === 'M' && e.name === 'thread_name')
      .map((e: { args: { name: string } }) => e.args.name);
    expect(names).toEqual(expect.arrayContaining(['main', 'device', 'unmapper', 'hmm_dmirror0']));
    expect(trace.traceEvents.some((e: { ph: string }) => e.ph === 'B' || e.ph === 'X')).toBe(true);
  });

  it('trace demo', async () => {
    const out = path.join(TMP, 'demo2.trace.json');
    const r = await hmmsim(['trace', 'demo', '-o', out, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      command: 'trace',
      ok: true,
      tracks: ['main', 'hmm_dmirror0'],
    });
    expect(existsSync(out)).toBe(true);
  });
});

describe('hmmsim explore', () => {
  it('explores a scenario file with threads', async () => {
    const r = await hmmsim([
      'explore',
      'examples/scenarios/device-read-vs-munmap.json',
      '--schedules',
      '50',
      '--json',
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).report).toMatchObject({
      scenario: 'device-read-vs-munmap',
      schedules: 50,
      failure: null,
    });
  });

  it('a scenario without threads cannot be explored (exit 3)', async () => {
    const r = await hmmsim(['explore', 'examples/scenarios/migrate.json']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /^examples\/scenarios\/migrate\.json:\d+:\d+: steps\[0\]: hmmsim explore needs exactly one "threads" step/,
    );
  });

  it('--mutant finds the violation, and --replay reproduces it', async () => {
    const r = await hmmsim(['explore', '--mutant', 'D2']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/VIOLATION in schedule \d+/);
    expect(r.stdout).toContain('oracle:   mirror');
    const token = /shrunk token: {2}(\S+)/.exec(r.stdout)![1]!;
    expect(token).toMatch(/^hx1\..*\.D2\./);
    const again = await hmmsim(['explore', '--mutant', 'D2', '--replay', token]);
    expect(again.code).toBe(1);
    expect(again.stdout).toContain('VIOLATION (mirror)');
    const bare = await hmmsim(['explore', '--replay', token, '--json']);
    expect(bare.code).toBe(1);
    expect(JSON.parse(bare.stdout)).toMatchObject({ ok: false, violation: { oracle: 'mirror' } });
  });

  it('--workers shards the budget and merges the reports', async () => {
    const r = await hmmsim(['explore', '--mutant', 'D2', '--workers', '2', '--json']);
    expect(r.code).toBe(1);
    const { report } = JSON.parse(r.stdout);
    expect(report.workers.map((w: { seed: number }) => w.seed)).toEqual([1, 2]);
    expect(report.failure.violation.oracle).toBe('mirror');
    expect(report.schedules).toBe(
      report.workers.reduce((n: number, w: { schedules: number }) => n + w.schedules, 0),
    );
    // The worker threads go through explore({ workers }): the same report as its default pool,
    // which runs the shares one after another in this thread.
    const spec = findMutant('D2')!;
    const here = await explore({
      ...spec.scenario,
      strategy: spec.strategy,
      schedules: spec.schedules,
      mutant: 'D2',
      workers: 2,
    });
    const { elapsedMs: _a, ...there } = report;
    const { elapsedMs: _b, ...mine } = JSON.parse(JSON.stringify(here));
    expect(there).toEqual(mine);
  });
});

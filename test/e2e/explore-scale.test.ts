/**
 * `hmmsim explore` on TypeScript module scenarios, `--shard I/N` and `explore merge`, run as a
 * user runs them (child processes, from the sources: scripts/hmmsim-dev.mjs).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'scripts/hmmsim-dev.mjs');
const TMP = mkdtempSync(path.join(tmpdir(), 'hmmsim-scale-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

function hmmsim(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
      },
    );
  });
}

describe('hmmsim explore file.ts', () => {
  it('explores a module scenario, finds the broken driver, and --replay reproduces it', async () => {
    const r = await hmmsim([
      'explore',
      'examples/broken-driver.ts',
      '--strategy',
      'random',
      '--schedules',
      '300',
    ]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain('VIOLATION in schedule');
    const token = /shrunk token: {2}(\S+)/.exec(r.stdout)![1]!;
    expect(r.stdout).toContain(`reproduce:     hmmsim explore examples/broken-driver.ts --replay ${token}`);
    const again = await hmmsim(['explore', 'examples/broken-driver.ts', '--replay', token]);
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(/VIOLATION \(/);
  }, 120_000);

  it('refuses a module that exports no scenario (exit 3) and a missing one (exit 2)', async () => {
    const bad = await hmmsim(['explore', 'test/e2e/fixtures/not-a-scenario.ts']);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('the module exports no scenario');
    const missing = await hmmsim(['explore', 'test/e2e/fixtures/nope.ts']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no such file');
  }, 60_000);
});

describe('--shard I/N and explore merge', () => {
  it('a worker whose thread awaits something outside the simulation: the scenario’s fault (exit 3), one message, no stack', async () => {
    const file = path.join(TMP, 'awaits-outside.mjs');
    writeFileSync(
      file,
      `export default {
  name: 'awaits-outside',
  setup() { return {}; },
  threads: { waiter: async () => { await new Promise(() => {}); }, other: async () => {} },
};
`,
    );
    for (const env of [{}, { HMMSIM_DEBUG: '1' }] as Record<string, string>[]) {
      const r = await hmmsim(['explore', file, '--schedules', '4', '--workers', '2'], env);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(
        /^hmmsim: explore worker [01]: ScenarioError: scenario "awaits-outside": simulated thread #1 waiter awaited something outside the simulation/,
      );
      expect(r.stderr).not.toContain('internal error');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    // One process: the same fault, the same exit code.
    const one = await hmmsim(['explore', file, '--schedules', '4']);
    expect(one.code).toBe(3);
    expect(one.stderr).toMatch(
      /^hmmsim: ScenarioError: scenario "awaits-outside": simulated thread #1 waiter awaited/,
    );
  }, 120_000);

  it('two shards run the budget between them on distinct seeds; merge totals them', async () => {
    const files: string[] = [];
    for (const i of [0, 1]) {
      const r = await hmmsim([
        'explore',
        'test/e2e/fixtures/two-counters.ts',
        '--strategy',
        'random',
        '--schedules',
        '41',
        '--shard',
        `${i}/2`,
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout);
      expect(doc.report.seed).toBe(1 + i);
      expect(doc.report.schedules).toBe(i === 0 ? 21 : 20);
      expect(doc.report.coverage.pairs).toBeGreaterThan(0);
      const f = path.join(TMP, `shard-${i}.json`);
      writeFileSync(f, r.stdout);
      files.push(f);
    }
    const m = await hmmsim(['explore', 'merge', ...files]);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stdout).toContain('two-counters: 2 reports, 41 schedules in all');
    expect(m.stdout).toContain('no violation found');
    const bad = path.join(TMP, 'bad.json');
    writeFileSync(bad, '{"hello": 1}');
    const b = await hmmsim(['explore', 'merge', files[0]!, bad]);
    expect(b.code).toBe(3);
    expect(b.stderr).toContain('not the --json output of hmmsim explore');
  }, 120_000);

  it('--help shows --shard; a bad --shard is a usage error', async () => {
    const h = await hmmsim(['explore', '--help']);
    expect(h.stdout).toContain('--shard I/N');
    const r = await hmmsim(['explore', 'test/e2e/fixtures/two-counters.ts', '--shard', '2/2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--shard');
  }, 60_000);
});

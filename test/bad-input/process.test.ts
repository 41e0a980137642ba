/**
 * The bad-input suite, real processes: what only a child process shows (the in-process cases
 * cover the rest). A closed pipe ends the command quietly; an internal error is one line.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { baseScenario } from './cases.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'scripts/hmmsim-dev.mjs');
const TMP = mkdtempSync(path.join(tmpdir(), 'hmmsim-proc-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

/** Starts `hmmsim args…` in TMP; once stdout shows `ready`, waits `delayMs` and sends `signal`. */
async function interrupt(args: string[], ready: string, delayMs: number, signal: NodeJS.Signals) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: TMP, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let sent = false;
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (!sent && stdout.includes(ready)) {
      sent = true;
      setTimeout(() => child.kill(signal), delayMs);
    }
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { code, stdout, stderr };
}

describe('hmmsim as a process', () => {
  it('a closed stdout (hmmsim selftest | head -1) exits 0 with nothing on stderr', async () => {
    const child = spawn(process.execPath, [BIN, 'selftest'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const first = await new Promise<string>((resolve) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const nl = buf.indexOf('\n');
        if (nl >= 0) {
          child.stdout.destroy(); // what head does after its line
          resolve(buf.slice(0, nl));
        }
      });
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(first).toBe('TAP version 13');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  }, 60_000);

  it('SIGINT during explore --trace: a partial report, a valid trace, exit 130', async () => {
    writeFileSync(path.join(TMP, 'race.json'), JSON.stringify(baseScenario()));
    const r = await interrupt(
      ['explore', 'race.json', '--seconds', '120', '--trace', 'race.trace.json'],
      'exploring base',
      1500,
      'SIGINT',
    );
    expect(r.stdout).toMatch(/\n\d+ schedules run in \d+\.\d s: no violation found\n/);
    expect(r.stderr).toBe('hmmsim: interrupted by SIGINT: the output above covers the work done before it\n');
    expect(r.code).toBe(130);
    const trace = JSON.parse(readFileSync(path.join(TMP, 'race.trace.json'), 'utf8'));
    expect(trace.traceEvents.length).toBeGreaterThan(10);
  }, 60_000);

  it('SIGTERM during explore --workers 2: the workers stop and the merged report is printed, exit 143', async () => {
    writeFileSync(path.join(TMP, 'race.json'), JSON.stringify(baseScenario()));
    const r = await interrupt(
      ['explore', 'race.json', '--seconds', '120', '--workers', '2'],
      'on 2 workers',
      2500,
      'SIGTERM',
    );
    expect(r.stdout).toMatch(/\n\d+ schedules run in \d+\.\d s: no violation found\n/);
    expect(r.stderr).toBe(
      'hmmsim: interrupted by SIGTERM: the output above covers the work done before it\n',
    );
    expect(r.code).toBe(143);
  }, 60_000);
});

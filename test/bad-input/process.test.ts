/**
 * The bad-input suite, real processes: what only a child process shows (the in-process cases
 * cover the rest). A closed pipe ends the command quietly; an internal error is one line.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'scripts/hmmsim-dev.mjs');

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
});

/**
 * Native references for the benchmarks: small C programs in `bench/native/`, compiled with the
 * host's C compiler (Debian's gcc when present, `-O2`) into a temporary directory and run in a
 * child process, printing one figure per sample per line. A benchmark divides its own figure by
 * the reference measured in the same run, so the ratio holds on a loaded or slower machine.
 * When no compiler is installed, {@link runNative} returns null and the benchmark says so.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const NATIVE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'native');

/** The compiler found on PATH, with its version line, or null. */
export function nativeCompiler(): { cc: string; version: string } | null {
  for (const cc of ['gcc', 'cc']) {
    try {
      const v = execFileSync(cc, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      return { cc, version: v.split('\n')[0]!.trim() };
    } catch {
      // not installed: try the next
    }
  }
  return null;
}

let buildDir: string | null = null;

/**
 * Compiles `bench/native/<name>.c` and runs it with `args`; returns the numbers it printed (one
 * per line), or null when no C compiler is installed.
 */
export function runNative(name: string, args: readonly (string | number)[]): number[] | null {
  const compiler = nativeCompiler();
  if (compiler === null) return null;
  buildDir ??= mkdtempSync(path.join(os.tmpdir(), 'hmmsim-bench-'));
  const exe = path.join(buildDir, name);
  execFileSync(compiler.cc, ['-O2', '-o', exe, path.join(NATIVE_DIR, `${name}.c`)], { stdio: 'inherit' });
  const out = execFileSync(exe, args.map(String), { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number);
}

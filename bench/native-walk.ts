/**
 * The native reference of the `hmmRangeFault` snapshot benchmark: `native/hmm-walk.c` compiled
 * with the host's C compiler (`cc`, Debian's gcc on this project's machines) at -O2 into a
 * temporary directory, run in the same benchmark process's run so the ratio compares two walks
 * under the same load.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'native', 'hmm-walk.c');

/** One sample of the reference: pages per second of wall-clock time and of CPU time. */
export interface NativeSample {
  readonly wall: number;
  readonly cpu: number;
}

/** A compiled reference: `run(reps)` returns samples; `compiler` says what built it. */
export interface NativeWalk {
  readonly compiler: string;
  run(reps: number): NativeSample[];
  dispose(): void;
}

/**
 * Compiles the reference walk. Throws (the benchmark then reports no ratio and says why) when no
 * C compiler is installed: `apt-get install gcc`.
 */
export function compileNativeWalk(): NativeWalk {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hmmsim-walk-'));
  const exe = path.join(dir, 'hmm-walk');
  let compiler: string;
  try {
    compiler = execFileSync('cc', ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
    execFileSync('cc', ['-O2', '-o', exe, SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cannot build the native reference ${SOURCE} with cc -O2: ${(e as Error).message}`);
  }
  return {
    compiler: `${compiler} -O2`,
    run(reps: number): NativeSample[] {
      const text = execFileSync(exe, [String(reps)], { encoding: 'utf8' });
      return text
        .trim()
        .split('\n')
        .map((line) => {
          const [wall, cpu] = line.split(' ').map(Number);
          return { wall: wall!, cpu: cpu! };
        });
    },
    dispose(): void {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

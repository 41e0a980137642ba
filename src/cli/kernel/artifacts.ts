/**
 * The kernel oracle's artifacts: `kernel/build.sh` installs what it needs, builds (or finds in its
 * cache) a Linux 6.12 bzImage and an initramfs with the kernel's own hmm-tests and hmmsim's
 * scenario runner, and prints their manifest. Nothing here is skipped quietly: a missing package
 * or a failed build is a {@link KernelUnavailableError} that says what is missing.
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** What `kernel/build.sh` built: paths of the cached artifacts and what they were built from. */
export interface KernelArtifacts {
  /** Cache key: source package version and config fragment hash. */
  readonly key: string;
  /** The cache folder. */
  readonly dir: string;
  readonly bzImage: string;
  readonly initramfs: string;
  /** Debian's version of linux-source-6.12. */
  readonly sourceVersion: string;
  /** `uname -r` of the built kernel. */
  readonly kernelRelease: string;
  readonly configHash: string;
}

/** The kernel oracle cannot run: a package, a tool or an artifact is missing, or a build failed. */
export class KernelUnavailableError extends Error {
  override readonly name = 'KernelUnavailableError';
}

/** `kernel/` of this checkout: the build script, config fragment, init and runner source. */
export const KERNEL_DIR = fileURLToPath(new URL('../../../kernel/', import.meta.url));

/**
 * Runs `kernel/build.sh` (its progress goes to `log`, line by line) and returns the artifacts.
 * `install: false` makes a missing package an error instead of an `apt-get install`.
 */
export async function ensureKernelArtifacts(
  log: (line: string) => void,
  options: { readonly install?: boolean } = {},
): Promise<KernelArtifacts> {
  const script = `${KERNEL_DIR}build.sh`;
  if (!existsSync(script)) throw new KernelUnavailableError(`${script} is missing from this checkout`);
  const args = [script, ...(options.install === false ? ['--no-install'] : [])];
  const { code, stdout, stderrTail } = await new Promise<{
    code: number | null;
    stdout: string;
    stderrTail: string[];
  }>((resolve, reject) => {
    const child = spawn('bash', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let partial = '';
    const tail: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        log(l);
        tail.push(l);
        if (tail.length > 20) tail.shift();
      }
    });
    child.on('error', (e) => reject(new KernelUnavailableError(`cannot run ${script}: ${e.message}`)));
    child.on('close', (c) => {
      if (partial) log(partial);
      resolve({ code: c, stdout, stderrTail: tail });
    });
  });
  if (code !== 0) {
    const why = stderrTail.filter((l) => l.includes('error')).pop() ?? stderrTail.slice(-3).join('\n');
    throw new KernelUnavailableError(`kernel/build.sh failed (exit ${code}): ${why}`);
  }
  const last = stdout.trim().split('\n').pop() ?? '';
  let manifest: KernelArtifacts;
  try {
    manifest = JSON.parse(last) as KernelArtifacts;
  } catch {
    throw new KernelUnavailableError(`kernel/build.sh printed no manifest (last line: ${last})`);
  }
  for (const f of [manifest.bzImage, manifest.initramfs]) {
    if (!existsSync(f))
      throw new KernelUnavailableError(`kernel/build.sh reported ${f}, which does not exist`);
  }
  return manifest;
}

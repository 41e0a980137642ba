/**
 * Boots the oracle's kernel in QEMU with one job and collects its console. The job (a script,
 * `/job/run`, and its data files) travels as a cpio archive appended to the cached initramfs;
 * the guest's init runs it, prints `@@HMMSIM-JOB-EXIT <code>` and reboots, and QEMU, started
 * with -no-reboot, exits by itself. KVM is used when `/dev/kvm` opens and boots; TCG otherwise.
 * @module
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { KernelArtifacts } from './artifacts.ts';
import { KernelUnavailableError } from './artifacts.ts';
import { type CpioFile, cpioArchive } from './cpio.ts';

/**
 * The kernel command line: the console on the first serial port, quiet, an oops is a panic and a
 * panic reboots (QEMU exits, as -no-reboot), so a kernel bug ends the boot with its report
 * instead of hanging the job; no IO-APIC timer check (under TCG on a loaded host it can fail and
 * panic the boot); and 1 GiB of RAM at 5 GiB reserved as the two device-coherent dmirror
 * regions (test_hmm's spm_addr_dev0/1), as hmm-tests' coherent variants need.
 */
export const GUEST_CMDLINE =
  'console=ttyS0 quiet loglevel=1 oops=panic panic=-1 no_timer_check memmap=1G$0x140000000 ' +
  'test_hmm.spm_addr_dev0=0x140000000 test_hmm.spm_addr_dev1=0x160000000';

/** Guest memory, MiB: above the reserved coherent regions (5 GiB … 6 GiB). */
export const GUEST_MEMORY_MIB = 6144;

/** What one boot gave. */
export interface GuestRun {
  /** Console lines (without `\r`), from the first to power-off. */
  readonly lines: readonly string[];
  /** Exit code of `/job/run`. */
  readonly jobExit: number;
  /** Milliseconds from starting QEMU to the guest's init (`@@HMMSIM-GUEST-UP`). */
  readonly bootMs: number;
  /** Milliseconds from starting QEMU to its exit. */
  readonly totalMs: number;
  readonly accel: 'kvm' | 'tcg';
}

/** Options of {@link bootGuest}. */
export interface BootOptions {
  /** Give up (and kill QEMU) after this long (default 600 s). */
  readonly timeoutMs?: number;
  /** Called with each console line as it arrives. */
  readonly onLine?: (line: string) => void;
  /** Appended to {@link GUEST_CMDLINE} for this boot (e.g. a RAM disk for swap, gigantic pages). */
  readonly cmdline?: string;
  /** Guest memory in MiB for this boot (default {@link GUEST_MEMORY_MIB}). */
  readonly memoryMib?: number;
}

function kvmUsable(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Boots the kernel with `job` (its `/job/run` is run by init) and returns the console. */
export async function bootGuest(
  artifacts: KernelArtifacts,
  job: readonly CpioFile[],
  options: BootOptions = {},
): Promise<GuestRun> {
  if (!job.some((f) => f.path === 'job/run')) throw new Error('bootGuest: the job has no job/run');
  const dir = mkdtempSync(path.join(tmpdir(), 'hmmsim-guest-'));
  try {
    const base = readFileSync(artifacts.initramfs);
    const extra = cpioArchive(job);
    const initrd = path.join(dir, 'initrd.cpio');
    const padded = new Uint8Array(Math.ceil(base.length / 4) * 4 + extra.length);
    padded.set(base, 0);
    padded.set(extra, Math.ceil(base.length / 4) * 4);
    writeFileSync(initrd, padded);
    if (kvmUsable()) {
      const r = await runQemu(artifacts, initrd, 'kvm', options);
      if (r.lines.some((l) => l.startsWith('@@HMMSIM-GUEST-UP'))) return checked(r);
    }
    const r = await runQemu(artifacts, initrd, 'tcg', options);
    // A boot that failed before init (an emulation hiccup on a loaded host) is tried once more.
    if (r.jobExit < 0 && !r.lines.some((l) => l.startsWith('@@HMMSIM-GUEST-UP'))) {
      return checked(await runQemu(artifacts, initrd, 'tcg', options));
    }
    return checked(r);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The guest stopped before its job finished: a kernel panic or oops, or a hang. */
export class GuestCrashError extends KernelUnavailableError {
  constructor(
    message: string,
    /** Every console line of the boot. */
    readonly lines: readonly string[],
    /** Where the whole console was saved. */
    readonly logFile: string,
  ) {
    super(message);
  }
}

function saveConsole(lines: readonly string[]): string {
  const file = path.join(tmpdir(), `hmmsim-guest-${Date.now()}.log`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function checked(r: GuestRun): GuestRun {
  if (r.jobExit >= 0) return r;
  const log = saveConsole(r.lines);
  const oops = r.lines.findIndex((l) => /BUG:|Oops|Kernel panic|general protection/.test(l));
  const shown = (oops >= 0 ? r.lines.slice(oops, oops + 12) : r.lines.slice(-15)).join('\n  ');
  throw new GuestCrashError(
    `the guest stopped before its job finished (${oops >= 0 ? 'a kernel oops or panic' : 'no @@HMMSIM-JOB-EXIT'}); whole console in ${log}:\n  ${shown}`,
    r.lines,
    log,
  );
}

function runQemu(
  artifacts: KernelArtifacts,
  initrd: string,
  accel: 'kvm' | 'tcg',
  options: BootOptions,
): Promise<GuestRun> {
  const args = [
    '-machine',
    `pc,accel=${accel}`,
    '-cpu',
    accel === 'kvm' ? 'host' : 'max',
    '-smp',
    '1',
    '-m',
    String(options.memoryMib ?? GUEST_MEMORY_MIB),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-serial',
    'stdio',
    '-no-reboot',
    '-kernel',
    artifacts.bzImage,
    '-initrd',
    initrd,
    '-append',
    options.cmdline === undefined ? GUEST_CMDLINE : `${GUEST_CMDLINE} ${options.cmdline}`,
  ];
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let partial = '';
    let stderr = '';
    let bootMs = -1;
    let jobExit = -1;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      const log = saveConsole(lines);
      reject(
        new GuestCrashError(
          `the guest did not finish within ${Math.round((options.timeoutMs ?? 600_000) / 1000)} s (whole console in ${log}); last console lines:\n  ${lines.slice(-10).join('\n  ')}`,
          lines,
          log,
        ),
      );
    }, options.timeoutMs ?? 600_000);
    const take = (l: string): void => {
      const line = l.replace(/\r/g, '');
      if (bootMs < 0 && line.startsWith('@@HMMSIM-GUEST-UP')) bootMs = performance.now() - t0;
      const m = /^@@HMMSIM-JOB-EXIT (\d+)/.exec(line);
      if (m) jobExit = Number(m[1]);
      lines.push(line);
      options.onLine?.(line);
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      const parts = (partial + d).split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) take(p);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new KernelUnavailableError(`cannot start qemu-system-x86_64: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (partial) take(partial);
      if (code !== 0 && accel === 'tcg' && jobExit < 0) {
        reject(new KernelUnavailableError(`qemu-system-x86_64 exited with ${code}: ${stderr.trim()}`));
        return;
      }
      resolve({ lines, jobExit, bootMs, totalMs: performance.now() - t0, accel });
    });
  });
}

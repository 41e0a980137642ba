/**
 * The real kernel's COW self-tests beside hmmsim's port: the guest runs 6.12's own `cow`
 * (tools/testing/selftests/mm/cow.c, compiled from the same source tree) with swap on a RAM disk
 * and huge pages of both sizes, so that no case skips for want of them; its TAP is matched with
 * hmmsim's results case by case, by the `[RUN]` line that names each case.
 * @module
 */
import { type CowOutcome, listCowCases } from '../../selftest/cow/index.ts';
import { CliUsageError } from '../args.ts';
import { type CommandContext, EXIT_FAILED, EXIT_OK } from '../context.ts';
import type { KernelArtifacts } from './artifacts.ts';
import { bootGuest, type GuestRun } from './qemu.ts';

/** One case of the kernel's cow TAP. */
export interface KernelCowResult {
  /** The case's `[RUN]` description: `Basic COW after fork() ... with base page`. */
  readonly name: string;
  /** How the kernel's case ended. */
  readonly outcome: CowOutcome;
  /** The result line's message (`No leak from parent into child`, a skip reason). */
  readonly message: string;
}

/** What the kernel's `cow` reported. */
export interface KernelCowRun {
  readonly results: readonly KernelCowResult[];
  /** The `1..N` plan. */
  readonly planned: number;
  /** The TAP lines, as printed. */
  readonly tap: readonly string[];
  /** The boot. */
  readonly guest: GuestRun;
}

/**
 * This boot's additions to the command line: a 512 MiB RAM disk (brd) for swap, and two 1 GiB
 * huge pages, which can only be had at boot (cow.c needs two of each size: one mapped, one for
 * the COW copy).
 */
export const COW_CMDLINE = 'brd.rd_nr=1 brd.rd_size=524288 hugepagesz=1G hugepages=2';

/**
 * This boot's memory, MiB: 8 GiB. With the default 6 GiB only one 1 GiB-aligned gigantic page
 * can be had at boot (the low 4 GiB hold the kernel, the initramfs and the PCI hole, and 5–6 GiB
 * is the reserved device-coherent memory), and cow.c's 1 GiB hugetlb cases then skip.
 */
export const COW_GUEST_MEMORY_MIB = 8192;

/**
 * The guest's job: swap on the RAM disk, 2 MiB huge pages, khugepaged asleep (nothing collapses
 * behind the tests' backs), THP left at the build's default (`always`), then the suite.
 */
const COW_JOB = [
  '#!/bin/sh',
  'mkswap /dev/ram0 >/dev/null && swapon /dev/ram0 || { echo "@@COW swap on /dev/ram0 failed"; exit 90; }',
  'echo 8 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages',
  'echo 3600000 > /sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs',
  'echo @@TAP-BEGIN',
  '/bin/cow',
  'rc=$?',
  'echo @@TAP-END',
  'exit $rc',
  '',
].join('\n');

/**
 * Parses cow's kselftest TAP (kselftest.h, not the harness): each result line (`ok N msg`,
 * `not ok N msg`, `ok N # SKIP msg`, `ok N # XFAIL msg`) is named by the last `# [RUN] …` line
 * before it.
 */
export function parseCowTap(lines: readonly string[]): { results: KernelCowResult[]; planned: number } {
  const results: KernelCowResult[] = [];
  let planned = -1;
  let name = '';
  for (const line of lines) {
    const plan = /^1\.\.(\d+)\s*$/.exec(line);
    if (plan) {
      planned = Number(plan[1]);
      continue;
    }
    const run = /^# \[RUN\] (.*)$/.exec(line);
    if (run) {
      name = run[1]!.trim();
      continue;
    }
    const m = /^(not )?ok \d+ (?:# (SKIP|XFAIL) )?(.*)$/.exec(line);
    if (!m) continue;
    const outcome: CowOutcome =
      m[2] === 'SKIP' ? 'skip' : m[2] === 'XFAIL' ? 'xfail' : m[1] ? 'fail' : 'pass';
    results.push({ name, outcome, message: m[3]!.trim() });
  }
  return { results, planned };
}

/** Boots the kernel with swap and huge pages and runs its `cow`. */
export async function runKernelCowSelftests(
  artifacts: KernelArtifacts,
  onLine?: (line: string) => void,
): Promise<KernelCowRun> {
  const guest = await bootGuest(artifacts, [{ path: 'job/run', data: COW_JOB, mode: 0o755 }], {
    // Three hours: under TCG on a loaded host the 1 GiB hugetlb cases (each touches 1-3 GiB)
    // take minutes each; the 8 GiB boot got through 107 cases in 30 minutes at load 30.
    timeoutMs: 10_800_000,
    cmdline: COW_CMDLINE,
    memoryMib: COW_GUEST_MEMORY_MIB,
    ...(onLine ? { onLine } : {}),
  });
  const failed = guest.lines.find((l) => l.startsWith('@@COW '));
  if (failed !== undefined) throw new Error(`the guest could not set up the COW tests: ${failed.slice(6)}`);
  const begin = guest.lines.indexOf('@@TAP-BEGIN');
  const end = guest.lines.indexOf('@@TAP-END');
  const tap = guest.lines.slice(begin + 1, end < 0 ? undefined : end);
  const { results, planned } = parseCowTap(tap);
  return { results, planned, tap, guest };
}

/** One row of the side-by-side table. */
export interface CowRow {
  /** The case. */
  readonly name: string;
  /** The kernel's outcome (null: the kernel has no such case). */
  readonly kernel: CowOutcome | null;
  /** hmmsim's outcome (null: the port has no such case). */
  readonly hmmsim: CowOutcome | null;
  /** Why hmmsim does not run the case, if it does not (an explained difference). */
  readonly notModelled: string | null;
  /** Same outcome on both. */
  readonly agree: boolean;
}

/** Matches the kernel's results with hmmsim's by name, in the kernel's order. */
export function matchCowResults(
  kernel: readonly KernelCowResult[],
  hmmsim: readonly { readonly name: string; readonly outcome: CowOutcome; readonly notModelled?: string }[],
): CowRow[] {
  const rows: CowRow[] = [];
  const mine = new Map(hmmsim.map((r) => [r.name, r]));
  for (const k of kernel) {
    const h = mine.get(k.name);
    rows.push({
      name: k.name,
      kernel: k.outcome,
      hmmsim: h?.outcome ?? null,
      notModelled: h?.notModelled ?? null,
      agree: h !== undefined && h.outcome === k.outcome,
    });
    mine.delete(k.name);
  }
  for (const [name, h] of mine)
    rows.push({ name, kernel: null, hmmsim: h.outcome, notModelled: h.notModelled ?? null, agree: false });
  return rows;
}

/**
 * `hmmsim selftest --suite cow --kernel`: the kernel's cow beside hmmsim's port (following 6.12
 * where the two kernels differ), case by case. Cases hmmsim does not model are listed with why;
 * any other difference in outcome is a disagreement (exit 1).
 */
export async function selftestCowKernel(
  ctx: CommandContext,
  artifacts: KernelArtifacts,
  matchesFilter: (name: string, pattern: string) => boolean,
): Promise<number> {
  const filter = ctx.options.filter as string | undefined;
  const wanted = (name: string): boolean => filter === undefined || matchesFilter(name, filter);
  ctx.print(`# the real kernel: Linux ${artifacts.kernelRelease} in QEMU, its own cow (selftests/mm/cow.c)`);
  const k = await runKernelCowSelftests(artifacts);
  if (k.results.length === 0)
    throw new Error(`the kernel's cow printed no results; console:\n${k.guest.lines.slice(-20).join('\n')}`);
  const mine: { name: string; outcome: CowOutcome; notModelled?: string; message: string }[] = [];
  for (const c of listCowCases()) {
    if (!wanted(c.name)) continue;
    const r = await c.run({ kernelVersion: '6.12' });
    mine.push({ ...r, ...(c.notModelled === undefined ? {} : { notModelled: c.notModelled }) });
  }
  const rows = matchCowResults(
    k.results.filter((r) => wanted(r.name)),
    mine,
  );
  if (rows.length === 0) throw new CliUsageError(`no COW self-test matches --filter ${filter}`);
  const w = Math.max(...rows.map((r) => r.name.length));
  ctx.print(`# ${'case'.padEnd(w)}  kernel  hmmsim`);
  for (const r of rows) {
    const mark = r.agree ? '' : r.notModelled !== null ? '  (not modelled)' : '  DISAGREE';
    ctx.print(`  ${r.name.padEnd(w)}  ${(r.kernel ?? '—').padEnd(6)}  ${(r.hmmsim ?? '—').padEnd(6)}${mark}`);
  }
  const count = (side: 'kernel' | 'hmmsim', o: CowOutcome): number =>
    rows.filter((r) => r[side] === o).length;
  const summary = (side: 'kernel' | 'hmmsim'): string =>
    `${count(side, 'pass')} pass, ${count(side, 'fail')} fail, ${count(side, 'xfail')} xfail, ${count(side, 'skip')} skip`;
  const explained = rows.filter((r) => !r.agree && r.notModelled !== null);
  const disagree = rows.filter((r) => !r.agree && r.notModelled === null);
  ctx.print(
    `# kernel: ${k.results.length} cases (plan 1..${k.planned}): ${summary('kernel')}; boot ${(k.guest.bootMs / 1000).toFixed(1)} s, whole run ${(k.guest.totalMs / 1000).toFixed(1)} s (${k.guest.accel})`,
  );
  ctx.print(
    `# hmmsim: ${mine.length} cases: ${summary('hmmsim')} (${explained.length} differ: not modelled)`,
  );
  ctx.print(
    disagree.length > 0
      ? `# DISAGREEMENT in ${disagree.length}: ${disagree.map((r) => r.name).join(', ')}`
      : explained.length === 0
        ? `# agreement: all ${rows.length} cases agree`
        : `# agreement: every case agrees but the ${explained.length} hmmsim does not model`,
  );
  for (const r of disagree) {
    const kr = k.results.find((x) => x.name === r.name);
    const hr = mine.find((x) => x.name === r.name);
    ctx.print(`#   ${r.name}: kernel "${kr?.message ?? '—'}", hmmsim "${hr?.message ?? '—'}"`);
  }
  if (ctx.json)
    ctx.emit({
      command: 'selftest --suite cow --kernel',
      ok: disagree.length === 0,
      kernel: artifacts.kernelRelease,
      rows,
      bootMs: Math.round(k.guest.bootMs),
      totalMs: Math.round(k.guest.totalMs),
      tap: k.tap,
    });
  return disagree.length === 0 ? EXIT_OK : EXIT_FAILED;
}

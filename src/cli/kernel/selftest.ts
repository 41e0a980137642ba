/**
 * The real kernel's HMM self-tests beside hmmsim's: the guest runs 6.12's own `hmm-tests`
 * (compiled from the same source tree as the kernel) and its TAP is matched with hmmsim's port,
 * test by test, by name. hmmsim's instances that 6.12's suite does not have (tests of later
 * kernels) are listed as having no counterpart; any other difference in outcome is a
 * disagreement.
 * @module
 */
import type { KernelArtifacts } from './artifacts.ts';
import { bootGuest, type GuestRun } from './qemu.ts';

/** One test instance of the kernel's TAP. */
export interface KernelTapResult {
  /** `hmm.hmm_device_private.anon_read`. */
  readonly name: string;
  readonly outcome: 'pass' | 'fail' | 'skip';
  /** The `#` lines the harness printed for it (assertions, skip reasons). */
  readonly notes: readonly string[];
}

/** What the kernel's `hmm-tests` reported. */
export interface KernelSelftestRun {
  readonly results: readonly KernelTapResult[];
  /** The `1..N` plan. */
  readonly planned: number;
  /** The TAP lines, as printed. */
  readonly tap: readonly string[];
  readonly guest: GuestRun;
}

/**
 * The guest's job: THP on madvise only (hmmsim's default, and the usual distribution setting:
 * with `always`, the suite's 4 MiB buffers get THPs, which 6.12's make_device_exclusive_range
 * cannot make exclusive — it skips tail pages and EXCLUSIVE fails with -EBUSY), huge pages for
 * the hugetlbfs tests, then the suite.
 */
const SELFTEST_JOB = [
  '#!/bin/sh',
  'echo madvise > /sys/kernel/mm/transparent_hugepage/enabled',
  'echo 16 > /proc/sys/vm/nr_hugepages',
  'echo @@TAP-BEGIN',
  '/bin/hmm-tests',
  'rc=$?',
  'echo @@TAP-END',
  'exit $rc',
  '',
].join('\n');

/** Parses kselftest TAP: `ok N name`, `not ok N name`, `ok N name # SKIP why`, `# …` notes. */
export function parseKselftestTap(lines: readonly string[]): { results: KernelTapResult[]; planned: number } {
  const results: KernelTapResult[] = [];
  let planned = -1;
  let notes: string[] = [];
  for (const line of lines) {
    const plan = /^1\.\.(\d+)\s*$/.exec(line);
    if (plan) {
      planned = Number(plan[1]);
      continue;
    }
    const m = /^(not )?ok \d+ (\S+)(?:\s+#\s*(SKIP|XFAIL)\b.*)?$/.exec(line);
    if (m) {
      const outcome = m[3] === 'SKIP' ? 'skip' : m[1] ? 'fail' : 'pass';
      results.push({ name: m[2]!, outcome, notes });
      notes = [];
    } else if (line.startsWith('#')) notes.push(line);
  }
  return { results, planned };
}

/** Boots the kernel and runs its `hmm-tests`. */
export async function runKernelSelftests(
  artifacts: KernelArtifacts,
  onLine?: (line: string) => void,
): Promise<KernelSelftestRun> {
  const guest = await bootGuest(artifacts, [{ path: 'job/run', data: SELFTEST_JOB, mode: 0o755 }], {
    timeoutMs: 600_000,
    ...(onLine ? { onLine } : {}),
  });
  const begin = guest.lines.indexOf('@@TAP-BEGIN');
  const end = guest.lines.indexOf('@@TAP-END');
  const tap = guest.lines.slice(begin + 1, end < 0 ? undefined : end);
  const { results, planned } = parseKselftestTap(tap);
  return { results, planned, tap, guest };
}

/** One row of the side-by-side table. */
export interface SelftestRow {
  readonly name: string;
  readonly kernel: 'pass' | 'fail' | 'skip' | null;
  readonly hmmsim: 'pass' | 'fail' | null;
  /** Both ran and agree, or hmmsim's test has no 6.12 counterpart. */
  readonly agree: boolean;
}

/** Matches the kernel's results with hmmsim's by name. */
export function matchSelftests(
  kernel: readonly KernelTapResult[],
  hmmsim: readonly { readonly name: string; readonly ok: boolean }[],
): SelftestRow[] {
  const rows: SelftestRow[] = [];
  const mine = new Map(hmmsim.map((r) => [r.name, r.ok ? ('pass' as const) : ('fail' as const)]));
  for (const k of kernel) {
    const h = mine.get(k.name) ?? null;
    rows.push({ name: k.name, kernel: k.outcome, hmmsim: h, agree: h !== null && h === k.outcome });
    mine.delete(k.name);
  }
  // hmmsim's instances that 6.12 does not have: version differences, not disagreements.
  for (const [name, h] of mine) rows.push({ name, kernel: null, hmmsim: h, agree: h === 'pass' });
  return rows;
}

/**
 * The kernel oracle's commands: `hmmsim kernel build`, `hmmsim kernel fuzz`, `hmmsim selftest
 * --kernel` and `hmmsim run --kernel`. Each builds (or reuses) the cached kernel first; a missing
 * package or a failed build is an error that says what is missing, never a skip.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { listSelftests, runSelftest, type SelftestResult } from '../../selftest/index.ts';
import { CliUsageError } from '../args.ts';
import { type CommandContext, EXIT_FAILED, EXIT_OK, EXIT_SCENARIO, readScenario } from '../context.ts';
import { ensureKernelArtifacts, type KernelArtifacts } from './artifacts.ts';
import {
  compareScenario,
  compileBatch,
  runBatchOnKernel,
  runOnHmmsim,
  type ScenarioComparison,
} from './compare.ts';
import { fuzzKernel } from './fuzz.ts';
import { ProgramRefusal } from './program.ts';
import { matchSelftests, runKernelSelftests } from './selftest.ts';

/** Builds or finds the artifacts; build progress goes to stderr. */
export async function artifactsFor(ctx: CommandContext): Promise<KernelArtifacts> {
  return ensureKernelArtifacts((line) => ctx.io.err(`${line}\n`));
}

/** `hmmsim kernel build|fuzz`. */
export async function kernelCommand(ctx: CommandContext): Promise<number> {
  const what = ctx.positionals[0];
  if (what === 'build') {
    const t0 = ctx.io.now();
    const a = await artifactsFor(ctx);
    if (ctx.json)
      ctx.emit({ command: 'kernel build', ok: true, ...a, elapsedMs: Math.round(ctx.io.now() - t0) });
    else {
      ctx.print(`kernel ${a.kernelRelease} (linux-source-6.12 ${a.sourceVersion}, config ${a.configHash})`);
      ctx.print(`  bzImage   ${a.bzImage}`);
      ctx.print(`  initramfs ${a.initramfs}`);
    }
    return EXIT_OK;
  }
  if (what === 'fuzz') return fuzzKernel(ctx, await artifactsFor(ctx));
  throw new CliUsageError(`unknown kernel subcommand "${what}" (expected build or fuzz)`, 'kernel');
}

/** `hmmsim selftest --kernel`: the real kernel's hmm-tests beside hmmsim's, test by test. */
export async function selftestKernel(
  ctx: CommandContext,
  matchesFilter: (name: string, pattern: string) => boolean,
): Promise<number> {
  const filter = ctx.options.filter as string | undefined;
  const artifacts = await artifactsFor(ctx);
  ctx.print(`# the real kernel: Linux ${artifacts.kernelRelease} in QEMU, its own hmm-tests`);
  const k = await runKernelSelftests(artifacts);
  if (k.results.length === 0) {
    throw new Error(
      `the kernel's hmm-tests printed no results; console:\n${k.guest.lines.slice(-20).join('\n')}`,
    );
  }
  const wanted = (name: string): boolean => filter === undefined || matchesFilter(name, filter);
  const mine: SelftestResult[] = [];
  for (const c of listSelftests()) if (wanted(c.name)) mine.push(await runSelftest(c));
  const rows = matchSelftests(
    k.results.filter((r) => wanted(r.name)),
    mine,
  );
  if (rows.length === 0) throw new CliUsageError(`no self-test matches --filter ${filter}`);
  const w = Math.max(...rows.map((r) => r.name.length));
  ctx.print(`# ${'test'.padEnd(w)}  kernel  hmmsim`);
  for (const r of rows) {
    const mark = r.kernel === null ? '(no 6.12 counterpart)' : r.agree ? '' : '  DISAGREE';
    ctx.print(`  ${r.name.padEnd(w)}  ${(r.kernel ?? '—').padEnd(6)}  ${(r.hmmsim ?? '—').padEnd(6)}${mark}`);
  }
  const matched = rows.filter((r) => r.kernel !== null);
  const skipped = matched.filter((r) => r.kernel === 'skip').length;
  const disagree = rows.filter((r) => !r.agree);
  const newer = rows.filter((r) => r.kernel === null).length;
  ctx.print(
    `# kernel: ${matched.length} instances (plan 1..${k.planned}), ${matched.filter((r) => r.kernel === 'pass').length} passed, ${matched.filter((r) => r.kernel === 'fail').length} failed, ${skipped} skipped; boot ${(k.guest.bootMs / 1000).toFixed(1)} s, whole run ${(k.guest.totalMs / 1000).toFixed(1)} s (${k.guest.accel})`,
  );
  ctx.print(`# hmmsim: ${mine.length} instances, ${newer} with no 6.12 counterpart`);
  ctx.print(
    disagree.length === 0
      ? `# agreement: all ${matched.length} kernel instances agree`
      : `# DISAGREEMENT in ${disagree.length}: ${disagree.map((r) => r.name).join(', ')}`,
  );
  for (const r of disagree) {
    const kr = k.results.find((x) => x.name === r.name);
    if (kr && kr.notes.length > 0) ctx.print(`#   kernel's notes on ${r.name}: ${kr.notes.join(' | ')}`);
    const hr = mine.find((x) => x.name === r.name);
    if (hr?.error) ctx.print(`#   hmmsim's failure of ${r.name}: ${hr.error.split('\n')[0]}`);
  }
  if (ctx.json) {
    ctx.emit({
      command: 'selftest --kernel',
      ok: disagree.length === 0,
      kernel: artifacts.kernelRelease,
      rows,
      bootMs: Math.round(k.guest.bootMs),
      totalMs: Math.round(k.guest.totalMs),
      tap: k.tap,
    });
  }
  return disagree.length === 0 ? EXIT_OK : EXIT_FAILED;
}

/** Prints a comparison, step by step; returns whether it agrees. */
export function printComparison(ctx: CommandContext, c: ScenarioComparison, verbose: boolean): boolean {
  for (const l of c.lines) {
    if (!verbose && l.agree) continue;
    const where = `${c.file}:${l.source.line}`;
    if (l.agree) ctx.print(`  ✓ ${where} ${l.source.path} (${l.op}): ${l.kernel}`);
    else ctx.print(`  ✗ ${where} ${l.source.path} (${l.op})`);
  }
  for (const d of c.divergences) {
    ctx.print(`DIVERGENCE ${c.file}:${d.source.line}: ${d.source.path} (${d.op}) ${d.field}`);
    ctx.print(`  kernel: ${d.kernel}`);
    if (d.hmmsim !== '') ctx.print(`  hmmsim: ${d.hmmsim}`);
  }
  if (c.hmmsimFailure) ctx.print(`hmmsim stopped: ${c.hmmsimFailure}`);
  return c.divergences.length === 0 && c.hmmsimFailure === null;
}

/** `hmmsim run FILE --kernel`: the scenario on the real kernel and on hmmsim, compared. */
export async function runKernel(ctx: CommandContext): Promise<number> {
  const file = ctx.positionals[0]!;
  const doc = readScenario(ctx, file);
  let programs: ReturnType<typeof compileBatch>;
  try {
    programs = compileBatch([doc]);
  } catch (e) {
    if (!(e instanceof ProgramRefusal)) throw e;
    ctx.io.err(`hmmsim: cannot run on the kernel: ${e.message}\n`);
    if (ctx.json) ctx.emit({ command: 'run --kernel', ok: false, refused: e.message });
    return EXIT_SCENARIO;
  }
  const artifacts = await artifactsFor(ctx);
  ctx.print(`scenario ${doc.name} on Linux ${artifacts.kernelRelease} (QEMU) and on hmmsim\n`);
  const { guest, output } = await runBatchOnKernel(artifacts, programs);
  const h = await runOnHmmsim(doc);
  const c = compareScenario(doc, programs[0]!, output, h.results, h.failure);
  const ok = printComparison(ctx, c, true) && output.errors.length === 0;
  for (const e of output.errors) ctx.print(`runner error: ${e}`);
  for (const l of output.kernelLog) ctx.print(`kernel log: ${l}`);
  ctx.print(
    ok
      ? `\nAGREE ${doc.name}: ${c.steps} steps (guest boot ${(guest.bootMs / 1000).toFixed(1)} s, ${guest.accel})`
      : `\nDIVERGE ${doc.name}: ${c.divergences.length} divergences in ${c.steps} steps`,
  );
  if (ctx.json)
    ctx.emit({
      command: 'run --kernel',
      ok,
      scenario: doc.name,
      file,
      comparison: c,
      runnerErrors: output.errors,
    });
  return ok ? EXIT_OK : EXIT_FAILED;
}

/** Writes `text` to `file` (a scenario that diverged). */
export function writeScenarioFile(ctx: CommandContext, file: string, text: string): void {
  writeFileSync(ctx.resolve(file), text);
}

/**
 * `hmmsim selftest --suite cow`: the port of the kernel's COW self-tests (selftests/mm/cow.c),
 * printed as cow.c prints its TAP; exit 1 when a case fails (skips and expected failures do
 * not), as kselftest counts them.
 * @module
 */
import { type CowResult, CowTap, listCowCases } from '../selftest/cow/index.ts';
import { CliUsageError } from './args.ts';
import { type CommandContext, EXIT_FAILED, EXIT_OK, openTrace } from './context.ts';
import { Progress } from './io.ts';

/** Runs the cases whose name matches `--filter` and prints their TAP. */
export async function selftestCow(
  ctx: CommandContext,
  matchesFilter: (name: string, pattern: string) => boolean,
): Promise<number> {
  const filter = ctx.options.filter as string | undefined;
  const cases = listCowCases().filter((c) => filter === undefined || matchesFilter(c.name, filter));
  if (cases.length === 0) throw new CliUsageError(`no COW self-test matches --filter ${filter}`);
  const trace = openTrace(ctx, ctx.options.trace);
  const tap = new CowTap((line) => ctx.print(line));
  const progress = new Progress(ctx.io);
  const results: CowResult[] = [];
  const t0 = ctx.io.now();
  tap.plan(cases.length);
  try {
    for (const [i, c] of cases.entries()) {
      if (ctx.interrupted() !== null) break;
      progress.update(`[${i + 1}/${cases.length}] ${c.name}`, true);
      const r = await c.run({ onMachine: (m) => trace?.attach(m, c.name) });
      trace?.detachAll();
      progress.done();
      results.push(r);
      tap.result(r);
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    progress.done();
    await trace?.close();
  }
  const ok = tap.finish();
  if (trace) ctx.print(`# trace written to ${ctx.options.trace}`);
  if (ctx.json) {
    const count = (o: string): number => results.filter((r) => r.outcome === o).length;
    ctx.emit({
      command: 'selftest --suite cow',
      ok,
      total: results.length,
      passed: count('pass'),
      failed: count('fail'),
      xfailed: count('xfail'),
      skipped: count('skip'),
      elapsedMs: Math.round(ctx.io.now() - t0),
      results,
      trace: trace?.path ?? null,
    });
  }
  return ok ? EXIT_OK : EXIT_FAILED;
}

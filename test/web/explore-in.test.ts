/**
 * `exploreIn` (what the Node tests explore with, resolving settings as Race mode does) takes a scenario file's
 * `explore` defaults as `hmmsim explore` does: its report equals the CLI's `--json` report for the
 * same file and options, field for field (elapsed time aside), and a misplaced option is refused
 * with the CLI's message.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../src/cli/io.ts';
import { main } from '../../src/cli/main.ts';
import { loadScenario } from '../../src/cli/scenario/validate.ts';
import type { ExploreReport } from '../../src/explore/types.ts';
import { exploreIn } from './explore-in.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const TMP = mkdtempSync(path.join(tmpdir(), 'hmmsim-explore-in-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

/** The race example with `explore` defaults of our choosing, as a file and as a document. */
function withDefaults(explore: Record<string, unknown>): { file: string; text: string } {
  const doc = JSON.parse(
    readFileSync(path.join(ROOT, 'examples/scenarios/device-read-vs-munmap.json'), 'utf8'),
  );
  const text = JSON.stringify({ ...doc, explore }, null, 2);
  const file = path.join(TMP, `defaults-${Object.values(explore).join('-')}.json`);
  writeFileSync(file, text);
  return { file, text };
}

/** `hmmsim explore FILE args… --json`, in-process: its report. */
async function cliReport(file: string, args: string[]): Promise<ExploreReport> {
  let out = '';
  const io: CliIo = {
    out: (t) => {
      out += t;
    },
    err: () => {},
    errIsTTY: false,
    cwd: TMP,
    now: () => performance.now(),
    readStdin: () => '',
    cores: 1,
  };
  await main(['explore', file, ...args, '--json'], io);
  return JSON.parse(out).report as ExploreReport;
}

function stable(r: ExploreReport): unknown {
  const { elapsedMs: _e, ...rest } = r;
  return JSON.parse(JSON.stringify(rest));
}

describe('exploreIn honours the scenario file’s explore defaults', () => {
  it('strategy, budget, seed and depth from the file: the CLI’s report', async () => {
    const { file, text } = withDefaults({ strategy: 'pct', schedules: 6, seed: 4, depth: 3 });
    const got = await exploreIn({ doc: loadScenario(text, file) }, {});
    expect(got).toMatchObject({ strategy: 'pct', schedules: 6, seed: 4 });
    expect(stable(got)).toEqual(stable(await cliReport(file, [])));
  });

  it('options given win over the file’s, as on the command line', async () => {
    const { file, text } = withDefaults({ strategy: 'pct', schedules: 6, seed: 4, depth: 3 });
    const got = await exploreIn({ doc: loadScenario(text, file) }, { seed: 9, schedules: 3, depth: 1 });
    expect(got).toMatchObject({ strategy: 'pct', schedules: 3, seed: 9 });
    expect(stable(got)).toEqual(
      stable(await cliReport(file, ['--seed', '9', '--schedules', '3', '--depth', '1'])),
    );
  });

  it('the file’s preemption bound bounds the exhaustive search', async () => {
    const { file, text } = withDefaults({ strategy: 'exhaustive', bound: 0 });
    const got = await exploreIn({ doc: loadScenario(text, file) }, {});
    // Bound 0: no preemption at all, so the search ends long before the default budget.
    expect(got.exhausted).toBe(true);
    expect(got.schedules).toBeLessThan(1000);
    expect(stable(got)).toEqual(stable(await cliReport(file, [])));
    const wider = await exploreIn({ doc: loadScenario(text, file) }, { bound: 1 });
    expect(wider.schedules).toBeGreaterThan(got.schedules);
  });

  it('an option the strategy does not take is refused with the CLI’s message', async () => {
    const { file, text } = withDefaults({ strategy: 'random', schedules: 2 });
    await expect(exploreIn({ doc: loadScenario(text, file) }, { depth: 2 })).rejects.toThrow(
      '--depth applies to --strategy pct',
    );
    await expect(exploreIn({ doc: loadScenario(text, file) }, { bound: 1 })).rejects.toThrow(
      '--bound applies to --strategy exhaustive',
    );
  });
});

/**
 * The bad-input suite, command line: every case runs `hmmsim` in-process (`main` with its own
 * I/O) and asserts the exit code and the one-line message; none may print a stack trace or
 * report an internal error, and each must finish within the test's timeout.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../src/cli/io.ts';
import { main } from '../../src/cli/main.ts';
import { COMMANDS } from '../../src/cli/specs.ts';
import { BAD_ARGS, BAD_FILES, EXPLORE_BAD_FILES, GOOD_FILES } from './cases.ts';

const TMP = mkdtempSync(path.join(tmpdir(), 'hmmsim-bad-'));
beforeAll(() => {
  for (const [name, [text]] of Object.entries({ ...BAD_FILES, ...EXPLORE_BAD_FILES }))
    writeFileSync(path.join(TMP, name), text);
  for (const [name, text] of Object.entries(GOOD_FILES)) writeFileSync(path.join(TMP, name), text);
});
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs `hmmsim argv…` in-process from the suite's directory. */
async function hmmsim(argv: readonly string[], stdin = ''): Promise<Run> {
  let out = '';
  let err = '';
  const io: CliIo = {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    errIsTTY: false,
    cwd: TMP,
    now: () => performance.now(),
    readStdin: () => stdin,
    cores: 2,
  };
  const code = await main(argv, io);
  return { code, out, err };
}

/** No stack trace, no internal error, anywhere in the output. */
function clean(r: Run): void {
  const all = r.out + r.err;
  expect(all).not.toMatch(/\n\s+at .+[:(]\d+/);
  expect(all).not.toContain('hmmsim: internal error');
}

const T = 20_000;

describe('command lines', () => {
  it.each(BAD_ARGS.map((c) => [c.argv.join(' ') || '(nothing)', c] as const))(
    'hmmsim %s',
    async (_, c) => {
      const r = await hmmsim(c.argv, c.stdin);
      clean(r);
      expect({ code: r.code, err: r.err.split('\n')[0] }).toEqual({
        code: c.code,
        err: expect.stringMatching(c.err),
      });
    },
    T,
  );
});

describe('scenario files', () => {
  it.each(Object.entries(BAD_FILES))(
    'hmmsim run %s',
    async (name, [, message]) => {
      const r = await hmmsim(['run', name]);
      clean(r);
      expect(r.code).toBe(3);
      expect(r.out).toBe('');
      const first = r.err.split('\n')[0]!;
      expect(first.startsWith(`${name}:`)).toBe(true);
      expect(first).toMatch(message);
    },
    T,
  );

  it.each(['memory-zero.json', 'deep-objects.json', 'op-typo.json', 'hugetlb-too-many.json'])(
    'hmmsim explore %s and trace %s exit 3 too',
    async (name) => {
      for (const argv of [
        ['explore', name],
        ['trace', name, '-o', 'x.trace.json'],
      ]) {
        const r = await hmmsim(argv);
        clean(r);
        expect(r.code).toBe(3);
        expect(r.err).toMatch(BAD_FILES[name]![1]);
      }
    },
    T,
  );

  it('--json: one JSON document on stdout with the issues', async () => {
    const r = await hmmsim(['run', 'memory-16-pages.json', '--json']);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.out)).toMatchObject({
      ok: false,
      exitCode: 3,
      issues: [{ file: 'memory-16-pages.json', path: 'machine.memory' }],
    });
  });

  it('--json: a usage error is a JSON document too', async () => {
    const r = await hmmsim(['explore', 'good.json', '--seconds', '0', '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out)).toEqual({
      ok: false,
      exitCode: 2,
      error: 'option --seconds must be more than 0, got 0',
    });
  });
});

describe('help and version on every command', () => {
  const cases = COMMANDS.flatMap((c) => [
    [c.name, '--help'],
    [c.name, '-h'],
    ['help', c.name],
    [c.name, '--no-such-option', '-h'],
  ]);
  it.each(cases.map((a) => [a.join(' '), a] as const))('hmmsim %s', async (_, argv) => {
    const name = argv[0] === 'help' && !argv[1]!.startsWith('-') ? argv[1]! : argv[0]!;
    const r = await hmmsim(argv);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out.startsWith(`hmmsim ${name} — `)).toBe(true);
    expect(r.out).toContain('  -h, --help');
    expect(r.out).toContain('Exit codes:');
  });

  it.each([['--version'], ['-V']])('hmmsim %s', async (flag) => {
    const r = await hmmsim([flag]);
    expect(r).toEqual({ code: 0, out: expect.stringMatching(/^hmmsim \d+\.\d+\.\d+\n$/), err: '' });
  });

  it('hmmsim --help and help list every command', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const r = await hmmsim(argv);
      expect(r.code).toBe(0);
      for (const c of COMMANDS) expect(r.out).toContain(`  ${c.name} `);
    }
  });
});

describe('good input still works', () => {
  it('run - reads the scenario from stdin', async () => {
    const r = await hmmsim(['run', '-'], GOOD_FILES['good.json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('PASS base: ');
  });

  it('--seconds alone is a time budget (the scenario default of 20 schedules does not cap it)', async () => {
    const r = await hmmsim(['explore', 'good.json', '--seconds', '0.3']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('budget 0.3 s\n');
  });
});

/** Argument parsing of `hmmsim`: values, flags, errors with did-you-mean, and the help text. */
import { describe, expect, it } from 'vitest';
import { CliUsageError, EXIT_CODES, formatHelp, optionValue, parseArgs } from '../../../src/cli/args.ts';
import { COMMANDS, EXPLORE, RUN, TRACE_CMD } from '../../../src/cli/specs.ts';
import { editDistance, suggest } from '../../../src/cli/suggest.ts';

const error = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CliUsageError);
    return (e as Error).message;
  }
  throw new Error('no error');
};

describe('optionValue', () => {
  it('checks one option as parseArgs does, with the same messages', () => {
    expect(optionValue(EXPLORE, 'depth', '3')).toBe(3);
    expect(optionValue(EXPLORE, 'seconds', '0.5')).toBe(0.5);
    for (const [name, raw] of [
      ['depth', '0'],
      ['bound', '-1'],
      ['seconds', '0'],
      ['seconds', 'abc'],
      ['schedules', '1.5'],
      ['seed', ''],
    ] as const) {
      const message = error(() => optionValue(EXPLORE, name, raw));
      expect(message).toBe(error(() => parseArgs(EXPLORE, ['s.json', `--${name}=${raw}`])));
    }
    expect(error(() => optionValue(EXPLORE, 'depth', '0'))).toBe('option --depth must be at least 1, got 0');
    expect(() => optionValue(EXPLORE, 'nosuch', '1')).toThrow('explore has no option --nosuch');
  });
});

describe('parseArgs', () => {
  it('reads positionals, --name value, --name=value, flags and aliases', () => {
    const a = parseArgs(EXPLORE, ['s.json', '--schedules', '50', '--seed=3', '--strategy', 'pct', '--json']);
    expect(a.positionals).toEqual(['s.json']);
    expect(a.options).toEqual({ schedules: 50, seed: 3, strategy: 'pct', json: true });
    expect(parseArgs(TRACE_CMD, ['demo', '-o', 'x.json']).options).toEqual({ output: 'x.json' });
    expect(parseArgs(TRACE_CMD, ['demo', '-ox.json']).options).toEqual({ output: 'x.json' });
    expect(parseArgs(EXPLORE, ['--seconds', '1.5']).options).toEqual({ seconds: 1.5 });
  });

  it('treats everything after -- as positionals', () => {
    expect(parseArgs(RUN, ['--', '--odd-name.json']).positionals).toEqual(['--odd-name.json']);
  });

  it('rejects an unknown option with a suggestion', () => {
    expect(error(() => parseArgs(EXPLORE, ['--shedules', '5']))).toBe(
      'unknown option --shedules (did you mean --schedules?)',
    );
    expect(error(() => parseArgs(EXPLORE, ['--frobnicate']))).toBe('unknown option --frobnicate');
    expect(error(() => parseArgs(EXPLORE, ['-x']))).toBe('unknown option -x');
  });

  it('checks values', () => {
    expect(error(() => parseArgs(EXPLORE, ['--schedules']))).toBe('option --schedules needs a value (N)');
    expect(error(() => parseArgs(EXPLORE, ['--schedules', '--json']))).toBe(
      'option --schedules needs a value (N)',
    );
    expect(error(() => parseArgs(EXPLORE, ['--schedules', 'ten']))).toBe(
      'option --schedules expects an integer, got "ten"',
    );
    expect(error(() => parseArgs(EXPLORE, ['--schedules', '0']))).toBe(
      'option --schedules must be at least 1, got 0',
    );
    expect(error(() => parseArgs(EXPLORE, ['--strategy', 'rand']))).toBe(
      'option --strategy: unknown value "rand" (did you mean "random"? expected one of random, pct, exhaustive, portfolio)',
    );
    expect(error(() => parseArgs(EXPLORE, ['--json=yes']))).toBe('option --json takes no value');
    expect(error(() => parseArgs(EXPLORE, ['--seed', '1', '--seed', '2']))).toBe('option --seed given twice');
  });

  it('counts positionals', () => {
    expect(error(() => parseArgs(RUN, []))).toBe('missing <scenario.json>');
    expect(error(() => parseArgs(RUN, ['a.json', 'b.json']))).toBe(
      'unexpected argument "b.json" (only <scenario.json> is expected)',
    );
    expect(error(() => parseArgs(COMMANDS[0]!, ['x']))).toBe(
      'unexpected argument "x" (demo takes no arguments)',
    );
  });
});

describe('help', () => {
  it('lists every option, examples and the exit codes of each command', () => {
    for (const spec of COMMANDS) {
      const text = formatHelp(spec);
      expect(text).toContain(`hmmsim ${spec.name} — ${spec.summary}`);
      for (const o of spec.options) expect(text).toContain(`--${o.name}`);
      for (const [code, what] of EXIT_CODES) expect(text).toContain(`  ${code}  ${what}`);
      for (const [cmd] of spec.examples) expect(text).toContain(`hmmsim ${cmd}`);
    }
  });
});

describe('suggest', () => {
  it('finds the close word, preferring a transposition over a dropped letter', () => {
    expect(editDistance('shedules', 'schedules')).toBe(1);
    expect(suggest('pagse', ['page', 'pages'])).toBe('pages');
    expect(suggest('migrate_to_dev', ['migrateToDev', 'migrateToSys'])).toBe('migrateToDev');
    expect(suggest('xyz', ['demo', 'run'])).toBeUndefined();
  });
});

/**
 * Command-line argument parsing for `hmmsim`, by hand: `--name value`, `--name=value`, `-o value`,
 * flags, `--` to end the options; every error says what was wrong and, for a mistyped option or
 * value, what was probably meant. Node-free.
 * @module
 */
import { CliUsageError } from './errors.ts';
import { suggest } from './suggest.ts';

/** One option of a command. */
export interface OptionSpec {
  /** Long name without dashes: `schedules` for `--schedules`. */
  readonly name: string;
  /** One-letter alias without the dash: `o` for `-o`. */
  readonly alias?: string;
  /** `flag` takes no value; the others take one. */
  readonly kind: 'flag' | 'string' | 'integer' | 'number' | 'choice';
  /** Allowed values of a `choice`. */
  readonly choices?: readonly string[];
  /** Smallest allowed value of an `integer` or `number`. */
  readonly min?: number;
  /** `min` itself is not allowed (a duration of 0 s). */
  readonly exclusiveMin?: boolean;
  /** The option may be given several times; its value is then the list of values (strings). */
  readonly repeatable?: boolean;
  /** How the value is shown in the usage (`N`, `FILE`). */
  readonly placeholder?: string;
  readonly description: string;
}

/** One command: its positionals, options, help text and examples. */
export interface CommandSpec {
  readonly name: string;
  /** One line for `hmmsim help`. */
  readonly summary: string;
  /** Usage lines, each following `hmmsim `. */
  readonly usage: readonly string[];
  /** Positional arguments accepted (min, max) and how they are named in errors. */
  readonly positionals: { readonly min: number; readonly max: number; readonly name: string };
  readonly options: readonly OptionSpec[];
  /** Paragraphs after the usage. */
  readonly details?: readonly string[];
  /** Example command lines (without the leading `hmmsim `), each with a comment. */
  readonly examples: readonly (readonly [string, string])[];
  /**
   * A server (`hmmsim web`): SIGINT/SIGTERM is how it ends, not an interruption of its work, so
   * its own exit code stands (0) instead of 130/143.
   */
  readonly endsOnSignal?: boolean;
}

/** Values of the parsed options by long name (absent when not given). */
export type OptionValues = Record<string, string | number | boolean | readonly string[] | undefined>;

/** What {@link parseArgs} returns. */
export interface ParsedArgs {
  readonly options: OptionValues;
  readonly positionals: readonly string[];
}

export { CliUsageError } from './errors.ts';

/**
 * Options every command takes without listing them: `--help`/`-h`. {@link parseArgs} and
 * {@link formatHelp} add them to each spec, so a new command gets them for free.
 */
export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  { name: 'help', alias: 'h', kind: 'flag', description: 'show this help and exit' },
];

/** The spec's options plus the {@link GLOBAL_OPTIONS} it does not list itself. */
export function allOptions(spec: CommandSpec): readonly OptionSpec[] {
  return [...GLOBAL_OPTIONS.filter((g) => !spec.options.some((o) => o.name === g.name)), ...spec.options];
}

/** Parses `argv` (the words after the command name) against `spec`. */
export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const options: OptionValues = {};
  const positionals: string[] = [];
  const fail = (message: string): never => {
    throw new CliUsageError(message, spec.name);
  };
  // --help (or -h) anywhere before `--` wins over everything else on the line: `hmmsim run
  // --help` needs no file, and `hmmsim explore --seconds 0 -h` shows the help, not the error.
  const end = argv.indexOf('--');
  if ((end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h')) {
    return { options: { help: true }, positionals: [] };
  }
  const known = allOptions(spec);
  const byName = new Map(known.map((o) => [o.name, o]));
  const byAlias = new Map(known.filter((o) => o.alias).map((o) => [o.alias!, o]));
  let i = 0;
  let onlyPositionals = false;
  while (i < argv.length) {
    const arg = argv[i++]!;
    if (onlyPositionals || arg === '-' || !arg.startsWith('-')) {
      positionals.push(arg);
      continue;
    }
    if (arg === '--') {
      onlyPositionals = true;
      continue;
    }
    let opt: OptionSpec | undefined;
    let inline: string | undefined;
    let shown: string;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
      shown = `--${name}`;
      opt = byName.get(name);
      if (opt === undefined) {
        const s = suggest(name, [...byName.keys()]);
        fail(`unknown option ${shown}${s ? ` (did you mean --${s}?)` : ''}`);
      }
    } else {
      const letter = arg.slice(1, 2);
      shown = `-${letter}`;
      opt = byAlias.get(letter);
      if (opt === undefined) fail(`unknown option ${shown}`);
      if (arg.length > 2) inline = arg.slice(2);
    }
    const o = opt!;
    if (o.kind === 'flag') {
      if (inline !== undefined) fail(`option --${o.name} takes no value`);
      options[o.name] = true;
      continue;
    }
    let raw = inline;
    if (raw === undefined) {
      if (i >= argv.length || (argv[i]!.startsWith('-') && argv[i] !== '-' && !/^-\d/.test(argv[i]!))) {
        fail(`option --${o.name} needs a value (${o.placeholder ?? 'VALUE'})`);
      }
      raw = argv[i++]!;
    }
    if (o.repeatable) {
      const prev = (options[o.name] as readonly string[] | undefined) ?? [];
      options[o.name] = [...prev, String(convert(o, raw, fail))];
      continue;
    }
    if (options[o.name] !== undefined) fail(`option --${o.name} given twice`);
    options[o.name] = convert(o, raw, fail);
  }
  if (positionals.length < spec.positionals.min) fail(`missing ${spec.positionals.name}`);
  if (positionals.length > spec.positionals.max) {
    fail(
      spec.positionals.max === 0
        ? `unexpected argument "${positionals[0]}" (${spec.name} takes no arguments)`
        : `unexpected argument "${positionals[spec.positionals.max]}" (only ${spec.positionals.name} is expected)`,
    );
  }
  return { options, positionals };
}

/**
 * The value of option `--name` of `spec` written as `raw`, checked as {@link parseArgs} checks it
 * (type, minimum, choices); a bad value throws the same {@link CliUsageError}. For forms that take
 * a command's options one field at a time (the page's Race panel).
 */
export function optionValue(spec: CommandSpec, name: string, raw: string): string | number {
  const o = allOptions(spec).find((x) => x.name === name);
  if (o === undefined || o.kind === 'flag')
    throw new Error(`${spec.name} has no option --${name} with a value`);
  return convert(o, raw, (message) => {
    throw new CliUsageError(message, spec.name);
  });
}

function convert(o: OptionSpec, raw: string, fail: (m: string) => never): string | number {
  switch (o.kind) {
    case 'integer':
    case 'number': {
      const ok =
        o.kind === 'integer' ? /^-?\d+$/.test(raw) : /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw);
      const v = Number(raw);
      if (!ok || !Number.isFinite(v) || (o.kind === 'integer' && !Number.isSafeInteger(v))) {
        fail(`option --${o.name} expects ${o.kind === 'integer' ? 'an integer' : 'a number'}, got "${raw}"`);
      }
      if (o.min !== undefined && o.exclusiveMin && v <= o.min) {
        fail(`option --${o.name} must be more than ${o.min}, got ${raw}`);
      }
      if (o.min !== undefined && v < o.min) fail(`option --${o.name} must be at least ${o.min}, got ${raw}`);
      return v;
    }
    case 'choice': {
      const choices = o.choices ?? [];
      if (!choices.includes(raw)) {
        const s = suggest(raw, choices);
        fail(
          `option --${o.name}: unknown value "${raw}" (${s ? `did you mean "${s}"? ` : ''}expected one of ${choices.join(', ')})`,
        );
      }
      return raw;
    }
    default:
      if (raw === '') fail(`option --${o.name} needs a non-empty value`);
      return raw;
  }
}

/** The exit codes, as `--help` and the documentation list them. */
export const EXIT_CODES: readonly (readonly [number, string])[] = [
  [0, 'success'],
  [1, 'a check, test or expectation failed, or a violation was found'],
  [2, 'usage error (unknown command or option, bad value)'],
  [3, 'invalid scenario file'],
  [4, 'internal error'],
  [130, 'interrupted by SIGINT (143: SIGTERM) after a partial report'],
];

/** The `--help` text of a command. */
export function formatHelp(spec: CommandSpec): string {
  const lines: string[] = [`hmmsim ${spec.name} — ${spec.summary}`, '', 'Usage:'];
  for (const u of spec.usage) lines.push(`  hmmsim ${u}`);
  for (const d of spec.details ?? []) lines.push('', ...wrap(d, 98).map((l) => `${l}`));
  lines.push('', 'Options:');
  const options = allOptions(spec);
  const left = options.map((o) => {
    const alias = o.alias ? `-${o.alias}, ` : '    ';
    const value =
      o.kind === 'flag' ? '' : ` ${o.placeholder ?? (o.kind === 'choice' ? o.choices!.join('|') : 'VALUE')}`;
    return `  ${alias}--${o.name}${value}`;
  });
  const width = Math.max(...left.map((l) => l.length)) + 2;
  options.forEach((o, k) => {
    const text = wrap(o.description, Math.max(40, 110 - width));
    lines.push(left[k]!.padEnd(width) + text[0]);
    for (const t of text.slice(1)) lines.push(' '.repeat(width) + t);
  });
  if (spec.examples.length > 0) {
    lines.push('', 'Examples:');
    for (const [cmd, comment] of spec.examples) lines.push(`  hmmsim ${cmd}`, `      ${comment}`);
  }
  lines.push('', 'Exit codes:');
  for (const [code, what] of EXIT_CODES) lines.push(`  ${code}  ${what}`);
  return `${lines.join('\n')}\n`;
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  out.push(line);
  return out;
}

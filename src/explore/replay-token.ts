/**
 * Replay tokens: one printable, shell-safe word that names a schedule exactly — format version,
 * scenario, seed, mutant and the choices made at every decision point.
 *
 *   hx1.read-vs-munmap.7.D1.0_1k-1-0_5-2
 *
 * Fields, separated by `.`:
 * 1. `hx1`: the format and its version;
 * 2. the scenario name: ASCII letters, digits and `-` as they are, every other UTF-8 byte as `_`
 *    and two lowercase hex digits (`read vs munmap` → `read_20vs_20munmap`);
 * 3. the seed, in decimal;
 * 4. the mutant id, or `none`;
 * 5. the choices, as groups separated by `-`: `v` is one choice `v`, `v_n` is `n` choices `v` in a
 *    row, both in base 36 (`0_1k` = 56 zeros). Trailing zeros are left out: a schedule replays
 *    beyond its list with choice 0 (no preemption). Empty for a schedule without choices.
 *
 * Every character is one of `[A-Za-z0-9._-]`, so the token needs no quoting in a shell.
 * @module
 */
import { isMutantId, MUTANT_IDS, type MutantId } from '../mm/mutant.ts';
import { UsageError } from '../sim/errors.ts';

/** The first field of every token of this format. */
export const REPLAY_TOKEN_VERSION = 'hx1';

/** What a replay token names. */
export interface ReplayTokenData {
  /** Scenario name. */
  readonly scenario: string;
  /** Seed of the machines. */
  readonly seed: number;
  /** Mutant switched on, or null. */
  readonly mutant: MutantId | null;
  /** Choices at the decision points (trailing zeros dropped). */
  readonly choices: readonly number[];
}

/** The choices without their trailing zeros (which replay as the default anyway). */
export function trimChoices(choices: readonly number[]): number[] {
  let n = choices.length;
  while (n > 0 && choices[n - 1] === 0) n--;
  return choices.slice(0, n);
}

/** Encodes a schedule as a replay token. */
export function formatReplayToken(data: ReplayTokenData): string {
  const { scenario, seed, mutant, choices } = data;
  if (typeof scenario !== 'string' || scenario === '')
    throw new UsageError('replay token scenario', 'must be a non-empty string');
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new UsageError('replay token seed', `must be a non-negative integer, got ${String(seed)}`);
  if (mutant !== null && !isMutantId(mutant))
    throw new UsageError('replay token mutant', `unknown mutant ${String(mutant)}`);
  return [
    REPLAY_TOKEN_VERSION,
    encodeName(scenario),
    String(seed),
    mutant ?? 'none',
    encodeChoices(choices),
  ].join('.');
}

/** Decodes a replay token; a {@link UsageError} names the field that is malformed. */
export function parseReplayToken(token: string): ReplayTokenData {
  if (typeof token !== 'string') throw new UsageError('replay token', 'must be a string');
  const fields = token.split('.');
  if (fields.length !== 5) {
    throw new UsageError(
      'replay token',
      `expected 5 fields separated by "." (version.scenario.seed.mutant.choices), got ${fields.length} in "${token}"`,
    );
  }
  const [version, name, seedText, mutantText, choicesText] = fields as [
    string,
    string,
    string,
    string,
    string,
  ];
  if (version !== REPLAY_TOKEN_VERSION) {
    throw new UsageError(
      'replay token version',
      `expected "${REPLAY_TOKEN_VERSION}", got "${version}" (a token of another format or hmmsim version)`,
    );
  }
  const scenario = decodeName(name);
  if (!/^(0|[1-9][0-9]*)$/.test(seedText) || !Number.isSafeInteger(Number(seedText)))
    throw new UsageError('replay token seed', `must be a non-negative decimal integer, got "${seedText}"`);
  let mutant: MutantId | null = null;
  if (mutantText !== 'none') {
    if (!isMutantId(mutantText)) {
      throw new UsageError(
        'replay token mutant',
        `unknown mutant "${mutantText}"; known: none, ${MUTANT_IDS.join(', ')}`,
      );
    }
    mutant = mutantText;
  }
  return { scenario, seed: Number(seedText), mutant, choices: decodeChoices(choicesText) };
}

function encodeName(name: string): string {
  let out = '';
  for (const b of new TextEncoder().encode(name)) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9-]/.test(c) ? c : `_${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

function decodeName(text: string): string {
  if (!/^([A-Za-z0-9-]|_[0-9a-f]{2})+$/.test(text)) {
    throw new UsageError(
      'replay token scenario',
      `"${text}" is not an encoded scenario name (letters, digits, "-" and "_" with two hex digits)`,
    );
  }
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '_') {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(text.charCodeAt(i));
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    throw new UsageError('replay token scenario', `"${text}" does not decode to UTF-8 text`);
  }
}

function encodeChoices(choices: readonly number[]): string {
  const list = trimChoices(choices);
  const groups: string[] = [];
  for (let i = 0; i < list.length; ) {
    const v = list[i]!;
    if (!Number.isSafeInteger(v) || v < 0)
      throw new UsageError(
        'replay token choices',
        `choice ${i} must be a non-negative integer, got ${String(v)}`,
      );
    let j = i + 1;
    while (j < list.length && list[j] === v) j++;
    const n = j - i;
    groups.push(n === 1 ? v.toString(36) : `${v.toString(36)}_${n.toString(36)}`);
    i = j;
  }
  return groups.join('-');
}

/** Longest choice list a token may hold (a guard against a forged run length). */
const MAX_CHOICES = 100_000_000;

function decodeChoices(text: string): number[] {
  const out: number[] = [];
  if (text === '') return out;
  const groups = text.split('-');
  for (let g = 0; g < groups.length; g++) {
    const m = /^([0-9a-z]+)(?:_([0-9a-z]+))?$/.exec(groups[g]!);
    if (m === null) {
      throw new UsageError(
        'replay token choices',
        `group ${g + 1} "${groups[g]}" is not a base-36 choice with an optional "_" and base-36 count`,
      );
    }
    const v = Number.parseInt(m[1]!, 36);
    const n = m[2] === undefined ? 1 : Number.parseInt(m[2], 36);
    if (!Number.isSafeInteger(v) || n < 1 || out.length + n > MAX_CHOICES) {
      throw new UsageError('replay token choices', `group ${g + 1} "${groups[g]}" is out of range`);
    }
    for (let i = 0; i < n; i++) out.push(v);
  }
  return out;
}

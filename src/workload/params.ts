/**
 * Parameters with provenance. Every number of a platform preset or a policy preset is a
 * {@link Param}: its value, its unit, and the source it came from (driver file and function,
 * paper and table, or the measurement it was fitted to), and whether it is unverified. `--set`,
 * `--sweep` and `--list` address parameters by their flat name.
 * @module
 */

/** One parameter value and where it came from. */
export interface Param<T extends number | string = number | string> {
  /** The value. */
  readonly value: T;
  /** Where the value comes from: a driver source location, a paper and table, or a fit. */
  readonly source: string;
  /** Unit of a number (`ns`, `bytes`, `bytes/ns`, `pages`, `%`, `count`…). */
  readonly unit?: string;
  /** Allowed values of a string parameter. */
  readonly choices?: readonly string[];
  /** True when the value was not checked against a source or measurement (a lead, not a fact). */
  readonly unverified?: boolean;
  /** One line saying what the parameter does. */
  readonly doc: string;
}

/** A named set of parameters. */
export type ParamSet = Readonly<Record<string, Param>>;

/** Builds a numeric parameter. */
export function num(
  value: number,
  unit: string,
  doc: string,
  source: string,
  unverified = false,
): Param<number> {
  return unverified ? { value, unit, doc, source, unverified } : { value, unit, doc, source };
}

/** Builds a string parameter with its allowed values. */
export function choice<T extends string>(
  value: T,
  choices: readonly T[],
  doc: string,
  source: string,
  unverified = false,
): Param<T> {
  return unverified ? { value, choices, doc, source, unverified } : { value, choices, doc, source };
}

/** Why a `--set` value was refused. */
export class ParamError extends Error {
  override readonly name = 'ParamError';
}

/**
 * Returns a copy of `set` with `key` set to `raw` (a string from the command line or a file),
 * converted to the parameter's type and checked; the source becomes `override`.
 */
export function withParam<S extends ParamSet>(
  set: S,
  key: string,
  raw: string | number,
  override: string,
): S {
  const p = set[key];
  if (p === undefined) throw new ParamError(`unknown parameter "${key}"`);
  let value: number | string;
  if (typeof p.value === 'number') {
    const v = typeof raw === 'number' ? raw : Number(raw);
    if (!Number.isFinite(v) || (typeof raw === 'string' && raw.trim() === '')) {
      throw new ParamError(`parameter ${key} expects a number${p.unit ? ` (${p.unit})` : ''}, got "${raw}"`);
    }
    if (v < 0) throw new ParamError(`parameter ${key} must not be negative, got ${v}`);
    value = v;
  } else {
    value = String(raw);
    if (p.choices && !p.choices.includes(value)) {
      throw new ParamError(
        `parameter ${key}: unknown value "${value}" (expected one of ${p.choices.join(', ')})`,
      );
    }
  }
  return { ...set, [key]: { ...p, value, source: override, unverified: undefined } };
}

/** The numeric value of parameter `key` (throws if it is not a number). */
export function numOf(set: ParamSet, key: string): number {
  const v = set[key]?.value;
  if (typeof v !== 'number') throw new ParamError(`parameter ${key} is not a number`);
  return v;
}

/** The string value of parameter `key`. */
export function strOf(set: ParamSet, key: string): string {
  const v = set[key]?.value;
  if (typeof v !== 'string') throw new ParamError(`parameter ${key} is not a string`);
  return v;
}

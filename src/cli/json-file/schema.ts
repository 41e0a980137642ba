/**
 * The words input-file schemas are written in: valibot schemas (whose inferred types are the
 * files' types) with messages that say what was expected and what was found, and a check that
 * turns valibot's issues into `file:line:column: field.path: message` with momoa's positions.
 * Objects list every unknown property with "did you mean"; alternatives are chosen by the JSON
 * type of the value (`oneOf`) or by a tag field (`tagged`), so that a message speaks of the
 * alternative the user meant rather than of all of them.
 * @module
 */
import type { AnyNode, DocumentNode, MemberNode } from '@humanwhocodes/momoa';
import * as v from 'valibot';
import { suggest } from '../suggest.ts';
import { MAX_ISSUES, type ScenarioIssue } from './issues.ts';
import type { JsonFile } from './parse.ts';

/** Any schema of this vocabulary: it reads an unknown JSON value and outputs a `T`. */
export type Schema<T = unknown> = v.GenericSchema<unknown, T>;

/** How a value is shown in a message. */
export function show(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

/** A string; `check` returns what is wrong with it, or undefined. */
export function str(
  description: string,
  check?: (value: string) => string | undefined,
): v.GenericSchema<unknown, string> {
  const base = v.string((i) => `expected a string (${description}), got ${show(i.input)}`);
  if (check === undefined) return base;
  return v.pipe(
    base,
    v.check(
      (s) => check(s) === undefined,
      (i) => check(i.input as string)!,
    ),
  );
}

/** One of a list of strings; a wrong one is answered with "did you mean". */
export function oneOfStrings<const T extends string>(noun: string, values: readonly T[]): Schema<T> {
  return v.picklist(values as T[], (i) => {
    if (typeof i.input !== 'string') return `expected a ${noun} (${values.join(', ')}), got ${show(i.input)}`;
    const s = suggest(i.input, values);
    return `unknown ${noun} ${JSON.stringify(i.input)} (${s ? `did you mean "${s}"? ` : ''}expected one of ${values.join(', ')})`;
  });
}

/** An integer in `[minimum, maximum]`. */
export function int(description: string, minimum?: number, maximum?: number): Schema<number> {
  const bound =
    minimum !== undefined && maximum !== undefined
      ? ` from ${minimum} to ${maximum}`
      : minimum !== undefined
        ? ` ≥ ${minimum}`
        : maximum !== undefined
          ? ` ≤ ${maximum}`
          : '';
  const message = (i: { input: unknown }): string =>
    `expected an integer${bound} (${description}), got ${show(i.input)}`;
  return v.pipe(
    v.number(message),
    v.check(
      (n) =>
        Number.isInteger(n) &&
        (minimum === undefined || n >= minimum) &&
        (maximum === undefined || n <= maximum),
      message,
    ),
  );
}

/** `true` or `false`. */
export const bool = (): Schema<boolean> => v.boolean((i) => `expected true or false, got ${show(i.input)}`);

/** An array of `item`, with at least `minItems` elements. */
export function arr<T>(description: string, item: Schema<T>, minItems?: number): Schema<T[]> {
  const base = v.array(item, (i) => `expected an array (${description}), got ${show(i.input)}`);
  if (minItems === undefined) return base;
  return v.pipe(base, v.minLength(minItems, `expected at least ${minItems} element(s), got none`));
}

/** An object whose other property names are free and whose values are all `item` (a map). */
export function map<T>(description: string, item: Schema<T>): Schema<Record<string, T>> {
  return v.lazy((input) =>
    isObject(input)
      ? v.record(v.string(), item)
      : v.never(() => `expected an object (${description}), got ${show(input)}`),
  ) as unknown as Schema<Record<string, T>>;
}

/** `T` with exactly one of its keys `K` present (what an object with `exactlyOne: K` outputs). */
export type ExactlyOne<T, K extends keyof T> = Omit<T, K> &
  { [P in K]: { [Q in P]-?: Exclude<T[Q], undefined> } }[K];

/** Rules of an object beyond its properties. */
export interface ObjectRules<K extends string> {
  /** What the object is called in "missing …" and "unknown property in …" (default: its description). */
  readonly what?: string;
  /** Groups of properties of which exactly one must be given. */
  readonly exactlyOne?: readonly K[];
  /** A property not offered in "did you mean" (the tag of a tagged variant). */
  readonly tag?: string;
  /** The message of an unknown property (default: "unknown property in …"). */
  readonly unknown?: (key: string, known: readonly string[], what: string) => string;
}

/** The output type of an object with these entries. */
export type ObjectOutput<E extends v.ObjectEntries> = v.InferOutput<v.ObjectSchema<E, undefined>>;

const unknownProperty = (key: string, known: readonly string[], what: string): string => {
  const s = suggest(key, known);
  return `unknown property in ${what} (${s ? `did you mean "${s}"?` : `expected one of ${known.join(', ')}`})`;
};

/**
 * An object with these properties (optional ones wrapped in `v.optional`). Every unknown property
 * is an issue of its own, at its name.
 */
export function obj<E extends v.ObjectEntries>(
  description: string,
  entries: E,
  rules: ObjectRules<keyof E & string> = {},
): Schema<ObjectOutput<E>> {
  const what = rules.what ?? description;
  const known = Object.keys(entries).filter((k) => k !== rules.tag);
  const unknown = rules.unknown ?? unknownProperty;
  const base = v.looseObject(entries, (i) => `missing required property ${i.expected} in ${what}`);
  const rest = v.rawCheck<Record<string, unknown>>(({ dataset, addIssue }) => {
    // Only objects reach this check (see the `v.lazy` below).
    const input = dataset.value as Record<string, unknown>;
    for (const key of Object.keys(input)) {
      if (Object.hasOwn(entries, key)) continue;
      addIssue({
        message: unknown(key, known, what),
        input: key,
        path: [{ type: 'object', origin: 'key', input, key, value: input[key] }],
      });
    }
    const group = rules.exactlyOne;
    if (group !== undefined) {
      const given = group.filter((k) => Object.hasOwn(input, k));
      if (given.length !== 1) {
        addIssue({
          message:
            given.length === 0
              ? `${what} needs one of ${group.map((g) => `"${g}"`).join(', ')}`
              : `give only one of ${given.map((g) => `"${g}"`).join(', ')}`,
        });
      }
    }
  });
  const checked = v.pipe(base as Schema<Record<string, unknown>>, rest);
  return v.lazy((input) =>
    isObject(input) ? checked : v.never(() => `expected an object (${description}), got ${show(input)}`),
  ) as unknown as Schema<ObjectOutput<E>>;
}

/** The JSON type a schema of this vocabulary reads. */
function jsonTypeOf(schema: Schema): string {
  switch (schema.type) {
    case 'number':
      return 'integer';
    case 'picklist':
      return 'string';
    case 'lazy':
      return 'object';
    default:
      return schema.type;
  }
}

/** What JSON type a value is, for choosing among {@link oneOf}'s alternatives. */
function jsonTypeOfValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/**
 * One of several alternatives told apart by the JSON type of the value (at most one per type):
 * the value is checked against the alternative of its type, so messages speak of that one.
 */
export function oneOf<const S extends readonly Schema[]>(
  description: string,
  variants: S,
): Schema<v.InferOutput<S[number]>> {
  return v.lazy((input) => {
    const type = jsonTypeOfValue(input);
    return (
      variants.find((s) => jsonTypeOf(s) === type) ??
      v.never(() => `expected ${description}, got ${show(input)}`)
    );
  }) as unknown as Schema<v.InferOutput<S[number]>>;
}

/**
 * Objects told apart by the string field `tag`, one variant per tag value (each an {@link obj}
 * with `tag: v.literal(name)`): a missing or unknown tag is reported as such, at the tag.
 */
export function tagged<const V extends Readonly<Record<string, Schema>>>(
  description: string,
  tag: string,
  noun: string,
  variants: V,
): Schema<v.InferOutput<V[keyof V]>> {
  const tags = Object.keys(variants);
  const atTag = (message: (value: unknown) => string): Schema =>
    v.looseObject({ [tag]: v.never((i) => message(i.input)) });
  return v.lazy((input): Schema => {
    if (!isObject(input)) return v.never(() => `expected an object (${description}), got ${show(input)}`);
    if (!Object.hasOwn(input, tag)) {
      return v.never(() => `missing "${tag}" (the ${noun}: one of ${tags.join(', ')})`);
    }
    const value = input[tag];
    if (typeof value !== 'string') return atTag((x) => `expected the ${noun} as a string, got ${show(x)}`);
    if (!Object.hasOwn(variants, value)) {
      const s = suggest(value, tags);
      return atTag(
        () =>
          `unknown ${noun} ${JSON.stringify(value)} (${s ? `did you mean "${s}"? ` : ''}expected one of ${tags.join(', ')})`,
      );
    }
    return variants[value]!;
  }) as unknown as Schema<v.InferOutput<V[keyof V]>>;
}

/** A field path as a list of keys and indices. */
export type FieldPath = readonly (string | number)[];

/** The node at `path` in the document, or the deepest one that exists. */
export function nodeAt(doc: DocumentNode, path: FieldPath): AnyNode {
  let n: AnyNode = doc.body;
  for (const k of path) {
    if (n.type === 'Object') {
      const m: MemberNode | undefined = n.members.find(
        (mm) => mm.name.type === 'String' && mm.name.value === k,
      );
      if (m === undefined) return n;
      n = m.value;
    } else if (n.type === 'Array' && typeof k === 'number' && n.elements[k] !== undefined) {
      n = n.elements[k]!.value;
    } else return n;
  }
  return n;
}

/** The name node of property `key` of the object at `path` (where "unknown property" points). */
export function keyAt(doc: DocumentNode, path: FieldPath, key: string): AnyNode {
  const n = nodeAt(doc, path);
  if (n.type === 'Object') {
    const m = n.members.find((mm) => mm.name.type === 'String' && mm.name.value === key);
    if (m !== undefined) return m.name;
  }
  return n;
}

/** A field path in the scenario format's style: `steps[3].threads.reader[0]`, `set["a b"]`. */
export function bracketPath(path: FieldPath): string {
  let out = '';
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else if (out === '') out = k;
    else out += /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
  }
  return out;
}

/** A field path in dotted style: `steps.0.arrays.1`. */
export const dottedPath = (path: FieldPath): string => path.map(String).join('.');

/** An issue of `file` at `node`. */
export function issueAt(file: string, node: AnyNode, path: string, message: string): ScenarioIssue {
  return { file, line: node.loc.start.line, column: node.loc.start.column, path, message };
}

/**
 * Checks a parsed file against `schema`. Returns the output, or the issues (at most
 * {@link MAX_ISSUES}, in the order they appear in the file), each at the value it is about, at
 * the name of an unknown property, or at the object missing a property.
 */
export function checkFile<T>(
  schema: Schema<T>,
  json: JsonFile,
  file: string,
  formatPath: (path: FieldPath) => string = bracketPath,
): { readonly ok: true; readonly output: T } | { readonly ok: false; readonly issues: ScenarioIssue[] } {
  const r = v.safeParse(schema, json.value);
  if (r.success) return { ok: true, output: r.output };
  const located = r.issues.map((i) => {
    const items = i.path ?? [];
    const path = items.map((p) => p.key as string | number);
    const last = items[items.length - 1];
    // An unknown property points at its name; a missing one at the object that lacks it. Issues
    // of a whole object (a missing property, "give only one of") come after those of its
    // properties, as a reader meets them.
    if (last !== undefined && last.origin === 'key' && i.input !== undefined) {
      const node = keyAt(json.doc, path.slice(0, -1), String(last.key));
      return { order: node.loc.start.offset, issue: issueAt(file, node, formatPath(path), i.message) };
    }
    const at = last !== undefined && last.origin === 'key' ? path.slice(0, -1) : path;
    const node = nodeAt(json.doc, at);
    const whole = at !== path || i.type === 'raw_check';
    return {
      order: whole ? node.loc.end.offset : node.loc.start.offset,
      issue: issueAt(file, node, formatPath(at), i.message),
    };
  });
  located.sort((a, b) => a.order - b.order);
  return { ok: false, issues: located.slice(0, MAX_ISSUES).map((l) => l.issue) };
}

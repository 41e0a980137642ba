/**
 * The assertions of the self-test port: the few `expect(…)` matchers the ported bodies use, with
 * no test framework underneath, so the same bodies run under vitest and in `hmmsim selftest`.
 * A failed assertion throws {@link SelftestAssertionError}, whose message reads like the
 * kselftest harness's `ASSERT_*` report: `Expected cpages (5) == 4`.
 * @module
 */

/**
 * A failed assertion of a self-test: the test stops there, as after a failed `ASSERT_*` of the
 * kselftest harness.
 */
export class SelftestAssertionError extends Error {
  /** `'SelftestAssertionError'`. */
  override name = 'SelftestAssertionError';
  /**
   * Where the assertion was made, `file.ts:line` (the kselftest report's `__FILE__:__LINE__`),
   * read from the stack when the JavaScript engine provides one; undefined otherwise.
   */
  readonly location: string | undefined;

  /** @param message The report: `Expected <what> (<actual>) <op> <expected>`. */
  constructor(message: string) {
    super(message);
    this.location = assertionLocation(this.stack);
  }
}

/**
 * The frame of the assertion in a stack trace: the first frame in a self-test body
 * (`selftest/tests/…`), else the first frame outside this file. V8 (`at f (url:line:col)`) and
 * Firefox/Safari (`f@url:line:col`) frames are understood.
 */
function assertionLocation(stack: string | undefined): string | undefined {
  if (stack === undefined) return undefined;
  let fallback: string | undefined;
  for (const line of stack.split('\n')) {
    const m = /([^\s()@/\\]+\.[cm]?[jt]s):(\d+):\d+\)?\s*$/.exec(line);
    if (m === null || m[1] === 'expect.ts' || m[1] === 'expect.js') continue;
    const here = `${m[1]}:${m[2]}`;
    if (/[/\\]selftest[/\\]tests[/\\]/.test(line)) return here;
    fallback ??= here;
  }
  return fallback;
}

/** The matchers of one `expect(actual)`; `.not` negates the next one. */
export interface SelftestMatchers {
  /** The negated matchers: `expect(npages).not.toBe(0)` is `ASSERT_NE(npages, 0)`. */
  readonly not: SelftestMatchers;
  /** `Object.is(actual, expected)`: `ASSERT_EQ`. */
  toBe(expected: unknown): void;
  /** Deep equality of arrays, typed arrays, plain objects, maps and sets (`Object.is` on leaves). */
  toEqual(expected: unknown): void;
  /** `actual > expected`: `ASSERT_GT`. */
  toBeGreaterThan(expected: number | bigint): void;
  /** `actual >= expected`: `ASSERT_GE`. */
  toBeGreaterThanOrEqual(expected: number | bigint): void;
  /** `actual < expected`: `ASSERT_LT`. */
  toBeLessThan(expected: number | bigint): void;
  /** `actual <= expected`: `ASSERT_LE`. */
  toBeLessThanOrEqual(expected: number | bigint): void;
}

/**
 * `expect(actual, what?)`: the matchers over `actual`. `what` names the value in the report
 * (`expect(ints[i], 'mirror[5]').toBe(5)` fails with `Expected mirror[5] (-5) == 5`); without
 * it the value alone is shown (`Expected -14 == 0`).
 */
export function expect(actual: unknown, what?: string): SelftestMatchers {
  return matchers(actual, what, false);
}

/** The comparison operators, and what each reads as when negated. */
const NEGATED: Record<string, string> = {
  '==': '!=',
  '!=': '==',
  '>': '<=',
  '<=': '>',
  '>=': '<',
  '<': '>=',
};

function matchers(actual: unknown, what: string | undefined, negated: boolean): SelftestMatchers {
  const check = (pass: boolean, op: string, expected: unknown): void => {
    if (pass !== negated) return;
    const shown = what === undefined ? formatValue(actual) : `${what} (${formatValue(actual)})`;
    throw new SelftestAssertionError(
      `Expected ${shown} ${negated ? NEGATED[op]! : op} ${formatValue(expected)}`,
    );
  };
  const compare = (expected: number | bigint, op: string, test: (a: number | bigint) => boolean): void => {
    const numeric = typeof actual === 'number' || typeof actual === 'bigint';
    // A non-number never satisfies a comparison, negated or not.
    if (!numeric) {
      const shown = what === undefined ? formatValue(actual) : `${what} (${formatValue(actual)})`;
      throw new SelftestAssertionError(
        `Expected ${shown} ${negated ? NEGATED[op]! : op} ${formatValue(expected)} (not a number)`,
      );
    }
    check(test(actual), op, expected);
  };
  return {
    get not(): SelftestMatchers {
      return matchers(actual, what, !negated);
    },
    toBe: (expected) => check(Object.is(actual, expected), '==', expected),
    toEqual: (expected) => check(deepEqual(actual, expected), '==', expected),
    toBeGreaterThan: (expected) => compare(expected, '>', (a) => a > expected),
    toBeGreaterThanOrEqual: (expected) => compare(expected, '>=', (a) => a >= expected),
    toBeLessThan: (expected) => compare(expected, '<', (a) => a < expected),
    toBeLessThanOrEqual: (expected) => compare(expected, '<=', (a) => a <= expected),
  };
}

/**
 * Deep equality as `toEqual` means it: `Object.is` on primitives; arrays and typed arrays
 * element by element (typed arrays of the same kind only); maps and sets by their entries, in any
 * order; other objects by their own enumerable properties, those holding `undefined` ignored.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.constructor !== b.constructor) return false;
    if (a instanceof DataView || b instanceof DataView) {
      const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      return deepEqual(x, y);
    }
    const x = a as unknown as ArrayLike<unknown>;
    const y = b as unknown as ArrayLike<unknown>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (a instanceof Map || b instanceof Map) {
    if (!(a instanceof Map) || !(b instanceof Map) || a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !deepEqual(v, b.get(k))) return false;
    return true;
  }
  if (a instanceof Set || b instanceof Set) {
    if (!(a instanceof Set) || !(b instanceof Set) || a.size !== b.size) return false;
    const rest = [...b];
    for (const x of a) {
      const i = rest.findIndex((y) => deepEqual(x, y));
      if (i < 0) return false;
      rest.splice(i, 1);
    }
    return true;
  }
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k)) return false;
    if (!deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/** Elements shown of an array before `…`. */
const SHOWN_ELEMENTS = 16;

/**
 * A value as the reports show it: numbers in decimal like kselftest's `%jd` (`-0` kept), bigints
 * with `n`, strings quoted, arrays and typed arrays by their first elements, objects by their
 * properties.
 */
export function formatValue(value: unknown, depth = 0): string {
  switch (typeof value) {
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'string':
      return JSON.stringify(value);
    case 'undefined':
      return 'undefined';
    case 'function':
      return `[Function ${value.name || 'anonymous'}]`;
    case 'symbol':
      return value.toString();
    case 'boolean':
      return String(value);
  }
  if (value === null || typeof value !== 'object') return 'null';
  const list = (items: readonly unknown[], total: number): string => {
    const shown = items.slice(0, SHOWN_ELEMENTS).map((x) => formatValue(x, depth + 1));
    if (total > SHOWN_ELEMENTS) shown.push(`… ${total - SHOWN_ELEMENTS} more`);
    return `[${shown.join(', ')}]`;
  };
  if (depth > 2) return Array.isArray(value) ? '[…]' : '{…}';
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const x = value as unknown as ArrayLike<unknown>;
    const head = Array.from({ length: Math.min(x.length, SHOWN_ELEMENTS) }, (_, i) => x[i]);
    return `${value.constructor.name} ${list(head, x.length)}`;
  }
  if (Array.isArray(value)) return list(value, value.length);
  if (value instanceof Map) return `Map ${list([...value], value.size)}`;
  if (value instanceof Set) return `Set ${list([...value], value.size)}`;
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  const entries = Object.entries(value).map(([k, v]) => `${k}: ${formatValue(v, depth + 1)}`);
  return `{ ${entries.join(', ')} }`;
}

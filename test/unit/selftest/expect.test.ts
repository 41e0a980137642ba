import { describe, expect, it } from 'vitest';
import {
  deepEqual,
  formatValue,
  SelftestAssertionError,
  expect as selftestExpect,
} from '../../../src/selftest/expect.ts';

/** The message of the SelftestAssertionError `f` throws (the test fails if it throws nothing). */
function failure(f: () => void): SelftestAssertionError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SelftestAssertionError);
    return e as SelftestAssertionError;
  }
  throw new Error('the assertion passed');
}

describe('selftest expect', () => {
  it('toBe passes on Object.is and fails with a kselftest-like message', () => {
    selftestExpect(4).toBe(4);
    selftestExpect(Number.NaN).toBe(Number.NaN);
    expect(failure(() => selftestExpect(5).toBe(4)).message).toBe('Expected 5 == 4');
    expect(failure(() => selftestExpect(5, 'buffer->cpages').toBe(4)).message).toBe(
      'Expected buffer->cpages (5) == 4',
    );
    expect(failure(() => selftestExpect(-14).toBe(0)).message).toBe('Expected -14 == 0');
    expect(failure(() => selftestExpect(0).toBe(-0)).message).toBe('Expected 0 == -0');
    expect(failure(() => selftestExpect('1').toBe(1)).message).toBe('Expected "1" == 1');
    expect(failure(() => selftestExpect(false, 'WIFEXITED(status)').toBe(true)).message).toBe(
      'Expected WIFEXITED(status) (false) == true',
    );
    expect(failure(() => selftestExpect(1n << 63n).toBe(0n)).message).toBe(
      'Expected 9223372036854775808n == 0n',
    );
    const o = {};
    selftestExpect(o).toBe(o);
    failure(() => selftestExpect({}).toBe({}));
  });

  it('.not negates, and the message shows the negated operator', () => {
    selftestExpect(1024).not.toBe(0);
    expect(failure(() => selftestExpect(0, 'npages').not.toBe(0)).message).toBe('Expected npages (0) != 0');
    expect(failure(() => selftestExpect(3).not.toBeGreaterThan(2)).message).toBe('Expected 3 <= 2');
    expect(failure(() => selftestExpect(2).not.toBeGreaterThanOrEqual(2)).message).toBe('Expected 2 < 2');
    expect(failure(() => selftestExpect(1).not.toBeLessThan(2)).message).toBe('Expected 1 >= 2');
    expect(failure(() => selftestExpect(2).not.toBeLessThanOrEqual(2)).message).toBe('Expected 2 > 2');
    expect(failure(() => selftestExpect([1]).not.toEqual([1])).message).toBe('Expected [1] != [1]');
    selftestExpect(1).not.not.toBe(1);
  });

  it('the comparisons hold at their boundaries and fail past them', () => {
    selftestExpect(1).toBeGreaterThan(0);
    selftestExpect(0).toBeGreaterThanOrEqual(0);
    selftestExpect(-1).toBeLessThan(0);
    selftestExpect(0).toBeLessThanOrEqual(0);
    selftestExpect(5n).toBeGreaterThan(4n);
    expect(failure(() => selftestExpect(0, 'buffer->ptr').toBeGreaterThan(0)).message).toBe(
      'Expected buffer->ptr (0) > 0',
    );
    expect(failure(() => selftestExpect(-1).toBeGreaterThanOrEqual(0)).message).toBe('Expected -1 >= 0');
    expect(failure(() => selftestExpect(0).toBeLessThan(0)).message).toBe('Expected 0 < 0');
    expect(failure(() => selftestExpect(1).toBeLessThanOrEqual(0)).message).toBe('Expected 1 <= 0');
    expect(failure(() => selftestExpect(Number.NaN).toBeGreaterThan(0)).message).toBe('Expected NaN > 0');
  });

  it('a comparison of a non-number fails, negated or not', () => {
    expect(failure(() => selftestExpect('7').toBeGreaterThan(0)).message).toBe(
      'Expected "7" > 0 (not a number)',
    );
    expect(failure(() => selftestExpect(undefined).not.toBeGreaterThan(0)).message).toBe(
      'Expected undefined <= 0 (not a number)',
    );
  });

  it('toEqual compares arrays, typed arrays, objects, maps and sets deeply', () => {
    selftestExpect([-14, 0]).toEqual([-14, 0]);
    selftestExpect(new Int32Array([1, 2, 3])).toEqual(new Int32Array([1, 2, 3]));
    selftestExpect({ a: 1, b: [2, { c: 3 }], d: undefined }).toEqual({ a: 1, b: [2, { c: 3 }] });
    selftestExpect(new Map([[1, [2]]])).toEqual(new Map([[1, [2]]]));
    selftestExpect(new Set([1, 2])).toEqual(new Set([2, 1]));
    expect(failure(() => selftestExpect([0]).toEqual([-14, 0])).message).toBe('Expected [0] == [-14, 0]');
    expect(
      failure(() => selftestExpect(new Int32Array([1, 2, 4])).toEqual(new Int32Array([1, 2, 3]))).message,
    ).toBe('Expected Int32Array [1, 2, 4] == Int32Array [1, 2, 3]');
    failure(() => selftestExpect(new Int32Array([1])).toEqual(new Uint32Array([1])));
    failure(() => selftestExpect(new Int32Array([1])).toEqual([1]));
    failure(() => selftestExpect({ a: 1 }).toEqual({ a: 1, b: 2 }));
    failure(() => selftestExpect({ a: { b: 1 } }).toEqual({ a: { b: 2 } }));
    failure(() => selftestExpect(new Set([1, 2])).toEqual(new Set([1, 3])));
    failure(() => selftestExpect([1, 2]).toEqual({ 0: 1, 1: 2 }));
    expect(deepEqual(new Uint8Array(4), new Uint8Array(5))).toBe(false);
    expect(deepEqual(null, {})).toBe(false);
  });

  it('long arrays are shown by their first 16 elements', () => {
    const ints = new Int32Array(1024).map((_, i) => i);
    expect(formatValue(ints)).toBe(
      'Int32Array [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, … 1008 more]',
    );
    expect(formatValue({ cpages: 1, faults: [1] })).toBe('{ cpages: 1, faults: [1] }');
  });

  it('the error records where the assertion was made', () => {
    const e = failure(() => selftestExpect(1).toBe(2));
    expect(e.name).toBe('SelftestAssertionError');
    expect(e.location).toMatch(/^expect\.test\.ts:\d+$/);
  });
});

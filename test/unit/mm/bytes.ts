/** Byte-array comparison for the syscall tests: fast on megabytes, precise on failure. */

/**
 * Index of the first byte where `actual` and `expected` differ (the shorter length when one is a
 * prefix of the other), or -1 when they are equal. Use as `expect(diffAt(a, b)).toBe(-1)`:
 * vitest's deep equality walks typed arrays element by element, which is slow on whole pages.
 */
export function diffAt(actual: Uint8Array, expected: Uint8Array): number {
  if (actual.length === expected.length && Buffer.compare(actual, expected) === 0) return -1;
  const n = Math.min(actual.length, expected.length);
  for (let i = 0; i < n; i++) if (actual[i] !== expected[i]) return i;
  return n;
}

/** `n` zero bytes. */
export function zeros(n: number): Uint8Array {
  return new Uint8Array(n);
}

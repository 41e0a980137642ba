/**
 * Validation targets: micro-level published measurements the model must reproduce, each run
 * against an expectation file (checked in under `validation/` as JSON, with its sources) that the
 * caller loads and passes in, so that the core stays free of file access.
 * @module
 */

/** How close `got` must be to `expected`. */
export type Tolerance =
  /** `|got/expected − 1| ≤ value` */
  | { readonly kind: 'relative'; readonly value: number }
  /** `got === expected` */
  | { readonly kind: 'exact' }
  /** `min ≤ got ≤ max` (expected is informative) */
  | { readonly kind: 'range'; readonly min: number; readonly max: number }
  /** `got/expected` within `[1/factor, factor]` */
  | { readonly kind: 'factor'; readonly value: number };

/** One checked point. */
export interface ValidationPoint {
  readonly label: string;
  readonly expected: number;
  readonly got: number;
  /** got / expected (NaN when expected is 0). */
  readonly ratio: number;
  /** The tolerance, as text (`±15%`, `exact`, `≤ 0.3`, `×2`). */
  readonly tolerance: string;
  readonly pass: boolean;
}

/** The outcome of one target. */
export interface ValidationResult {
  readonly id: string;
  readonly title: string;
  readonly source: string;
  readonly pass: boolean;
  readonly points: readonly ValidationPoint[];
  /** What the run did, for the reader (settings, assumptions). */
  readonly notes?: readonly string[];
}

/** An expectation file: the target it belongs to, its sources and its expected values. */
export interface Expectations {
  readonly id: string;
  readonly title: string;
  readonly source: string;
  /** Target-specific content (expected values with tolerances). */
  readonly [key: string]: unknown;
}

/** A validation target. */
export interface ValidationTarget {
  /** `V1`, `V2`, … */
  readonly id: string;
  readonly title: string;
  /** The publication or trace the expectations come from. */
  readonly source: string;
  /** Runs the model and compares with `expect`. */
  run(expect: Expectations): ValidationResult | Promise<ValidationResult>;
}

/** Formats a tolerance for the report. */
export function toleranceText(t: Tolerance): string {
  switch (t.kind) {
    case 'relative':
      return `±${Math.round(t.value * 1000) / 10}%`;
    case 'exact':
      return 'exact';
    case 'range':
      return `[${t.min}, ${t.max}]`;
    case 'factor':
      return `×${t.value}`;
  }
}

/** Checks `got` against `expected` with tolerance `t`. */
export function checkPoint(label: string, expected: number, got: number, t: Tolerance): ValidationPoint {
  const ratio = expected === 0 ? Number.NaN : got / expected;
  let pass: boolean;
  switch (t.kind) {
    case 'relative':
      pass = Math.abs(ratio - 1) <= t.value + 1e-12;
      break;
    case 'exact':
      pass = got === expected;
      break;
    case 'range':
      pass = got >= t.min && got <= t.max;
      break;
    case 'factor':
      pass = ratio >= 1 / t.value && ratio <= t.value;
      break;
  }
  return { label, expected, got, ratio, tolerance: toleranceText(t), pass };
}

/** Builds a result from its points. */
export function result(
  target: Pick<ValidationTarget, 'id' | 'title' | 'source'>,
  points: readonly ValidationPoint[],
  notes: readonly string[] = [],
): ValidationResult {
  return {
    id: target.id,
    title: target.title,
    source: target.source,
    pass: points.length > 0 && points.every((p) => p.pass),
    points,
    notes,
  };
}

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
  /** What is checked. */
  readonly label: string;
  /** The published value. */
  readonly expected: number;
  /** The model's value. */
  readonly got: number;
  /** got / expected (NaN when expected is 0). */
  readonly ratio: number;
  /** The tolerance, as text (`±15%`, `exact`, `≤ 0.3`, `×2`). */
  readonly tolerance: string;
  /** True when `got` is within the tolerance. */
  readonly pass: boolean;
}

/** The outcome of one target. */
export interface ValidationResult {
  /** The target's id (`V1`…). */
  readonly id: string;
  /** One line on what it checks. */
  readonly title: string;
  /** The publication or trace of the expected values. */
  readonly source: string;
  /** True when every point passes. */
  readonly pass: boolean;
  /** Every checked point. */
  readonly points: readonly ValidationPoint[];
  /** What the run did, for the reader (settings, assumptions). */
  readonly notes?: readonly string[];
}

/** An expectation file: the target it belongs to, its sources and its expected values. */
export interface Expectations {
  /** The target's id. */
  readonly id: string;
  /** What the file holds. */
  readonly title: string;
  /** Where the expected values come from. */
  readonly source: string;
  /** Target-specific content (expected values with tolerances). */
  readonly [key: string]: unknown;
}

/** A validation target. */
export interface ValidationTarget {
  /** `V1`, `V2`, … */
  readonly id: string;
  /** One line on what it checks. */
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

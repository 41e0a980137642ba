/**
 * The validation targets `hmmsim workload validate` runs, in order, and the expectation file of
 * each (a path relative to the package's `validation/` directory, read by the command line).
 * @module
 */
import type { ValidationTarget } from './target.ts';
import { V1_PREFETCH } from './v1-prefetch.ts';
import { V2_LINK } from './v2-link.ts';
import { V3_BATCH } from './v3-batch-anatomy.ts';
import { V6_THP_MIGRATION } from './v6-thp-migration.ts';

/** A registered target and its expectation file. */
export interface RegisteredTarget {
  readonly target: ValidationTarget;
  /** File name under `validation/`. */
  readonly expectations: string;
}

/** Every validation target, in the order they run. */
export const VALIDATION_TARGETS: readonly RegisteredTarget[] = [
  { target: V1_PREFETCH, expectations: 'v1-prefetch-trace.json' },
  { target: V2_LINK, expectations: 'v2-link-curve.json' },
  { target: V3_BATCH, expectations: 'v3-batch-anatomy.json' },
  { target: V6_THP_MIGRATION, expectations: 'v6-thp-migration.json' },
];

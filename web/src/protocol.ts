/**
 * Messages between the page and its simulation worker. Every request carries an id; the worker
 * answers with the same id (or posts progress for it).
 * @module
 */

import type { Exact, RaceRecording } from './model/jobs.ts';
import type { Recording } from './model/recorder.ts';
import type { Invalid } from './model/scenario-text.ts';
import type { WorkloadOutcome } from './model/workload-run.ts';

/** A request to the worker. */
export type Request =
  /**
   * Records a scenario. With `first`, the worker answers twice: first a recording with rows at
   * the step ends only (`first`, quick: no row per event), then, once the page says `painted`,
   * the full recording (`recorded`).
   */
  | {
      readonly id: number;
      readonly kind: 'record';
      readonly text: string;
      readonly file: string;
      readonly first?: boolean;
    }
  /** Records an example by name (the page's first request, posted before its modules load). */
  | { readonly id: number; readonly kind: 'record-example'; readonly name: string; readonly first?: boolean }
  | { readonly id: number; readonly kind: 'demo' }
  | {
      readonly id: number;
      readonly kind: 'time';
      readonly text: string;
      readonly file: string;
      readonly runs: number;
    }
  | { readonly id: number; readonly kind: 'replay'; readonly token: string }
  /**
   * The first answer of recording `id` is on screen (or was not shown): the worker records every
   * event now. Not a request of its own: nothing answers it.
   */
  | { readonly id: number; readonly kind: 'painted' }
  | {
      readonly id: number;
      readonly kind: 'exact';
      readonly source: { readonly text: string; readonly file: string } | { readonly token: string };
      readonly row: number;
      readonly pid: number;
      readonly addr: number;
    }
  | {
      readonly id: number;
      readonly kind: 'trace';
      readonly source: { readonly text: string; readonly file: string } | { readonly token: string };
    };

/** A reply from the worker. */
export type Reply =
  | {
      readonly id: number;
      readonly kind: 'recorded';
      readonly rec: Recording;
      readonly ms: number;
      readonly narration?: string[];
    }
  /** The step ends of a recording asked for with `first`; its `recorded` reply follows. */
  | { readonly id: number; readonly kind: 'first'; readonly rec: Recording; readonly ms: number }
  | { readonly id: number; readonly kind: 'invalid'; readonly invalid: Invalid }
  | { readonly id: number; readonly kind: 'race'; readonly race: RaceRecording; readonly ms: number }
  | { readonly id: number; readonly kind: 'exact'; readonly exact: Exact | null }
  | { readonly id: number; readonly kind: 'timed'; readonly ms: number[] }
  | { readonly id: number; readonly kind: 'traced'; readonly json: string }
  | { readonly id: number; readonly kind: 'error'; readonly message: string };

/** A request to the workload worker (one run per worker). */
export interface WorkloadRequest {
  readonly text: string;
  readonly file: string;
}

/** A reply from the workload worker. */
export type WorkloadReply =
  | { readonly kind: 'progress'; readonly done: number; readonly total: number }
  | { readonly kind: 'done'; readonly outcome: Extract<WorkloadOutcome, { kind: 'done' }> }
  | { readonly kind: 'invalid'; readonly messages: readonly string[] }
  | { readonly kind: 'error'; readonly message: string };

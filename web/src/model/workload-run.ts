/**
 * A workload run for the page: the workload file read as `hmmsim workload` reads it (the CLI's
 * own parser and messages), run through the public workload API (`runWorkload`, synchronous and
 * pure), with the fault batches kept as time series for the charts. DOM-free: the workload
 * worker and the Node tests share it.
 * @module
 */

import { formatIssue, ScenarioError } from '../../../src/cli/json-file/issues.ts';
import { loadWorkloadFile } from '../../../src/cli/workload/file.ts';
import {
  EngineError,
  ParamError,
  type RunResult,
  runWorkload,
  WorkloadError,
} from '../../../src/workload/index.ts';

/** The run's fault batches as columns (cumulative counts, over virtual time). */
export interface WorkloadSeries {
  /** Batch start, virtual ms. */
  readonly timeMs: Float64Array;
  /** Pages migrated to the GPU so far (faulted and prefetched). */
  readonly pagesH2D: Float64Array;
  /** Of those, prefetched (migrated without a fault of their own). */
  readonly prefetched: Float64Array;
  /** Evictions so far. */
  readonly evictions: Float64Array;
  /** Faults fetched by each batch. */
  readonly batchFaults: Float64Array;
}

/** What a workload run gives the page. */
export type WorkloadOutcome =
  | {
      readonly kind: 'done';
      readonly result: RunResult;
      readonly series: WorkloadSeries;
      readonly ms: number;
    }
  | { readonly kind: 'invalid'; readonly messages: readonly string[] };

/** Growable float column. */
class Column {
  a = new Float64Array(256);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  done(): Float64Array {
    return this.a.slice(0, this.n);
  }
}

/** Reads and runs the workload in `text`; `onProgress(done, total)` as the engine reports accesses. */
export function runWorkloadText(
  text: string,
  file: string,
  onProgress?: (done: number, total: number) => void,
): WorkloadOutcome {
  const t0 = performance.now();
  let spec: ReturnType<typeof loadWorkloadFile>;
  try {
    spec = loadWorkloadFile(text, file);
  } catch (e) {
    if (e instanceof ScenarioError) return { kind: 'invalid', messages: e.issues.map(formatIssue) };
    throw e;
  }
  const time = new Column();
  const h2d = new Column();
  const pre = new Column();
  const ev = new Column();
  const faults = new Column();
  let pages = 0;
  let prefetched = 0;
  let evictions = 0;
  let result: RunResult;
  try {
    result = runWorkload(spec, {
      observer: {
        onBatch(b) {
          pages += b.pages;
          prefetched += b.prefetched;
          evictions += b.evictions;
          time.push(b.startNs / 1e6);
          h2d.push(pages);
          pre.push(prefetched);
          ev.push(evictions);
          faults.push(b.cached);
        },
        ...(onProgress ? { onProgress } : {}),
      },
    });
  } catch (e) {
    // A workload the schema accepts may still be impossible to run: say which part, as the CLI does.
    if (e instanceof WorkloadError)
      return { kind: 'invalid', messages: [`${file}${e.path ? ` (${e.path})` : ''}: ${e.message}`] };
    if (e instanceof ParamError || e instanceof EngineError)
      return { kind: 'invalid', messages: [`${file}: ${e.message}`] };
    throw e;
  }
  return {
    kind: 'done',
    result,
    series: {
      timeMs: time.done(),
      pagesH2D: h2d.done(),
      prefetched: pre.done(),
      evictions: ev.done(),
      batchFaults: faults.done(),
    },
    ms: performance.now() - t0,
  };
}

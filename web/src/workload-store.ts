/**
 * The page's workload runs: which example or text is loaded, the run in progress (its own
 * worker, terminated to cancel), its progress, and the last outcome.
 * @module
 */
import { signal } from '@preact/signals';
import { WORKLOADS } from './examples.ts';
import type { WorkloadOutcome } from './model/workload-run.ts';
import type { WorkloadReply, WorkloadRequest } from './protocol.ts';

/** Name of the loaded workload (an example's, or `custom`). */
export const workloadName = signal<string>('');
/** Its text (the editor's). */
export const workloadText = signal<string>('');
/** The last finished run, or null. */
export const workloadDone = signal<Extract<WorkloadOutcome, { kind: 'done' }> | null>(null);
/** The CLI's messages when the workload could not be run. */
export const workloadProblems = signal<readonly string[]>([]);
/** Progress of the run in progress (accesses done of the total known), or null when none runs. */
export const workloadProgress = signal<{ done: number; total: number } | null>(null);
export const workloadStatus = signal('');

let worker: Worker | null = null;

/** Loads example workload `name` into the editor (without running it). */
export function loadWorkload(name: string): boolean {
  const text = WORKLOADS.get(name);
  if (text === undefined) {
    workloadStatus.value = `no example workload named "${name}" (have: ${[...WORKLOADS.keys()].join(', ')})`;
    return false;
  }
  workloadName.value = name;
  workloadText.value = text;
  return true;
}

/** Runs `text` in a fresh worker; resolves when it finishes, fails or is cancelled. */
export function runWorkloadInPage(text: string, name: string): Promise<void> {
  cancelWorkload('');
  workloadText.value = text;
  workloadName.value = name;
  workloadProblems.value = [];
  workloadProgress.value = { done: 0, total: 0 };
  workloadStatus.value = `running ${name}…`;
  const w = new Worker(new URL('./workers/workload.worker.ts', import.meta.url), { type: 'module' });
  worker = w;
  return new Promise((resolve) => {
    const finish = () => {
      if (worker === w) worker = null;
      w.terminate();
      workloadProgress.value = null;
      resolve();
    };
    w.onmessage = (e: MessageEvent<WorkloadReply>) => {
      const r = e.data;
      if (r.kind === 'progress') {
        workloadProgress.value = { done: r.done, total: r.total };
        return;
      }
      if (r.kind === 'done') {
        workloadDone.value = r.outcome;
        workloadStatus.value = `${name}: ${r.outcome.series.timeMs.length} fault batches, ${(r.outcome.result.timeNs / 1e6).toFixed(3)} ms of virtual time, run in ${r.outcome.ms.toFixed(0)} ms`;
      } else if (r.kind === 'invalid') {
        workloadProblems.value = r.messages;
        workloadStatus.value = `${name}: ${r.messages.length} problem(s) in the workload`;
      } else workloadStatus.value = `error: ${r.message}`;
      finish();
    };
    w.onerror = (e) => {
      workloadStatus.value = `error: ${e.message || 'the workload worker failed'}`;
      finish();
    };
    // Cancelling resolves too.
    cancelHook = () => {
      finish();
    };
    w.postMessage({ text, file: `${name}.json` } satisfies WorkloadRequest);
  });
}

let cancelHook: (() => void) | null = null;

/** Stops the run in progress (its worker is terminated: the run is synchronous). */
export function cancelWorkload(message = 'cancelled'): void {
  if (!worker) return;
  const hook = cancelHook;
  cancelHook = null;
  hook?.();
  if (message) workloadStatus.value = message;
}

/**
 * The workload worker: runs one workload (the run is synchronous, so the page cancels it by
 * terminating this worker) and posts its progress, then its outcome.
 * @module
 */
import { runWorkloadText } from '../model/workload-run.ts';
import type { WorkloadReply, WorkloadRequest } from '../protocol.ts';

const post = (r: WorkloadReply): void => (self as unknown as Worker).postMessage(r);

self.onmessage = (e: MessageEvent<WorkloadRequest>) => {
  const q = e.data;
  try {
    const out = runWorkloadText(q.text, q.file, (done, total) => post({ kind: 'progress', done, total }));
    post(out.kind === 'done' ? { kind: 'done', outcome: out } : { kind: 'invalid', messages: out.messages });
  } catch (err) {
    post({ kind: 'error', message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  }
};

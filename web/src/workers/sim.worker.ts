/**
 * The simulation worker: runs the real simulator (src/, unchanged) off the page's thread and
 * answers the requests of {@link Request}. Recordings go back by structured clone.
 * @module
 */
import { runScenario } from '../../../src/cli/scenario/run.ts';
import type { ScenarioDoc } from '../../../src/cli/scenario/types.ts';
import { EXAMPLES } from '../examples.ts';
import { recordScenario } from '../model/record-run.ts';
import { Recorder } from '../model/recorder.ts';
import { parseScenario } from '../model/scenario-text.ts';
import type { Reply, Request } from '../protocol.ts';

/** Replays, exploration and exact re-runs load on first use: a first recording does not wait for them. */
const jobs = () => import('../model/jobs.ts');

const post = (r: Reply): void => (self as unknown as Worker).postMessage(r);

/**
 * Recordings whose first answer is out, by request id: each waits for the page's `painted` (its
 * first answer is on screen) before recording every event. Made at once, the full recording
 * would take a core from the page's thread while that paints.
 */
const waiting = new Map<number, () => void>();

performance.mark('hmmsim:worker-evaluated');

function exampleDocs(): ScenarioDoc[] {
  const out: ScenarioDoc[] = [];
  for (const [name, text] of EXAMPLES) {
    const d = parseScenario(text, `${name}.json`);
    if (!('kind' in d)) out.push(d);
  }
  return out;
}

async function handle(q: Request): Promise<void> {
  const t0 = performance.now();
  switch (q.kind) {
    case 'record':
    case 'record-example': {
      const text = q.kind === 'record' ? q.text : EXAMPLES.get(q.name);
      const file = q.kind === 'record' ? q.file : `${q.name}.json`;
      if (text === undefined) {
        post({ id: q.id, kind: 'error', message: `no example scenario named "${file.slice(0, -5)}"` });
        return;
      }
      const doc = parseScenario(text, file);
      if ('kind' in doc) {
        post({ id: q.id, kind: 'invalid', invalid: doc });
        return;
      }
      // The step ends first (a run with no row per event), for the page to paint at once.
      if (q.first) {
        performance.mark('hmmsim:first-run-start');
        const rec = await recordScenario(doc, { stepsOnly: true });
        performance.mark('hmmsim:first-run-end');
        const painted = new Promise<void>((resolve) => waiting.set(q.id, resolve));
        post({ id: q.id, kind: 'first', rec, ms: performance.now() - t0 });
        await painted;
      }
      post({ id: q.id, kind: 'recorded', rec: await recordScenario(doc), ms: performance.now() - t0 });
      return;
    }
    case 'demo': {
      let rec: Recorder | null = null;
      const narration: string[] = [];
      const { runDemoDetailed } = await import('../../../src/cli/demo.ts');
      await runDemoDetailed({
        print: (l) => {
          narration.push(l);
          if (rec && l.trim() !== '') rec.mark('chapter', 0, l.trim());
        },
        onMachine: (m) => {
          rec = new Recorder(m);
        },
      });
      const r = rec as Recorder | null;
      if (!r) throw new Error('the demo made no machine');
      post({
        id: q.id,
        kind: 'recorded',
        rec: r.finish('demo', r.marks.length, null),
        ms: performance.now() - t0,
        narration,
      });
      return;
    }
    case 'time': {
      // Plain runs, as `hmmsim run` does them (no recorder), for the browser-vs-Node figure.
      const d = parseScenario(q.text, q.file);
      if ('kind' in d) {
        post({ id: q.id, kind: 'invalid', invalid: d });
        return;
      }
      const ms: number[] = [];
      for (let i = 0; i < q.runs; i++) {
        const t = performance.now();
        await runScenario(d);
        ms.push(performance.now() - t);
      }
      post({ id: q.id, kind: 'timed', ms });
      return;
    }
    case 'replay': {
      const { replayToken } = await jobs();
      const race = await replayToken(q.token, exampleDocs());
      post({ id: q.id, kind: 'race', race, ms: performance.now() - t0 });
      return;
    }
    case 'trace': {
      const { traceRun } = await jobs();
      post({ id: q.id, kind: 'traced', json: await traceRun(q.source, exampleDocs()) });
      return;
    }
    case 'exact': {
      const { exactReplay, exactScenario } = await jobs();
      let exact = null;
      if ('token' in q.source) exact = await exactReplay(q.source.token, exampleDocs(), q.row, q.pid, q.addr);
      else {
        const d = parseScenario(q.source.text, q.source.file);
        if (!('kind' in d)) exact = await exactScenario(d, q.row, q.pid, q.addr);
      }
      post({ id: q.id, kind: 'exact', exact });
      return;
    }
  }
}

self.onmessage = (e: MessageEvent<Request>) => {
  if (e.data.kind === 'painted') {
    waiting.get(e.data.id)?.();
    waiting.delete(e.data.id);
    return;
  }
  handle(e.data).catch((err: unknown) => {
    post({
      id: e.data.id,
      kind: 'error',
      message: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    });
  });
};

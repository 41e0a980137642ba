/**
 * The page's store in Node with a stand-in for its simulation worker that answers when the test
 * says: the answer to an older run (a recording, a replay, the demo) is not shown once a newer
 * one was asked for, whatever order the answers come in. The worker does answer out of order: a
 * replay or the demo first loads a chunk of its own, and a recording asked for meanwhile is made
 * and answered first.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadScenario } from '../../src/cli/scenario/validate.ts';
import type { RaceRecording } from '../../web/src/model/jobs.ts';
import { recordScenario } from '../../web/src/model/record-run.ts';
import type { Recording } from '../../web/src/model/recorder.ts';
import type { Reply, Request } from '../../web/src/protocol.ts';

/** What the store posted, in order; the test answers with {@link answer}. */
const posted: Request[] = [];
let onmessage: ((e: { data: Reply }) => void) | null = null;

class StandInWorker {
  set onmessage(f: ((e: { data: Reply }) => void) | null) {
    onmessage = f;
  }
  onerror: unknown = null;
  postMessage(q: Request): void {
    posted.push(q);
  }
  terminate(): void {}
}

function answer(r: Reply): void {
  onmessage?.({ data: r });
}

/** The id of the last request of `kind` the store posted. */
function idOf(kind: Request['kind']): number {
  const q = [...posted].reverse().find((p) => p.kind === kind);
  if (!q) throw new Error(`no ${kind} request posted`);
  return q.id;
}

const settle = () => new Promise((r) => setTimeout(r, 0));

/**
 * What the test uses of web/src/store.ts. The store is DOM code (the web project type-checks
 * it); this project sees it through a specifier it does not resolve.
 */
interface Store {
  runToken(token: string, at?: number): Promise<boolean>;
  runExample(name: string): Promise<boolean>;
  runDemo(): Promise<void>;
  scenarioName: { value: string };
  race: { value: RaceRecording | null };
  recording: { value: Recording | null };
  narration: { value: string[] };
  partial: { value: boolean };
}
const STORE = '../../web/src/store.ts';

let store: Store;
let migrate: Recording;
let other: Recording;

beforeAll(async () => {
  const g = globalThis as Record<string, unknown>;
  g.window = globalThis;
  g.Worker = StandInWorker;
  g.history = { replaceState() {} };
  g.requestAnimationFrame = (f: () => void) => setTimeout(f, 0);
  store = (await import(/* @vite-ignore */ STORE)) as Store;
  const dir = path.resolve(import.meta.dirname, '../../examples/scenarios');
  const load = (f: string) => loadScenario(readFileSync(path.join(dir, f), 'utf8'), f);
  migrate = await recordScenario(load('migrate.json'));
  other = await recordScenario(load('anon_read.json'));
});

function raceReply(id: number): Reply {
  const race = {
    kind: 'race',
    token: 'hx1.stand-in',
    data: { scenario: 'a replayed race', mutant: null },
    recording: other,
    choices: [],
    violation: null,
    account: '',
    accountSteps: [],
    stepAt: [],
    stepIsEvent: [],
  } as unknown as RaceRecording;
  return { id, kind: 'race', race, ms: 1 };
}

describe('an older run’s answer is not shown over a newer run’s', () => {
  it('a replay answered after the recording asked for later', async () => {
    const replay = store.runToken('hx1.stand-in');
    const example = store.runExample('migrate');
    answer({ id: idOf('record'), kind: 'first', rec: migrate, ms: 1 });
    answer({ id: idOf('record'), kind: 'recorded', rec: migrate, ms: 1 });
    expect(await example).toBe(true);
    answer(raceReply(idOf('replay')));
    expect(await replay).toBe(false);
    await settle();
    expect(store.scenarioName.value).toBe('migrate');
    expect(store.race.value).toBeNull();
    expect(store.recording.value).toBe(migrate);
  });

  it('the demo answered after the recording asked for later', async () => {
    const demo = store.runDemo();
    const example = store.runExample('migrate');
    answer({ id: idOf('record'), kind: 'first', rec: migrate, ms: 1 });
    answer({ id: idOf('record'), kind: 'recorded', rec: migrate, ms: 1 });
    expect(await example).toBe(true);
    answer({ id: idOf('demo'), kind: 'recorded', rec: other, ms: 1, narration: ['a chapter'] });
    await demo;
    expect(store.scenarioName.value).toBe('migrate');
    expect(store.narration.value).not.toContain('a chapter');
    expect(store.recording.value).toBe(migrate);
  });

  it('a recording answered after a replay asked for later: the replay stays, nothing partial', async () => {
    const example = store.runExample('migrate');
    answer({ id: idOf('record'), kind: 'first', rec: migrate, ms: 1 });
    expect(store.partial.value).toBe(true);
    // The worker records every event once the first answer is painted, and is told so.
    await settle();
    await settle();
    expect(posted.at(-1)).toEqual({ id: idOf('record'), kind: 'painted' });
    const replay = store.runToken('hx1.stand-in');
    answer(raceReply(idOf('replay')));
    expect(await replay).toBe(true);
    answer({ id: idOf('record'), kind: 'recorded', rec: migrate, ms: 1 });
    expect(await example).toBe(false);
    expect(store.race.value?.recording).toBe(other);
    expect(store.recording.value).toBe(other);
    // The replay replaced the first answer: moves by event are made at once, not deferred.
    expect(store.partial.value).toBe(false);
  });
});

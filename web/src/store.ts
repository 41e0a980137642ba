/**
 * The page's state as signals (what is loaded, the cursor, the selection, the mode) and the
 * client of the simulation worker. Views read the signals; only the actions below write them.
 * @module
 */
import { computed, signal } from '@preact/signals';
import type { ExploreReport } from '../../src/explore/types.ts';
import { EXAMPLES } from './examples.ts';
import type { Exact, RaceRecording } from './model/jobs.ts';
import type { Recording } from './model/recorder.ts';
import type { Invalid } from './model/scenario-text.ts';
import { SeekState, type StateSummary } from './model/seek.ts';
import type { Reply, Request } from './protocol.ts';

/** Omit over each member of a union. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A recording's first answer (its step ends), before the full one. */
type First = Extract<Reply, { kind: 'first' }>;

type Pending = {
  resolve: (r: Reply) => void;
  onFirst?: (r: First) => void;
};

/**
 * What the built page's first script started (see web/vite.config.ts): the worker, the example
 * it is recording (request id 0), the replies that came before the store took it over, and why
 * the worker failed, if it did.
 */
interface EarlyStart {
  readonly worker: Worker;
  readonly name: string;
  readonly replies: Reply[];
  readonly failed: string | null;
}

declare global {
  interface Window {
    __hmmsimEarly?: EarlyStart;
  }
}

/** The worker client: one request at a time per kind is enough for the page. */
class SimClient {
  private worker: Worker | null = null;
  private next = 1;
  private readonly pending = new Map<number, Pending>();
  /** The example the early worker is recording as request 0, until that is taken. */
  private early: string | null = null;

  private get w(): Worker {
    if (!this.worker) {
      const early = window.__hmmsimEarly;
      window.__hmmsimEarly = undefined;
      if (early) {
        this.worker = early.worker;
        this.early = early.name;
      } else {
        performance.mark('hmmsim:worker-start');
        this.worker = new Worker(new URL('./workers/sim.worker.ts', import.meta.url), { type: 'module' });
      }
      const w = this.worker;
      w.onmessage = (e: MessageEvent<Reply>) => this.reply(e.data);
      w.onerror = (e) => this.fail(e.message || 'worker error');
      if (early) {
        for (const r of early.replies) this.reply(r);
        if (early.failed !== null) this.fail(early.failed);
      }
    }
    return this.worker;
  }

  private reply(r: Reply): void {
    const p = this.pending.get(r.id);
    if (!p) {
      // The early recording's answer, come before anyone asked for it (see takeEarly).
      if (r.id === 0 && r.kind === 'first') this.earlyFirst = r;
      else if (r.id === 0) this.earlyReply = r;
      return;
    }
    if (r.kind === 'first') {
      performance.mark('hmmsim:reply-first');
      p.onFirst?.(r);
      this.painted(r.id);
      return;
    }
    this.pending.delete(r.id);
    performance.mark(`hmmsim:reply-${r.kind}`);
    p.resolve(r);
  }

  /**
   * Tells the worker that the first answer of recording `id` is on screen (or was not shown), so
   * it records every event now: after the next frame is painted, not while the page paints.
   */
  private painted(id: number): void {
    const w = this.worker;
    requestAnimationFrame(() =>
      setTimeout(() => w?.postMessage({ id, kind: 'painted' } satisfies Request), 0),
    );
  }

  private fail(message: string): void {
    for (const [id, p] of this.pending) p.resolve({ id, kind: 'error', message });
    this.pending.clear();
    if (this.early !== null) this.earlyReply = { id: 0, kind: 'error', message };
  }

  /** The early recording's reply when it came before {@link takeEarly} asked for it. */
  private earlyReply: Reply | null = null;
  /** Its first answer (step ends), likewise. */
  private earlyFirst: First | null = null;

  /**
   * The recording of example `name` the page's first script asked for, when it did (once);
   * otherwise null, and the caller asks for the recording itself.
   */
  takeEarly(name: string, onFirst?: (r: First) => void): Promise<Reply> | null {
    // Reading the getter adopts the early worker (and sets `early`) on first use.
    void this.w;
    if (this.early !== name) return null;
    this.early = null;
    const done = this.earlyReply;
    const first = this.earlyFirst;
    this.earlyReply = null;
    this.earlyFirst = null;
    if (done) return Promise.resolve(done);
    if (first) {
      onFirst?.(first);
      this.painted(0);
    }
    return new Promise((resolve) => this.pending.set(0, { resolve, ...(onFirst ? { onFirst } : {}) }));
  }

  request(q: DistributiveOmit<Request, 'id'>, onFirst?: (r: First) => void): Promise<Reply> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.pending.set(id, { resolve, ...(onFirst ? { onFirst } : {}) });
      this.w.postMessage({ ...q, id } as Request);
    });
  }

  /** Stops whatever runs (an exploration) by replacing the worker. */
  reset(): void {
    this.worker?.terminate();
    this.worker = null;
    this.early = null;
    this.earlyReply = null;
    this.earlyFirst = null;
    for (const [id, p] of this.pending) p.resolve({ id, kind: 'error', message: 'stopped' });
    this.pending.clear();
  }
}

/** The worker. */
export const sim = new SimClient();

/** Which mode the page is in. */
export type Mode = 'explore' | 'learn' | 'race' | 'workload';

export const mode = signal<Mode>('explore');
/** Name of the loaded example, `custom`, `demo`, or a token's scenario. */
export const scenarioName = signal<string>('');
/** The JSON text of the loaded scenario (the editor's text). */
export const scenarioText = signal<string>('');
/** The last recording and its cursor. */
export const recording = signal<Recording | null>(null);
export const seekState = signal<SeekState | null>(null);
/** Rows applied (bumped on every seek so views redraw). */
export const cursor = signal(0);
/** Selected flat page index (-1: none). */
export const selected = signal(-1);
export const status = signal('loading…');
export const invalid = signal<Invalid | null>(null);
export const playing = signal(false);
/** Play speed, rows a second. */
export const speed = signal(60);
/** Step unit for ◀ ▶. */
export const stepBy = signal<'step' | 'event' | 'change'>('step');
export const race = signal<RaceRecording | null>(null);
/** The race's account step last stepped to (-1: none; the lanes then follow the cursor). */
export const raceStep = signal(-1);
export const exploreReport = signal<ExploreReport | null>(null);
export const exploreProgress = signal<string>('');
export const exact = signal<Exact | null>(null);
export const narration = signal<string[]>([]);
/** True once the first recording is drawn (heavier views, like the editor, load after it). */
export const pageReady = signal(false);
/**
 * True once the first maps are painted, or the first run ended without any: the editor (the
 * CLI's scenario parser and CodeMirror, the page's largest chunks) loads then, not while the
 * worker computes the first answer.
 */
export const firstShown = signal(false);
/** Wall-clock ms of the last recording. */
export const recordMs = signal(0);
/** Why the scenario a link named could not be opened (a damaged share link), or null. */
export const linkError = signal<string | null>(null);
/** The scenario a share link opened: its text and the link's parameter (kept in the URL while unchanged). */
export const shared = signal<{ readonly text: string; readonly param: string } | null>(null);

/**
 * True while the page shows a recording's first answer (its step ends only) and the full
 * recording is still being made: moves by event or by change wait for it.
 */
export const partial = signal(false);
/** A move asked for while {@link partial}, made once the full recording is loaded. */
let deferred: (() => void) | null = null;

/** The `#state` summary at the cursor. */
export const summary = computed<StateSummary | null>(() => {
  cursor.value;
  const s = seekState.value;
  return s ? s.summary() : null;
});

/** Moves the cursor to `at` rows. */
export function seek(at: number): void {
  const s = seekState.value;
  if (!s) return;
  s.seek(at);
  cursor.value = s.at;
  exact.value = null;
  syncUrl();
}

/** Moves by one unit of {@link stepBy} (dir = ±1). */
export function stepOnce(dir: 1 | -1): boolean {
  const s = seekState.value;
  const rec = recording.value;
  if (!s || !rec) return false;
  if (partial.value && stepBy.value !== 'step') {
    // The first answer has no rows between step ends: move once the full recording is in.
    const unit = stepBy.value;
    deferred = () => {
      const saved = stepBy.value;
      stepBy.value = unit;
      stepOnce(dir);
      stepBy.value = saved;
    };
    return true;
  }
  const at = s.at;
  let to = at;
  if (stepBy.value === 'event') to = at + dir;
  else if (stepBy.value === 'step' && rec.marks.length > 0) {
    const ends = rec.marks.map((m) => m.row + 1);
    to =
      dir > 0
        ? (ends.find((e) => e > at) ?? rec.rows.length)
        : ([...ends].reverse().find((e) => e < at) ?? 0);
  } else {
    // The next row that changed a page.
    const ds = rec.deltaStart;
    if (dir > 0) {
      to = at + 1;
      while (to < rec.rows.length && ds[to] === ds[to - 1]) to++;
    } else {
      to = at - 1;
      while (to > 0 && ds[to] === ds[to - 1]) to--;
    }
  }
  to = Math.max(0, Math.min(rec.rows.length, to));
  if (to === at) return false;
  seek(to);
  return true;
}

/** Loads a recording and puts the cursor at `at` (default: the end). */
export function load(rec: Recording, at?: number | { step: number | 'end' }): void {
  const s = new SeekState(rec);
  recording.value = rec;
  seekState.value = s;
  selected.value = -1;
  const to = at === undefined ? s.atStep('end') : typeof at === 'number' ? at : s.atStep(at.step);
  s.seek(to);
  cursor.value = s.at;
  exact.value = null;
}

/**
 * Runs asked for so far (recordings, replays, the demo): an answer to an older one is not shown.
 * The worker may answer out of order: a replay or the demo first loads a chunk of its own, and a
 * recording asked for meanwhile is made and answered before it.
 */
let runs = 0;

/** Records the scenario text; shows its validation issues instead when it has some. */
export async function runText(
  name: string,
  text: string,
  at?: number | { step: number | 'end' },
): Promise<boolean> {
  scenarioName.value = name;
  scenarioText.value = text;
  status.value = `running ${name}…`;
  linkError.value = null;
  const gen = ++runs;
  // The step ends come first (see Request 'record'): shown at once when the cursor goes to a
  // step end, then replaced by the full recording at the same step end.
  const byStep = typeof at !== 'number';
  const onFirst = (f: First): void => {
    if (gen !== runs || !byStep) return;
    invalid.value = null;
    race.value = null;
    load(f.rec, at);
    partial.value = true;
    status.value = `${name}: ${f.rec.steps} steps, recording every event…`;
  };
  // An example the page's first script already started recording is taken from there.
  const early = EXAMPLES.get(name) === text ? sim.takeEarly(name, onFirst) : null;
  const r = await (early ??
    sim.request({ kind: 'record', text, file: `${name}.json`, first: byStep }, onFirst));
  if (gen !== runs) return false;
  const shown = partial.value ? seekState.value : null;
  partial.value = false;
  const move = deferred;
  deferred = null;
  if (r.kind === 'invalid') {
    invalid.value = r.invalid;
    status.value = `${name}: ${r.invalid.messages.length} problem(s) in the scenario`;
    return false;
  }
  if (r.kind === 'error') {
    status.value = `error: ${r.message}`;
    return false;
  }
  if (r.kind !== 'recorded') return false;
  invalid.value = null;
  race.value = null;
  recordMs.value = r.ms;
  if (shown) {
    // The same step end in the full recording (the first answer's rows are the step ends), the
    // same page selected: nothing on screen changes but what the full recording adds.
    const sel = selected.value;
    const j = shown.at;
    load(r.rec, j === 0 ? 0 : (r.rec.marks[j - 1]?.row ?? r.rec.rows.length - 1) + 1);
    selected.value = sel;
  } else load(r.rec, at);
  move?.();
  status.value = `${name}: ${r.rec.rows.length} events, ${r.rec.steps} steps, recorded in ${r.ms.toFixed(0)} ms${r.rec.failure ? ` — FAILED: ${r.rec.failure}` : ''}`;
  syncUrl();
  return true;
}

/** Opens the scenario of a share link (`?share=…`); a damaged link says why instead. */
export async function runShared(param: string, at?: number | { step: number | 'end' }): Promise<boolean> {
  const { decodeShare } = await import('./model/share.ts');
  let text: string;
  try {
    text = await decodeShare(param);
  } catch (e) {
    linkError.value = e instanceof Error ? e.message : String(e);
    status.value = linkError.value;
    return false;
  }
  linkError.value = null;
  shared.value = { text, param };
  return runText(scenarioNameOf(text) ?? 'shared', text, at);
}

/** The `name` field of scenario text, when it parses and has one made of file-name characters. */
export function scenarioNameOf(text: string): string | null {
  try {
    const n = (JSON.parse(text) as { name?: unknown }).name;
    return typeof n === 'string' && /^[\w.-]{1,80}$/.test(n) ? n : null;
  } catch {
    return null;
  }
}

/** Loads example `name`. */
export function runExample(name: string, at?: number | { step: number | 'end' }): Promise<boolean> {
  const text = EXAMPLES.get(name);
  if (text === undefined) {
    status.value = `no example scenario named "${name}" (have: ${[...EXAMPLES.keys()].join(', ')})`;
    return Promise.resolve(false);
  }
  return runText(name, text, at);
}

/** Replays a token (Race mode). */
export async function runToken(token: string, at?: number): Promise<boolean> {
  status.value = 'replaying…';
  const gen = ++runs;
  const r = await sim.request({ kind: 'replay', token: token.trim() });
  if (gen !== runs) return false;
  if (r.kind === 'error') {
    status.value = `token: ${r.message}`;
    return false;
  }
  if (r.kind !== 'race') return false;
  // An older recording's first answer may be on screen: this replaces it.
  partial.value = false;
  deferred = null;
  race.value = r.race;
  raceStep.value = -1;
  mode.value = 'race';
  scenarioName.value = r.race.data.scenario;
  recordMs.value = r.ms;
  load(r.race.recording, at);
  if (at === undefined) {
    // Open at the moment the mirror first disagrees with the CPU (the violation), if it does.
    const s = seekState.value!;
    const first = s.firstStale();
    if (first >= 0) seek(first + 1);
  }
  status.value = `replayed ${r.race.data.scenario}${r.race.data.mutant ? ` (mutant ${r.race.data.mutant})` : ''}: ${r.race.violation ? `VIOLATION (${r.race.violation.oracle})` : 'no violation'}`;
  syncUrl();
  return true;
}

/** Loads the demo's narrated run (Learn mode). */
export async function runDemo(): Promise<void> {
  status.value = 'running the demo…';
  const gen = ++runs;
  const r = await sim.request({ kind: 'demo' });
  if (gen !== runs) return;
  if (r.kind !== 'recorded') {
    status.value = r.kind === 'error' ? `error: ${r.message}` : 'demo failed';
    return;
  }
  scenarioName.value = 'demo';
  partial.value = false;
  deferred = null;
  narration.value = r.narration ?? [];
  race.value = null;
  load(r.rec, 0);
  status.value = `demo: ${r.rec.rows.length} events, ${r.rec.marks.length} narrated lines`;
}

/** Asks the worker for the exact walk and frames at the cursor for the selected page. */
export async function fetchExact(): Promise<void> {
  const s = seekState.value;
  const rec = recording.value;
  const i = selected.value;
  // A first answer's rows are not the run's: the exact read waits for the full recording.
  if (!s || !rec || s.at === 0 || partial.value) return;
  const reg = rec.regions.find((r) => i >= r.at && i < r.at + r.pages) ?? rec.regions[0];
  if (!reg) return;
  const addr = reg.addr + Math.max(0, i - reg.at) * 4096;
  const r = await sim.request({ kind: 'exact', source: runSource(), row: s.at - 1, pid: reg.pid, addr });
  if (r.kind === 'exact') exact.value = r.exact;
}

/** Where the loaded run comes from, for the worker to run it again (exact reads, traces). */
function runSource(): { text: string; file: string } | { token: string } {
  return race.value
    ? { token: race.value.token }
    : { text: scenarioText.value, file: `${scenarioName.value}.json` };
}

/** The Chrome trace (JSON) of the loaded run, as `hmmsim run --trace` writes it. */
export async function traceJson(): Promise<string> {
  const r = await sim.request({ kind: 'trace', source: runSource() });
  if (r.kind !== 'traced') throw new Error(r.kind === 'error' ? r.message : 'no trace');
  return r.json;
}

let urlTimer: ReturnType<typeof setTimeout> | null = null;
/** When the oldest URL change not yet written was asked for (performance.now), or -1. */
let urlSince = -1;
/**
 * Keeps `?scenario=NAME&step=N` (and `at=` between step ends, `token=` in Race mode, `share=`
 * for a shared scenario) current; an edited scenario has no URL of its own (Share makes one).
 * Written once the cursor has rested 200 ms (at most a second after a move): `replaceState`
 * costs milliseconds, more than a whole step, and stepping or playing must not pay it each time.
 */
export function syncUrl(): void {
  const now = performance.now();
  if (urlSince < 0) urlSince = now;
  if (urlTimer) clearTimeout(urlTimer);
  urlTimer = setTimeout(
    () => {
      urlTimer = null;
      urlSince = -1;
      const s = seekState.value;
      if (!s) return;
      const q = new URLSearchParams();
      const sh = shared.value;
      if (race.value) q.set('token', race.value.token);
      else if (sh && sh.text === scenarioText.value) q.set('share', sh.param);
      else if (EXAMPLES.has(scenarioName.value) && EXAMPLES.get(scenarioName.value) === scenarioText.value)
        q.set('scenario', scenarioName.value);
      else return;
      const step = s.step();
      q.set('step', s.at === s.atStep('end') && s.at === s.rec.rows.length ? 'end' : String(step));
      if (s.at !== s.atStep(step)) q.set('at', String(s.at));
      history.replaceState(null, '', `?${q.toString()}`);
    },
    Math.max(0, Math.min(200, urlSince + 1000 - now)),
  );
}

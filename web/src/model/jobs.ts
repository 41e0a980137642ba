/**
 * What the page's worker does, as plain async functions (the Node tests call the same ones):
 * record a scenario from its JSON text, replay a token with the recorder attached, and re-run to
 * a row to read what the recording does not keep (the 4-level walk of one address, the physical
 * frames). Exploring runs in workers of its own (web/src/workers/explore-pool.ts).
 * @module
 */

import type { ScenarioState } from '../../../src/cli/scenario/run.ts';
import { runScenario } from '../../../src/cli/scenario/run.ts';
import { toExploreScenario } from '../../../src/cli/scenario/to-explore.ts';
import type { ScenarioDoc } from '../../../src/cli/scenario/types.ts';
import { formatAccount } from '../../../src/explore/account.ts';
import { describeEvent } from '../../../src/explore/describe-event.ts';
import { replay } from '../../../src/explore/explore.ts';
import { findMutant } from '../../../src/explore/mutants/index.ts';
import type { Oracle } from '../../../src/explore/oracle.ts';
import { defaultOracles } from '../../../src/explore/oracles/index.ts';
import {
  formatReplayToken,
  parseReplayToken,
  type ReplayTokenData,
} from '../../../src/explore/replay-token.ts';
import { threadName } from '../../../src/explore/runner.ts';
import type { Scenario, Violation } from '../../../src/explore/types.ts';
import type { Machine } from '../../../src/machine.ts';
import { PAGE_SIZE, PTRS_PER_TABLE } from '../../../src/mm/constants.ts';
import { levelIndex, type PtLevel } from '../../../src/mm/page-table.ts';
import type { Process } from '../../../src/mm/process.ts';
import { PTE_KIND_MASK, PTE_KIND_NAMES, PTE_LEAF, PTE_TABLE } from '../../../src/mm/pte.ts';
import { DEFAULT_TRACE_SPACING_NS, traceMachine } from '../../../src/trace/machine.ts';
import { ChromeTraceWriter } from '../../../src/trace/writer.ts';
import { recordScenario } from './record-run.ts';
import { Recorder, type Recording } from './recorder.ts';
import { parseScenario } from './scenario-text.ts';

/** One decision point of a replayed schedule. */
export interface Decision {
  readonly index: number;
  /** The choice taken (index into the candidates). */
  readonly choice: number;
}

/** A replayed schedule with its recording. */
export interface RaceRecording {
  readonly kind: 'race';
  readonly token: string;
  readonly data: ReplayTokenData;
  readonly recording: Recording;
  /** Every choice made, trailing defaults included. */
  readonly choices: readonly number[];
  readonly violation: Violation | null;
  /** The account as `hmmsim explore --replay` prints it. */
  readonly account: string;
  readonly accountSteps: readonly { time: number; thread: string; what: string }[];
  /**
   * For each account step, the cursor (rows applied) that shows the machine just after it: a bus
   * event's own row, or for a note (decision, switch, violation) the last event before it.
   */
  readonly stepAt: readonly number[];
  /** Whether each account step is a bus event (else a note of the explorer's). */
  readonly stepIsEvent: readonly boolean[];
}

/** A bus event of a race (its account line) or the violation's moment (`what` null), with its row. */
export interface RaceMoment {
  readonly what: string | null;
  readonly time: number;
  readonly row: number;
}

/** The explorer scenario a token names: its mutant's, or the scenario document's. */
export function scenarioOf(data: ReplayTokenData, docs: readonly ScenarioDoc[]): Scenario<unknown> {
  if (data.mutant !== null) {
    const spec = findMutant(data.mutant);
    if (!spec) throw new Error(`unknown mutant ${data.mutant}`);
    return spec.scenario as Scenario<unknown>;
  }
  const doc = docs.find((d) => d.name === data.scenario);
  if (!doc) throw new Error(`the token is for scenario "${data.scenario}", which is not loaded here`);
  return toExploreScenario(doc) as Scenario<unknown>;
}

/** Replays `token` with the recorder attached to the schedule's machine. */
export async function replayToken(
  token: string,
  docs: readonly ScenarioDoc[],
  probe?: { row: number | 'every'; at: (machine: Machine, rec: Recorder, row: number) => void },
): Promise<RaceRecording> {
  const data = parseReplayToken(token);
  const scenario = scenarioOf(data, docs);
  let rec: Recorder | null = null;
  const wrapped: Scenario<unknown> = {
    ...scenario,
    async setup(machine, env) {
      const r: Recorder = new Recorder(machine, {
        onRow: (row) => {
          if (probe && (probe.row === 'every' || row === probe.row)) probe.at(machine, r, row);
        },
      });
      rec = r;
      const s = await scenario.setup(machine, env);
      if (isScenarioState(s)) r.state = s;
      r.mark('setup', 1, 'setup');
      return s;
    },
  };
  // The bus events of the race, in order, with the row the recorder gave each (the recorder
  // subscribed first, so its row exists when this listener runs; the account subscribes after),
  // and the moment an oracle reported the violation (a row of its own: the state then may differ
  // from the last event's, e.g. a device table written under a lock, with no event).
  const events: RaceMoment[] = [];
  let unsubscribe: (() => void) | null = null;
  let raceStart = 0;
  const rows = () => (rec as Recorder | null)?.rows.length ?? 0;
  const watched: Oracle = (ctx) => {
    let reported = false;
    const inner = defaultOracles().map((o) =>
      o({
        machine: ctx.machine,
        violate: (oracle, message) => {
          const r = rec as Recorder | null;
          if (!reported && r) {
            reported = true;
            r.moment(
              threadName(ctx.machine.sched.current),
              'violation',
              `${oracle} oracle: violation found here`,
            );
            events.push({ what: null, time: ctx.machine.sched.clock.now, row: rows() - 1 });
          }
          ctx.violate(oracle, message);
        },
      }),
    );
    return {
      started() {
        raceStart = rows();
        unsubscribe = ctx.machine.bus.subscribe((e) =>
          events.push({ what: describeEvent(e), time: e.time, row: rows() - 1 }),
        );
        for (const o of inner) o.started?.();
      },
      atPoint() {
        for (const o of inner) o.atPoint?.();
      },
      atSwitch() {
        for (const o of inner) o.atSwitch?.();
      },
      atEnd() {
        for (const o of inner) o.atEnd?.();
      },
      detach() {
        unsubscribe?.();
        for (const o of inner) o.detach?.();
      },
    };
  };
  const result = await replay(wrapped, token, { oracles: [watched] });
  const r = rec as Recorder | null;
  if (r === null) throw new Error('the replay built no machine');
  const { stepAt, stepIsEvent } = accountRows(result.account, events, raceStart);
  const recording = r.finish(
    scenario.name,
    0,
    result.violation ? `${result.violation.oracle}: ${result.violation.message}` : null,
  );
  const header = `replay of ${scenario.name}${data.mutant ? ` with mutant ${data.mutant}` : ''}, seed ${data.seed}: ${token}`;
  return {
    kind: 'race',
    token,
    data,
    recording,
    choices: result.choices,
    violation: result.violation,
    account: `${formatAccount(result.account, result.violation, { header: [header, ''] })}\n${
      result.violation === null
        ? '\nno violation'
        : `\nVIOLATION (${result.violation.oracle}): ${result.violation.message}`
    }`,
    accountSteps: result.account,
    stepAt,
    stepIsEvent,
  };
}

/**
 * Maps account steps to cursors: the account's bus-event steps are the race's bus events in
 * order (same description, same time); every other step is a note shown at the event before it.
 */
export function accountRows(
  account: readonly { time: number; what: string }[],
  events: readonly RaceMoment[],
  raceStart: number,
): { stepAt: number[]; stepIsEvent: boolean[] } {
  const stepAt: number[] = [];
  const stepIsEvent: boolean[] = [];
  let k = 0;
  let at = raceStart;
  for (const st of account) {
    // The violation's own row comes just before the runner's note of it; a moment the account
    // does not note (the runner kept an earlier violation) is passed over by the next event.
    const m = events[k];
    if (m !== undefined && m.what === null) {
      if (st.what.startsWith('violation (')) {
        at = m.row + 1;
        k++;
        stepAt.push(at);
        stepIsEvent.push(false);
        continue;
      }
      const n = events[k + 1];
      if (n !== undefined && n.what === st.what && n.time === st.time) k++;
    }
    const e = events[k];
    const isEvent = e !== undefined && e.what === st.what && e.time === st.time;
    if (isEvent) {
      at = e.row + 1;
      k++;
    }
    stepAt.push(at);
    stepIsEvent.push(isEvent);
  }
  return { stepAt, stepIsEvent };
}

function isScenarioState(s: unknown): s is ScenarioState {
  return typeof s === 'object' && s !== null && 'mappings' in s && 'processes' in s && 'files' in s;
}

/** The token of `data` with decision `i` changed to `choice` (later decisions fall back to the default). */
export function whatIf(data: ReplayTokenData, choices: readonly number[], i: number, choice: number): string {
  return formatReplayToken({ ...data, choices: [...choices.slice(0, i), choice] });
}

/** One level of a page-table walk. */
export interface WalkLevel {
  readonly level: string;
  /** Table index in the machine's pool. */
  readonly table: number;
  /** Entry index in that table. */
  readonly index: number;
  readonly lo: number;
  readonly hi: number;
  readonly kind: string;
  readonly leaf: boolean;
}

/** What the exact drill-down reads at one row. */
export interface Exact {
  readonly row: number;
  readonly walk: readonly WalkLevel[];
  /** Frame states: 0 free, 1 mapped, 2 in use unmapped (page tables, pinned, cache), 3 device free, 4 device used. */
  readonly frames: Uint8Array;
  readonly ramFrames: number;
  /** Physical frame metadata of the selected page's frame, when it has one. */
  readonly frame: { pfn: number; refcount: number; mapcount: number; flags: number } | null;
}

/** Reads the walk of `addr` in process `pid` and the frame states from a live machine. */
export function readExact(
  machine: Machine,
  procs: Iterable<Process>,
  row: number,
  pid: number,
  addr: number,
): Exact {
  const walk: WalkLevel[] = [];
  let proc: Process | undefined;
  for (const p of procs) if (p.pid === pid) proc = p;
  const pool = machine.pt;
  const w = pool.words;
  let framePfn = -1;
  if (proc && !proc.mm.exited) {
    const vpn = Math.floor(addr / PAGE_SIZE);
    let t = proc.mm.pgd;
    for (let l = 4; l >= 1; l--) {
      const i = levelIndex(vpn, l as PtLevel);
      const off = (t * PTRS_PER_TABLE + i) * 2;
      const lo = w[off]!;
      const hi = w[off + 1]!;
      const kind = lo & PTE_KIND_MASK;
      const leaf = l === 1 || kind !== PTE_TABLE || (lo & PTE_LEAF) !== 0;
      walk.push({
        level: ['', 'PTE', 'PMD', 'PUD', 'PGD'][l]!,
        table: t,
        index: i,
        lo,
        hi,
        kind: PTE_KIND_NAMES[kind] ?? String(kind),
        leaf,
      });
      if (leaf) {
        if (kind !== 0 && kind !== PTE_TABLE) framePfn = hi + (l === 2 ? vpn % PTRS_PER_TABLE : 0);
        break;
      }
      t = hi;
    }
  }
  const pm = machine.pm;
  const frames = new Uint8Array(pm.nrFrames);
  for (let pfn = 0; pfn < pm.nrFrames; pfn++) {
    const dev = pfn >= pm.ramFrames;
    const rc = pm.refcount[pfn]!;
    frames[pfn] = dev
      ? rc > 0
        ? 4
        : 3
      : rc <= 0
        ? 0
        : pm.mapcount[pfn]! > 0 || pm.entireMapcount[pfn]! > 0
          ? 1
          : 2;
  }
  const frame =
    framePfn >= 0 && framePfn < pm.nrFrames
      ? {
          pfn: framePfn,
          refcount: pm.refcount[framePfn]!,
          mapcount: pm.mapcount[framePfn]! - 1,
          flags: pm.flags[framePfn]!,
        }
      : null;
  return { row, walk, frames, ramFrames: pm.ramFrames, frame };
}

/** Re-runs a scenario to `row` and reads the exact drill-down there. */
export async function exactScenario(
  doc: ScenarioDoc,
  row: number,
  pid: number,
  addr: number,
): Promise<Exact | null> {
  let out: Exact | null = null;
  await recordScenario(doc, {
    probe: {
      row,
      at: (m, _r, state) =>
        (out = readExact(m, [...m.processes, ...state.processes.values()], row, pid, addr)),
    },
  });
  return out;
}

/** Re-runs a replay to `row` and reads the exact drill-down there. */
export async function exactReplay(
  token: string,
  docs: readonly ScenarioDoc[],
  row: number,
  pid: number,
  addr: number,
): Promise<Exact | null> {
  let out: Exact | null = null;
  await replayToken(token, docs, {
    row,
    at: (m, r) =>
      (out = readExact(m, [...m.processes, ...(r.state ? r.state.processes.values() : [])], row, pid, addr)),
  });
  return out;
}

/**
 * The Chrome trace (JSON text) of a scenario run or a token's replay, as `hmmsim run --trace`
 * writes it (same process name, same display spacing): Perfetto and chrome://tracing open it.
 */
export async function traceRun(
  source: { readonly text: string; readonly file: string } | { readonly token: string },
  docs: readonly ScenarioDoc[],
): Promise<string> {
  const chunks: string[] = [];
  const writer = new ChromeTraceWriter((c) => chunks.push(c));
  writer.begin();
  const attach = (m: Machine, name: string) =>
    traceMachine(m, writer, { name, spacingNs: DEFAULT_TRACE_SPACING_NS });
  if ('token' in source) {
    const data = parseReplayToken(source.token);
    const scenario = scenarioOf(data, docs);
    await replay(
      {
        ...scenario,
        setup(machine, env) {
          attach(machine, `${scenario.name} replay`);
          return scenario.setup(machine, env);
        },
      },
      source.token,
    );
  } else {
    const doc = parseScenario(source.text, source.file);
    if ('kind' in doc) throw new Error(doc.messages.join('\n'));
    await runScenario(doc, { onMachine: (m) => attach(m, `scenario ${doc.name}`) });
  }
  writer.end();
  return chunks.join('');
}

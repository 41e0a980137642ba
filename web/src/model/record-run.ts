/**
 * Recording a scenario run, and running it again to a given row (the rr-style check of a seek).
 * Steps run one top-level step at a time so that each step's end is a row of its own; the
 * interpreter is the CLI's (`setupScenario`, `runSteps`), unchanged.
 * @module
 */
import {
  DEFAULT_RUN_STEP_BUDGET,
  machineOptions,
  runSteps,
  ScenarioState,
  StepFailure,
  type StepReport,
  setupScenario,
} from '../../../src/cli/scenario/run.ts';
import type { ScenarioDoc } from '../../../src/cli/scenario/types.ts';
import { Machine } from '../../../src/machine.ts';
import { type CpuSummary, summarizeCpu } from './pages.ts';
import { type PageSnapshot, Recorder, type RecorderOptions, type Recording } from './recorder.ts';

/** Options of {@link recordScenario}. */
export interface RecordOptions extends RecorderOptions {
  /** Called after every completed step (nested ones included), as `hmmsim run` prints them. */
  readonly onStep?: (r: StepReport) => void;
  /** Called at every step end with the machine's own summary (the Node-side truth for tests). */
  readonly onStepEnd?: (step: number, summary: CpuSummary) => void;
  /** Called after every row is recorded, with the recorder (tests compare its reads). */
  readonly everyRow?: (row: number, rec: Recorder) => void;
  /** Called once, right after row `row` is recorded, with the live machine and recorder. */
  readonly probe?: {
    readonly row: number;
    readonly at: (machine: Machine, rec: Recorder, state: ScenarioState) => void;
  };
}

/** Records a whole scenario run (it stops at the first failed step, like `hmmsim run`). */
export async function recordScenario(doc: ScenarioDoc, options: RecordOptions = {}): Promise<Recording> {
  const machine = new Machine({ ...machineOptions(doc), scheduler: { stepBudget: DEFAULT_RUN_STEP_BUDGET } });
  const probe = options.probe;
  const state = new ScenarioState(doc, machine, (r) => options.onStep?.(r));
  const rec: Recorder = new Recorder(machine, {
    ...options,
    onRow: (row) => {
      options.onRow?.(row);
      options.everyRow?.(row, rec);
      if (probe && row === probe.row) probe.at(machine, rec, state);
    },
  });
  rec.state = state;
  const summary = (): CpuSummary => summarizeCpu([...state.processes.values()].map((p) => p.mm));
  let failure: string | null = null;
  try {
    await setupScenario(state);
    rec.mark('setup', 1, 'setup: devices, processes, mappings');
    options.onStepEnd?.(0, summary());
    for (const [i, s] of doc.steps.entries()) {
      await runSteps(state, [s], null);
      rec.mark(s.op, s.source.line, `step ${i + 1}: ${s.op}${s.note ? ` — ${s.note}` : ''}`);
      options.onStepEnd?.(i + 1, summary());
    }
  } catch (e) {
    if (e instanceof StepFailure) failure = `${e.source.path} (${e.op}, line ${e.source.line}): ${e.detail}`;
    else failure = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  }
  state.counters.stop();
  return rec.finish(doc.name, doc.steps.length, failure);
}

/**
 * Runs `doc` again from the start and returns the page states read directly from the machine
 * after row `row`: what {@link SeekState.seek} to `row + 1` must equal.
 */
export async function rerunTo(
  doc: ScenarioDoc,
  row: number,
  options: RecorderOptions = {},
): Promise<{ snap: PageSnapshot; summary: CpuSummary } | null> {
  let out: { snap: PageSnapshot; summary: CpuSummary } | null = null;
  await recordScenario(doc, {
    ...options,
    probe: {
      row,
      at: (_m, rec, state) =>
        (out = {
          snap: rec.snapshot(),
          summary: summarizeCpu([...state.processes.values()].map((p) => p.mm)),
        }),
    },
  });
  return out;
}

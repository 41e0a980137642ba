/**
 * A scenario file with one `threads` step, as a race-explorer scenario: the steps before the
 * threads are the set-up, each thread's step list is a racing thread, and the steps after the
 * threads are the check (a failed expectation there, or in a thread, is a violation). Node-free.
 * @module
 */
import type { Scenario } from '../../explore/types.ts';
import { machineOptions, runSteps, ScenarioState, setupScenario } from './run.ts';
import type { ScenarioDoc, Step } from './types.ts';
import { ScenarioError } from './validate.ts';

/** The explorer scenario of `doc`; a {@link ScenarioError} if it has not exactly one `threads` step. */
export function toExploreScenario(doc: ScenarioDoc): Scenario<ScenarioState> {
  const at = doc.steps.flatMap((s, i) => (s.op === 'threads' ? [i] : []));
  if (at.length !== 1) {
    const where = at.length > 1 ? doc.steps[at[1]!]!.source : doc.steps[0]?.source;
    throw new ScenarioError([
      {
        file: doc.file,
        line: where?.line ?? 1,
        column: where?.column ?? 1,
        path: where?.path ?? 'steps',
        message: `hmmsim explore needs exactly one "threads" step at the top level of "steps" (found ${at.length})`,
      },
    ]);
  }
  const i = at[0]!;
  const before = doc.steps.slice(0, i);
  const threadsStep = doc.steps[i] as Extract<Step, { op: 'threads' }>;
  const after = doc.steps.slice(i + 1);
  const threads: Record<string, (state: ScenarioState) => Promise<void>> = {};
  for (const [name, steps] of Object.entries(threadsStep.threads)) {
    threads[name] = (state) => runSteps(state, steps, name);
  }
  return {
    name: doc.name,
    ...(doc.description === undefined ? {} : { description: doc.description }),
    machine: machineOptions(doc),
    async setup(machine) {
      const state = new ScenarioState(doc, machine);
      await setupScenario(state);
      await runSteps(state, before, null);
      return state;
    },
    threads,
    async check(state) {
      await runSteps(state, after, null);
    },
  };
}

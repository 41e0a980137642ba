/**
 * What a scenario module must export to be explored (`hmmsim explore file.ts`, or a module the
 * page's Race mode loads by URL): its default export, or an export named `scenario`, shaped as a
 * {@link Scenario}. Node-free: the CLI imports the module from a file, the page's workers from a
 * URL, and both check what it exports here, with the same messages.
 * @module
 */
import type { Scenario } from '../explore/types.ts';
import { ScenarioError } from './json-file/issues.ts';

/** Throws the invalid-input error of file or module `display` (exit code 3 in the CLI), at its start. */
export function invalidFile(display: string, message: string): never {
  throw new ScenarioError([{ file: display, line: 1, column: 1, path: '', message }]);
}

/** The scenario module `mod` (the namespace of module `display`) exports, checked. */
export function exportedScenario(mod: Record<string, unknown>, display: string): Scenario<unknown> {
  const s = (mod.default ?? mod.scenario) as Partial<Scenario<unknown>> | undefined;
  if (s === undefined)
    invalidFile(display, 'the module exports no scenario (export default, or export const scenario)');
  if (typeof s !== 'object' || s === null) invalidFile(display, 'the exported scenario is not an object');
  if (typeof s.name !== 'string' || s.name === '') invalidFile(display, 'the exported scenario has no name');
  if (typeof s.setup !== 'function') invalidFile(display, 'the exported scenario has no setup(machine, env)');
  if (typeof s.threads !== 'object' || s.threads === null || Object.keys(s.threads).length === 0)
    invalidFile(display, 'the exported scenario has no threads');
  return s as Scenario<unknown>;
}

/** The message of a module that failed to load (or to evaluate). */
export function moduleLoadFailed(display: string, e: unknown): never {
  invalidFile(display, `the module failed to load: ${e instanceof Error ? e.message : String(e)}`);
}

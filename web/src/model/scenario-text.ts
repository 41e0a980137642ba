/**
 * Scenario text to a checked document, as `hmmsim run` reads it: the CLI's own parser and
 * validator. Kept apart from the other jobs so that the page's worker starts with only
 * what a first recording needs (replays, exploration and re-runs load when first asked for).
 * @module
 */
import type { ScenarioDoc } from '../../../src/cli/scenario/types.ts';
import {
  formatIssue,
  loadScenario,
  ScenarioError,
  type ScenarioIssue,
} from '../../../src/cli/scenario/validate.ts';

/** A scenario's text could not be used: the CLI's own issues, with line and column. */
export interface Invalid {
  readonly kind: 'invalid';
  readonly issues: readonly ScenarioIssue[];
  /** The issues as `hmmsim run` prints them. */
  readonly messages: readonly string[];
}

/** Parses and validates scenario text like `hmmsim run` does. */
export function parseScenario(text: string, file: string): ScenarioDoc | Invalid {
  try {
    return loadScenario(text, file);
  } catch (e) {
    if (e instanceof ScenarioError) return invalidOf(e);
    throw e;
  }
}

/** A scenario error's issues, with the lines `hmmsim` prints for them. */
export function invalidOf(e: ScenarioError): Invalid {
  return { kind: 'invalid', issues: e.issues, messages: e.issues.map(formatIssue) };
}

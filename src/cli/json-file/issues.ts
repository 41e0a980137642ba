/**
 * Problems found in a JSON input file (a scenario or a workload), each at a line, column and field
 * path, and the error that lists them all.
 * @module
 */

/** One problem found in an input file. */
export interface ScenarioIssue {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Field path (`steps[3].op`), empty for the document itself or a syntax error. */
  readonly path: string;
  readonly message: string;
}

/** `file:line:column: path: message`. */
export function formatIssue(i: ScenarioIssue): string {
  return `${i.file}:${i.line}:${i.column}: ${i.path === '' ? '' : `${i.path}: `}${i.message}`;
}

/** An input file that is not valid; `issues` lists every problem found. */
export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
  readonly issues: readonly ScenarioIssue[];
  constructor(issues: readonly ScenarioIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.issues = issues;
  }
}

/** Most problems reported for one file: the rest are usually consequences of the first ones. */
export const MAX_ISSUES = 20;

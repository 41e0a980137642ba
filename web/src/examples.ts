/**
 * The example scenarios (examples/scenarios/*.json) and workloads (examples/workloads/*.json),
 * bundled as text so the page and its workers offer exactly the files `hmmsim run` and
 * `hmmsim workload` take.
 * @module
 */

/** File name without .json → text, sorted by name. */
function byName(raw: Record<string, string>): ReadonlyMap<string, string> {
  return new Map(
    Object.entries(raw)
      .map(([p, text]) => [p.replace(/^.*\//, '').replace(/\.json$/, ''), text] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

/** Example scenario name → its text. */
export const EXAMPLES: ReadonlyMap<string, string> = byName(
  import.meta.glob('../../examples/scenarios/*.json', { query: '?raw', import: 'default', eager: true }),
);

/** Example workload name → its text. */
export const WORKLOADS: ReadonlyMap<string, string> = byName(
  import.meta.glob('../../examples/workloads/*.json', { query: '?raw', import: 'default', eager: true }),
);

/**
 * The example scenarios (examples/scenarios/*.json), bundled as text so the page and its worker
 * offer exactly the files `hmmsim run` takes.
 * @module
 */
const raw = import.meta.glob('../../examples/scenarios/*.json', {
  query: '?raw',
  import: 'default',
  eager: true,
}) as Record<string, string>;

/** Example name (file name without .json) → its text, sorted by name. */
export const EXAMPLES: ReadonlyMap<string, string> = new Map(
  Object.entries(raw)
    .map(([p, text]) => [p.replace(/^.*\//, '').replace(/\.json$/, ''), text] as const)
    .sort(([a], [b]) => a.localeCompare(b)),
);

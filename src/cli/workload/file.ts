/**
 * The JSON workload file: parsed with momoa (which keeps every value's line and column),
 * validated with a valibot schema (whose inferred type is the file's type), and turned into the
 * core's {@link WorkloadSpec}. Every problem is reported as `file:line:column: field.path:
 * message`, with "did you mean" for mistyped names, like scenario files (exit 3). The format is
 * described in docs/workload.md.
 * @module
 */
import * as v from 'valibot';
import { findGenerator, GENERATORS } from '../../workload/generators/generators.ts';
import {
  PLATFORM_NAMES,
  POLICY_NAMES,
  type Step,
  settableKeys,
  type WorkloadSpec,
} from '../../workload/index.ts';
import { parseSize } from '../../workload/units.ts';
import { ScenarioError, type ScenarioIssue } from '../json-file/issues.ts';
import { parseJsonFile } from '../json-file/parse.ts';
import { checkFile, dottedPath, type FieldPath, issueAt, keyAt, nodeAt, obj } from '../json-file/schema.ts';
import { suggest } from '../suggest.ts';

/** "unknown field" with a suggestion, the workload file's way of saying it. */
const unknownField = (key: string, known: readonly string[]): string => {
  const s = suggest(key, known);
  return `unknown field "${key}"${s ? ` (did you mean "${s}"?)` : ''}`;
};
const record = <E extends v.ObjectEntries>(what: string, entries: E) =>
  obj(what, entries, { unknown: unknownField });

const size = v.union([
  v.pipe(v.number(), v.integer(), v.minValue(1)),
  v.pipe(
    v.string(),
    v.check(
      (s) => Number.isFinite(parseSize(s)) && parseSize(s) > 0,
      'expected a size such as 4096, "64KiB", "12MiB" or "4GiB"',
    ),
  ),
]);

const allocation = record('an allocation', {
  name: v.pipe(v.string(), v.minLength(1)),
  size,
  init: v.optional(v.picklist(['cpu', 'none'])),
  initThreads: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
  preferredLocation: v.optional(v.picklist(['gpu', 'cpu'])),
  accessedBy: v.optional(
    v.picklist(
      ['gpu'],
      'expected "gpu" (cudaMemAdviseSetAccessedBy of the GPU; the CPU cannot map GPU memory over PCIe, so accessedBy "cpu" is not modelled)',
    ),
  ),
  readMostly: v.optional(v.boolean('expected true or false (cudaMemAdviseSetReadMostly: read duplication)')),
});

const kernelStep = record('a kernel step', {
  kernel: v.pipe(v.string(), v.minLength(1)),
  gen: v.string(),
  arrays: v.array(v.string()),
  args: v.optional(v.record(v.string(), v.number())),
});
const cpuStep = record('a CPU step', {
  cpu: v.picklist(['read', 'write']),
  array: v.string(),
  threads: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
});
const prefetchStep = record('a prefetch step', { prefetch: v.string(), to: v.optional(v.literal('gpu')) });

type FileStep =
  | v.InferOutput<typeof kernelStep>
  | v.InferOutput<typeof cpuStep>
  | v.InferOutput<typeof prefetchStep>
  | { repeat: number; steps: FileStep[] };

const repeatStep: v.GenericSchema<unknown, Extract<FileStep, { repeat: number }>> = record('a repeat step', {
  repeat: v.pipe(v.number(), v.integer(), v.minValue(1)),
  steps: v.array(v.lazy(() => step)),
});

const STEP_KINDS = { kernel: kernelStep, cpu: cpuStep, prefetch: prefetchStep, repeat: repeatStep };

/** A step is told by the key that names its kind; its other fields are then checked as that kind's. */
const step: v.GenericSchema<unknown, FileStep> = v.lazy((input) => {
  const kind =
    typeof input === 'object' && input !== null
      ? Object.keys(STEP_KINDS).find((k) => Object.hasOwn(input, k))
      : undefined;
  return kind !== undefined
    ? STEP_KINDS[kind as keyof typeof STEP_KINDS]
    : v.never(
        'a step is one of {kernel, gen, arrays, args}, {cpu, array, threads}, {prefetch, to} or {repeat, steps}',
      );
});

/** The schema of a workload file. */
export const WORKLOAD_FILE = record('a workload', {
  $schema: v.optional(v.string()),
  name: v.pipe(v.string(), v.minLength(1)),
  description: v.optional(v.string()),
  platform: v.optional(v.string()),
  policy: v.optional(v.string()),
  set: v.optional(v.record(v.string(), v.union([v.number(), v.string()]))),
  oversub: v.optional(v.pipe(v.number(), v.gtValue(0))),
  oversubMode: v.optional(v.picklist(['shrink', 'reserve'])),
  seed: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  allocations: v.pipe(v.array(allocation), v.minLength(1)),
  steps: v.array(step),
});

/** A workload file as written. */
export type WorkloadFile = v.InferOutput<typeof WORKLOAD_FILE>;

/** Parses and validates a workload file; throws a {@link ScenarioError} listing every problem. */
export function loadWorkloadFile(text: string, file: string): WorkloadSpec {
  const json = parseJsonFile(text, file, 'invalid JSON');
  const r = checkFile(WORKLOAD_FILE, json, file, dottedPath);
  if (!r.ok) throw new ScenarioError(r.issues);
  const issues: ScenarioIssue[] = [];
  const at = (path: FieldPath, message: string, node = nodeAt(json.doc, path)): void => {
    issues.push(issueAt(file, node, dottedPath(path), message));
  };
  const f = r.output;
  // Names the schema cannot know: platform, policy, parameters, generators, allocations.
  const checkName = (
    path: (string | number)[],
    value: string,
    known: readonly string[],
    what: string,
  ): void => {
    if (known.includes(value)) return;
    const s = suggest(value, known);
    at(path, `unknown ${what} "${value}"${s ? ` (did you mean "${s}"?)` : ` (known: ${known.join(', ')})`}`);
  };
  if (f.platform !== undefined) checkName(['platform'], f.platform, PLATFORM_NAMES, 'platform');
  if (f.policy !== undefined) checkName(['policy'], f.policy, POLICY_NAMES, 'policy');
  const keys = settableKeys();
  for (const k of Object.keys(f.set ?? {})) {
    if (!keys.includes(k)) {
      const s = suggest(k, keys);
      at(
        ['set', k],
        `unknown parameter "${k}"${s ? ` (did you mean "${s}"?)` : ''}`,
        keyAt(json.doc, ['set'], k),
      );
    }
  }
  const names = new Set<string>();
  f.allocations.forEach((a, i) => {
    if (names.has(a.name)) at(['allocations', i, 'name'], `allocation "${a.name}" is declared twice`);
    names.add(a.name);
  });
  const known = [...names];
  const checkSteps = (steps: readonly FileStep[], path: (string | number)[]): void => {
    steps.forEach((s, i) => {
      const p = [...path, i];
      if ('repeat' in s) checkSteps(s.steps, [...p, 'steps']);
      else if ('kernel' in s) {
        const g = findGenerator(s.gen);
        if (!g) {
          checkName(
            [...p, 'gen'],
            s.gen,
            GENERATORS.map((x) => x.name),
            'generator',
          );
          return;
        }
        if (s.arrays.length !== g.arrays.length) {
          at(
            [...p, 'arrays'],
            `generator ${g.name} takes ${g.arrays.length} arrays (${g.arrays.join(', ')}), got ${s.arrays.length}`,
          );
        }
        for (const [j, a] of s.arrays.entries()) checkName([...p, 'arrays', j], a, known, 'allocation');
        for (const k of Object.keys(s.args ?? {})) {
          if (!(k in g.args)) {
            const sg = suggest(k, Object.keys(g.args));
            at(
              [...p, 'args', k],
              `generator ${g.name} has no argument "${k}"${sg ? ` (did you mean "${sg}"?)` : ` (it has ${Object.keys(g.args).join(', ')})`}`,
              keyAt(json.doc, [...p, 'args'], k),
            );
          }
        }
      } else if ('cpu' in s) checkName([...p, 'array'], s.array, known, 'allocation');
      else checkName([...p, 'prefetch'], s.prefetch, known, 'allocation');
    });
  };
  checkSteps(f.steps, ['steps']);
  if (issues.length > 0) throw new ScenarioError(issues);
  const toStep = (s: FileStep): Step => {
    if ('repeat' in s) return { repeat: s.repeat, steps: s.steps.map(toStep) };
    if ('kernel' in s) return { kernel: s.kernel, gen: s.gen, arrays: s.arrays, args: s.args ?? {} };
    if ('cpu' in s) return { cpu: s.cpu, array: s.array, threads: s.threads ?? 1 };
    return { prefetch: s.prefetch, to: 'gpu' };
  };
  return {
    name: f.name,
    ...(f.description !== undefined ? { description: f.description } : {}),
    ...(f.platform !== undefined ? { platform: f.platform } : {}),
    ...(f.policy !== undefined ? { policy: f.policy } : {}),
    ...(f.set !== undefined ? { set: f.set } : {}),
    ...(f.oversub !== undefined ? { oversub: f.oversub } : {}),
    ...(f.oversubMode !== undefined ? { oversubMode: f.oversubMode } : {}),
    ...(f.seed !== undefined ? { seed: f.seed } : {}),
    allocations: f.allocations.map((a) => ({
      name: a.name,
      size: typeof a.size === 'number' ? a.size : parseSize(a.size),
      init: a.init ?? 'cpu',
      ...(a.initThreads !== undefined ? { initThreads: a.initThreads } : {}),
      ...(a.preferredLocation !== undefined ? { preferredLocation: a.preferredLocation } : {}),
      ...(a.accessedBy !== undefined ? { accessedBy: a.accessedBy } : {}),
      ...(a.readMostly === true ? { readMostly: true } : {}),
    })),
    steps: f.steps.map(toStep),
  };
}

/**
 * The JSON workload file: parsed with momoa (which keeps every value's line and column),
 * validated with a valibot schema (whose inferred type is the file's type), and turned into the
 * core's {@link WorkloadSpec}. Every problem is reported as `file:line:column: field.path:
 * message`, with "did you mean" for mistyped names, like scenario files (exit 3). The format is
 * described in docs/workload.md.
 * @module
 */
import { type AnyNode, type DocumentNode, type MemberNode, parse as parseJson } from '@humanwhocodes/momoa';
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
import { ScenarioError, type ScenarioIssue } from '../scenario/validate.ts';
import { suggest } from '../suggest.ts';

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

const allocation = v.strictObject({
  name: v.pipe(v.string(), v.minLength(1)),
  size,
  init: v.optional(v.picklist(['cpu', 'none'])),
  initThreads: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
  preferredLocation: v.optional(v.picklist(['gpu', 'cpu'])),
});

const kernelStep = v.strictObject({
  kernel: v.pipe(v.string(), v.minLength(1)),
  gen: v.string(),
  arrays: v.array(v.string()),
  args: v.optional(v.record(v.string(), v.number())),
});
const cpuStep = v.strictObject({
  cpu: v.picklist(['read', 'write']),
  array: v.string(),
  threads: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
});
const prefetchStep = v.strictObject({ prefetch: v.string(), to: v.optional(v.literal('gpu')) });

type FileStep =
  | v.InferOutput<typeof kernelStep>
  | v.InferOutput<typeof cpuStep>
  | v.InferOutput<typeof prefetchStep>
  | { repeat: number; steps: FileStep[] };

const step: v.GenericSchema<FileStep> = v.lazy(() =>
  v.union([
    kernelStep,
    cpuStep,
    prefetchStep,
    v.strictObject({ repeat: v.pipe(v.number(), v.integer(), v.minValue(1)), steps: v.array(step) }),
  ]),
);

/** The schema of a workload file. */
export const WORKLOAD_FILE = v.strictObject({
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

const STEP_KEYS: Record<string, readonly string[]> = {
  kernel: ['kernel', 'gen', 'arrays', 'args'],
  cpu: ['cpu', 'array', 'threads'],
  prefetch: ['prefetch', 'to'],
  repeat: ['repeat', 'steps'],
};
const TOP_KEYS = [
  '$schema',
  'name',
  'description',
  'platform',
  'policy',
  'set',
  'oversub',
  'oversubMode',
  'seed',
  'allocations',
  'steps',
];
const ALLOC_KEYS = ['name', 'size', 'init', 'initThreads', 'preferredLocation'];

/** The node at `path` in the document, or the deepest existing one. */
function nodeAt(doc: DocumentNode, path: readonly (string | number)[]): AnyNode {
  let n: AnyNode = doc.body;
  for (const k of path) {
    if (n.type === 'Object') {
      const m: MemberNode | undefined = n.members.find(
        (mm) => mm.name.type === 'String' && mm.name.value === k,
      );
      if (!m) return n;
      n = m.value;
    } else if (n.type === 'Array' && typeof k === 'number' && n.elements[k]) {
      n = n.elements[k]!.value;
    } else return n;
  }
  return n;
}

/** The key node of member `key` at `path` (for unknown-key messages). */
function keyAt(doc: DocumentNode, path: readonly (string | number)[], key: string): AnyNode {
  const n = nodeAt(doc, path);
  if (n.type === 'Object') {
    const m = n.members.find((mm) => mm.name.type === 'String' && mm.name.value === key);
    if (m) return m.name;
  }
  return n;
}

const dotted = (path: readonly (string | number)[]): string => path.map(String).join('.');

/** Which keys are allowed for the object at `path` (for "did you mean"). */
function knownKeys(raw: unknown, path: readonly (string | number)[]): readonly string[] {
  if (path.length === 0) return TOP_KEYS;
  if (path[0] === 'allocations' && path.length === 2) return ALLOC_KEYS;
  if (path[0] === 'steps' || path.includes('steps')) {
    let o: unknown = raw;
    for (const k of path) o = (o as Record<string | number, unknown>)?.[k];
    if (o && typeof o === 'object') {
      for (const [kind, keys] of Object.entries(STEP_KEYS)) if (kind in o) return keys;
    }
    return Object.values(STEP_KEYS).flat();
  }
  return [];
}

/** Parses and validates a workload file; throws a {@link ScenarioError} listing every problem. */
export function loadWorkloadFile(text: string, file: string): WorkloadSpec {
  let doc: DocumentNode;
  try {
    doc = parseJson(text, { mode: 'json' });
  } catch (e) {
    const err = e as Error & { line?: number; column?: number };
    throw new ScenarioError([
      {
        file,
        line: err.line ?? 1,
        column: err.column ?? 1,
        path: '',
        message: `invalid JSON: ${err.message.replace(/ \(\d+:\d+\)$/, '')}`,
      },
    ]);
  }
  const raw = JSON.parse(text) as unknown;
  const issues: ScenarioIssue[] = [];
  const at = (path: readonly (string | number)[], message: string, node?: AnyNode): void => {
    const n = node ?? nodeAt(doc, path);
    issues.push({ file, line: n.loc.start.line, column: n.loc.start.column, path: dotted(path), message });
  };
  const r = v.safeParse(WORKLOAD_FILE, raw);
  if (!r.success) {
    for (const i of r.issues.slice(0, 20)) {
      const path = (i.path ?? []).map((p) => p.key as string | number);
      if (i.type === 'strict_object' && i.expected === 'never') {
        const key = String(path[path.length - 1]);
        const parent = path.slice(0, -1);
        const s = suggest(key, knownKeys(raw, parent));
        at(path, `unknown field "${key}"${s ? ` (did you mean "${s}"?)` : ''}`, keyAt(doc, parent, key));
      } else if (i.type === 'union' && path.length >= 2 && path.includes('steps')) {
        at(
          path,
          'a step is one of {kernel, gen, arrays, args}, {cpu, array, threads}, {prefetch, to} or {repeat, steps}',
        );
      } else {
        at(path, i.message);
      }
    }
    throw new ScenarioError(issues);
  }
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
      at(['set', k], `unknown parameter "${k}"${s ? ` (did you mean "${s}"?)` : ''}`, keyAt(doc, ['set'], k));
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
              keyAt(doc, [...p, 'args'], k),
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
    })),
    steps: f.steps.map(toStep),
  };
}

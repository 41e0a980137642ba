/**
 * Validates a scenario: its JSON syntax, its shape against `schema.ts`, and its names (every
 * process, mapping, device and open file used is defined before use; ranges lie inside their
 * mappings). Every problem is reported as `file:line:column: field.path: what is wrong`.
 * Node-free: it takes the file's text and name.
 * @module
 */
import { PAGE_SIZE } from '../../mm/constants.ts';
import { DEFAULT_MEMORY, MAX_SWAP } from '../../mm/kernel.ts';
import { MAX_MEMORY, MIN_MEMORY, maxHugetlbPages } from '../../mm/physmem.ts';
import { suggest } from '../suggest.ts';
import { type JsonNode, JsonSyntaxError, parseJsonWithPositions, toValue } from './json-with-positions.ts';
import { patternPages } from './patterns.ts';
import { type ObjectSchema, PROT_BYTE_NAMES, parseSize, SCENARIO, type Schema, STEP } from './schema.ts';
import type { Expect, MmapFields, PatternSpec, ProtSpec, ScenarioDoc, SourceRef, Step } from './types.ts';

/** One problem found in a scenario file. */
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

/** A scenario file that is not valid; `issues` lists every problem found. */
export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
  readonly issues: readonly ScenarioIssue[];
  constructor(issues: readonly ScenarioIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.issues = issues;
  }
}

const MAX_ISSUES = 20;

/**
 * Parses and validates the text of a scenario file. Returns the scenario, or throws a
 * {@link ScenarioError} listing every problem (at most 20).
 */
export function loadScenario(text: string, file: string): ScenarioDoc {
  let root: JsonNode;
  try {
    root = parseJsonWithPositions(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) {
      throw new ScenarioError([
        { file, line: e.pos.line, column: e.pos.column, path: '', message: `JSON syntax error: ${e.detail}` },
      ]);
    }
    throw e;
  }
  const v = new Validator(file);
  v.check(root, SCENARIO, '');
  if (v.issues.length === 0) {
    const doc = build(root, file);
    new NameChecker(v, root).run(doc);
    if (v.issues.length === 0) return doc;
  }
  throw new ScenarioError(v.issues.slice(0, MAX_ISSUES));
}

const join = (path: string, key: string): string =>
  path === '' ? key : /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;

function show(node: JsonNode): string {
  switch (node.kind) {
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    case 'null':
      return 'null';
    case 'string':
      return JSON.stringify(node.value);
    default:
      return String(node.value);
  }
}

function kindOf(schema: Schema): JsonNode['kind'] | 'integer' {
  switch (schema.type) {
    case 'string':
      return 'string';
    case 'integer':
      return 'integer';
    case 'boolean':
      return 'boolean';
    case 'array':
      return 'array';
    default:
      return 'object';
  }
}

function expected(schema: Schema): string {
  switch (schema.type) {
    case 'string':
      return schema.enum
        ? `a ${schema.noun ?? 'string'} (${schema.enum.join(', ')})`
        : `a string (${schema.description})`;
    case 'integer': {
      const { minimum: lo, maximum: hi } = schema;
      const bound =
        lo !== undefined && hi !== undefined
          ? ` from ${lo} to ${hi}`
          : lo !== undefined
            ? lo === 0
              ? ' ≥ 0'
              : ` ≥ ${lo}`
            : hi !== undefined
              ? ` ≤ ${hi}`
              : '';
      return `an integer${bound} (${schema.description})`;
    }
    case 'boolean':
      return 'true or false';
    case 'array':
      return `an array (${schema.description})`;
    case 'oneOf':
      return schema.description;
    case 'ref':
      return 'a step';
    default:
      return `an object (${schema.description})`;
  }
}

class Validator {
  readonly issues: ScenarioIssue[] = [];
  constructor(readonly file: string) {}

  report(node: { pos: { line: number; column: number } }, path: string, message: string): undefined {
    this.issues.push({ file: this.file, line: node.pos.line, column: node.pos.column, path, message });
    return undefined;
  }

  check(node: JsonNode, schema: Schema, path: string): undefined {
    if (this.issues.length >= MAX_ISSUES) return;
    switch (schema.type) {
      case 'ref':
        return this.check(node, STEP, path);
      case 'oneOf': {
        const want = node.kind === 'number' && Number.isInteger(node.value) ? 'integer' : node.kind;
        const variant = schema.variants.find((s) => kindOf(s) === want);
        if (variant === undefined) {
          return this.report(node, path, `expected ${schema.description}, got ${show(node)}`);
        }
        return this.check(node, variant, path);
      }
      case 'string': {
        if (node.kind !== 'string')
          return this.report(node, path, `expected ${expected(schema)}, got ${show(node)}`);
        if (schema.enum && !schema.enum.includes(node.value)) {
          const s = suggest(node.value, schema.enum);
          return this.report(
            node,
            path,
            `unknown ${schema.noun ?? 'value'} ${JSON.stringify(node.value)} (${s ? `did you mean "${s}"? ` : ''}expected one of ${schema.enum.join(', ')})`,
          );
        }
        const problem = schema.check?.(node.value);
        if (problem !== undefined) this.report(node, path, problem);
        return;
      }
      case 'integer': {
        if (node.kind !== 'number' || !Number.isInteger(node.value)) {
          return this.report(node, path, `expected ${expected(schema)}, got ${show(node)}`);
        }
        if (
          (schema.minimum !== undefined && node.value < schema.minimum) ||
          (schema.maximum !== undefined && node.value > schema.maximum)
        ) {
          return this.report(node, path, `expected ${expected(schema)}, got ${node.value}`);
        }
        return;
      }
      case 'boolean':
        if (node.kind !== 'boolean') this.report(node, path, `expected true or false, got ${show(node)}`);
        return;
      case 'array': {
        if (node.kind !== 'array')
          return this.report(node, path, `expected ${expected(schema)}, got ${show(node)}`);
        if (schema.minItems !== undefined && node.items.length < schema.minItems) {
          return this.report(node, path, `expected at least ${schema.minItems} element(s), got none`);
        }
        node.items.forEach((item, i) => {
          this.check(item, schema.items, `${path}[${i}]`);
        });
        return;
      }
      case 'tagged': {
        if (node.kind !== 'object')
          return this.report(node, path, `expected ${expected(schema)}, got ${show(node)}`);
        const tags = Object.keys(schema.variants);
        const tag = node.properties.find((p) => p.key === schema.tag);
        if (tag === undefined) {
          return this.report(
            node,
            path,
            `missing "${schema.tag}" (the ${schema.noun}: one of ${tags.join(', ')})`,
          );
        }
        const tagPath = join(path, schema.tag);
        if (tag.value.kind !== 'string') {
          return this.report(
            tag.value,
            tagPath,
            `expected the ${schema.noun} as a string, got ${show(tag.value)}`,
          );
        }
        const variant = schema.variants[tag.value.value];
        if (variant === undefined || !Object.hasOwn(schema.variants, tag.value.value)) {
          const s = suggest(tag.value.value, tags);
          return this.report(
            tag.value,
            tagPath,
            `unknown ${schema.noun} ${JSON.stringify(tag.value.value)} (${s ? `did you mean "${s}"? ` : ''}expected one of ${tags.join(', ')})`,
          );
        }
        return this.object(node, variant, path, schema.tag, `${tag.value.value} step`);
      }
      case 'object':
        if (node.kind !== 'object')
          return this.report(node, path, `expected ${expected(schema)}, got ${show(node)}`);
        return this.object(node, schema, path, undefined, schema.description);
    }
  }

  private object(
    node: JsonNode & { kind: 'object' },
    schema: ObjectSchema,
    path: string,
    tag: string | undefined,
    what: string,
  ): undefined {
    const known = Object.keys(schema.properties);
    for (const p of node.properties) {
      if (p.key === tag) continue;
      const sub = Object.hasOwn(schema.properties, p.key) ? schema.properties[p.key] : schema.additional;
      if (sub === undefined) {
        const s = suggest(p.key, known);
        this.issues.push({
          file: this.file,
          line: p.keyPos.line,
          column: p.keyPos.column,
          path: join(path, p.key),
          message: `unknown property in ${what} (${s ? `did you mean "${s}"?` : `expected one of ${known.join(', ')}`})`,
        });
        continue;
      }
      this.check(p.value, sub, join(path, p.key));
    }
    const has = (k: string): boolean => node.properties.some((p) => p.key === k);
    for (const r of schema.required ?? []) {
      if (!has(r)) this.report(node, path, `missing required property "${r}" in ${what}`);
    }
    for (const group of schema.atMostOne ?? []) {
      const given = group.filter(has);
      if (given.length > 1)
        this.report(node, path, `give only one of ${given.map((g) => `"${g}"`).join(', ')}`);
    }
    for (const group of schema.exactlyOne ?? []) {
      const given = group.filter(has);
      if (given.length !== 1) {
        this.report(
          node,
          path,
          given.length === 0
            ? `${what} needs one of ${group.map((g) => `"${g}"`).join(', ')}`
            : `give only one of ${given.map((g) => `"${g}"`).join(', ')}`,
        );
      }
    }
  }
}

/** Converts a schema-valid document into a {@link ScenarioDoc}, recording where each step is. */
function build(root: JsonNode, file: string): ScenarioDoc {
  const raw = toValue(root) as Record<string, unknown>;
  const ref = (node: JsonNode, path: string): SourceRef => ({
    path,
    line: node.pos.line,
    column: node.pos.column,
  });
  const steps = (node: JsonNode | undefined, path: string): Step[] => {
    if (node === undefined || node.kind !== 'array') return [];
    return node.items.map((item, i) => {
      const p = `${path}[${i}]`;
      const value = toValue(item) as Record<string, unknown>;
      if (value.op === 'threads') {
        const threadsNode = prop(item, 'threads')!;
        const threads: Record<string, Step[]> = {};
        if (threadsNode.kind === 'object') {
          for (const t of threadsNode.properties)
            threads[t.key] = steps(
              t.value,
              `${p}.threads${/^[A-Za-z_$][\w$]*$/.test(t.key) ? `.${t.key}` : `[${JSON.stringify(t.key)}]`}`,
            );
        }
        value.threads = threads;
      }
      return { ...value, source: ref(item, p) } as unknown as Step;
    });
  };
  const mappingsNode = prop(root, 'mappings');
  const mappings =
    mappingsNode?.kind === 'array'
      ? mappingsNode.items.map((m, i) => ({
          ...(toValue(m) as unknown as MmapFields),
          source: ref(m, `mappings[${i}]`),
        }))
      : [];
  const fileBase = file.replace(/^.*[\\/]/, '').replace(/\.json$/, '');
  return {
    name: (raw.name as string | undefined) ?? fileBase,
    ...(raw.description === undefined ? {} : { description: raw.description as string }),
    machine: (raw.machine as ScenarioDoc['machine'] | undefined) ?? {},
    devices: (raw.devices as ScenarioDoc['devices'] | undefined) ?? [],
    processes: (raw.processes as string[] | undefined) ?? ['process'],
    mappings,
    steps: steps(prop(root, 'steps'), 'steps'),
    ...(raw.explore === undefined ? {} : { explore: raw.explore as ScenarioDoc['explore'] }),
    file,
  };
}

function prop(node: JsonNode, key: string): JsonNode | undefined {
  return node.kind === 'object' ? node.properties.find((p) => p.key === key)?.value : undefined;
}

/** Follows a field path (`steps[3].threads.reader[0].mapping`) from the root to a node. */
function nodeAt(root: JsonNode, path: string): JsonNode {
  let node = root;
  for (const m of path.matchAll(/([A-Za-z_$][\w$]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]/g)) {
    const next =
      m[2] !== undefined
        ? node.kind === 'array'
          ? node.items[Number(m[2])]
          : undefined
        : prop(node, m[1] ?? JSON.parse(`"${m[3]}"`));
    if (next === undefined) return node;
    node = next;
  }
  return node;
}

/** Pages of an mmap's length. */
export function mappingPages(m: MmapFields): number {
  return m.pages ?? Math.ceil(parseSize(m.size!) / PAGE_SIZE);
}

/** Total pages an expected snapshot lists. */
export function protSpecPages(prot: readonly ProtSpec[]): number {
  return prot.reduce<number>((n, p) => n + (typeof p === 'object' ? p.pages : 1), 0);
}

/** The byte a snapshot name list stands for (`"ZERO|READ"` → 0x11). */
export function protByte(v: number | string): number {
  if (typeof v === 'number') return v;
  return v.split('|').reduce((b, part) => b | PROT_BYTE_NAMES[part.trim()]!, 0);
}

/** Static checks of names and ranges, in step order (threads see what was defined before them). */
class NameChecker {
  private readonly processes = new Set<string>();
  private readonly devices = new Map<string, 'private' | 'coherent'>();
  private readonly mappings = new Map<string, number>();
  private readonly files = new Set<string>();
  constructor(
    private readonly v: Validator,
    private readonly root: JsonNode,
  ) {}

  private fail(path: string, message: string): void {
    this.v.report(nodeAt(this.root, path), path, message);
  }

  private known(what: string, name: string, set: Iterable<string>, path: string): boolean {
    const all = [...set];
    if (all.includes(name)) return true;
    const s = suggest(name, all);
    this.fail(
      path,
      `unknown ${what} "${name}" (${s ? `did you mean "${s}"?` : all.length ? `defined so far: ${all.join(', ')}` : `no ${what} is defined before this step`})`,
    );
    return false;
  }

  run(doc: ScenarioDoc): void {
    this.machine(doc);
    doc.processes.forEach((p, i) => {
      if (this.processes.has(p)) this.fail(`processes[${i}]`, `duplicate process "${p}"`);
      this.processes.add(p);
    });
    const count = { private: 0, coherent: 0 };
    doc.devices.forEach((d, i) => {
      const type = d.type ?? 'private';
      if (this.devices.has(d.name)) this.fail(`devices[${i}].name`, `duplicate device "${d.name}"`);
      if (++count[type] > 2)
        this.fail(`devices[${i}]`, `at most 2 ${type} devices (the dmirror module has 4 minors)`);
      this.devices.set(d.name, type);
    });
    doc.mappings.forEach((m, i) => {
      this.mmap(m, `mappings[${i}]`);
    });
    this.steps(doc.steps, false);
  }

  /** The sizes the machine can be built with (the checks of `new Machine`, with positions). */
  private machine(doc: ScenarioDoc): void {
    const m = doc.machine;
    const memory = m.memory === undefined ? DEFAULT_MEMORY : parseSize(m.memory);
    const shown = (v: number | string): string =>
      typeof v === 'string' ? `"${v}" (${parseSize(v)} bytes)` : `${v} bytes`;
    let memoryOk = true;
    if (memory < MIN_MEMORY) {
      this.fail('machine.memory', `${shown(m.memory!)} is less than the smallest machine, 8 MiB`);
      memoryOk = false;
    } else if (memory > MAX_MEMORY) {
      this.fail('machine.memory', `${shown(m.memory!)} is more than the largest machine, 256 GiB`);
      memoryOk = false;
    }
    if (m.swap !== undefined && parseSize(m.swap) > MAX_SWAP) {
      this.fail('machine.swap', `${shown(m.swap)} is more than the largest swap device, 64 GiB`);
    }
    const huge = m.hugetlbPages;
    if (memoryOk && huge !== undefined && huge > maxHugetlbPages(memory)) {
      this.fail(
        'machine.hugetlbPages',
        `${huge} huge pages of 2 MiB do not fit in ${memory} bytes of memory (at most ${maxHugetlbPages(memory)}: two 2 MiB blocks hold the zero pages)`,
      );
    }
  }

  private mmap(m: MmapFields, path: string): void {
    if (m.process !== undefined) this.known('process', m.process, this.processes, `${path}.process`);
    if (this.mappings.has(m.name)) this.fail(`${path}.name`, `duplicate mapping "${m.name}"`);
    if (m.size !== undefined && parseSize(m.size) === 0)
      this.fail(`${path}.size`, 'a mapping needs at least one byte');
    this.mappings.set(m.name, mappingPages(m));
  }

  private range(s: { mapping: string; page?: number; pages?: number }, path: string): number | undefined {
    if (!this.known('mapping', s.mapping, this.mappings.keys(), `${path}.mapping`)) return undefined;
    const total = this.mappings.get(s.mapping)!;
    const page = s.page ?? 0;
    if (page >= total) {
      this.fail(`${path}.page`, `page ${page} is outside mapping "${s.mapping}" (${total} pages)`);
      return undefined;
    }
    const pages = s.pages ?? total - page;
    if (page + pages > total) {
      this.fail(
        `${path}.pages`,
        `pages ${page}..${page + pages - 1} run past the end of mapping "${s.mapping}" (${total} pages)`,
      );
      return undefined;
    }
    return pages;
  }

  private expectations(
    e: Expect | undefined,
    path: string,
    pages: number | undefined,
    allowed: readonly string[],
  ): void {
    if (e === undefined) return;
    for (const key of Object.keys(e)) {
      if (!allowed.includes(key)) {
        this.fail(
          `${path}.expect.${key}`,
          `this step cannot expect "${key}" (it can expect ${allowed.join(', ') || 'nothing'})`,
        );
      }
    }
    if (e.prot !== undefined && pages !== undefined && protSpecPages(e.prot) !== pages) {
      this.fail(`${path}.expect.prot`, `lists ${protSpecPages(e.prot)} pages, the range has ${pages}`);
    }
    if (e.data !== undefined) this.pattern(e.data, `${path}.expect.data`, pages);
  }

  private pattern(p: PatternSpec, path: string, pages: number | undefined): void {
    if (!Array.isArray(p)) return;
    const segs = p as PatternSpec[];
    segs.forEach((seg, i) => {
      if ((seg as { pages?: number }).pages === undefined && i < segs.length - 1) {
        this.fail(`${path}[${i}]`, 'only the last segment may leave out "pages"');
      }
    });
    const total = patternPages(p);
    if (total !== undefined && pages !== undefined && total !== pages) {
      this.fail(path, `the segments cover ${total} pages, the range has ${pages}`);
    }
  }

  private steps(steps: readonly Step[], inThread: boolean): void {
    for (const s of steps) {
      const path = s.source.path;
      if ('process' in s && s.process !== undefined && s.op !== 'mmap') {
        this.known('process', s.process, this.processes, `${path}.process`);
      }
      switch (s.op) {
        case 'mmap':
          this.mmap(s, path);
          this.expectations(s.expect, path, undefined, ['ret']);
          break;
        case 'munmap':
        case 'mprotect':
        case 'madvise':
          this.range(s, path);
          this.expectations(s.expect, path, undefined, ['ret']);
          break;
        case 'write':
          this.pattern(s.pattern, `${path}.pattern`, this.range(s, path));
          this.expectations(s.expect, path, undefined, ['signal']);
          break;
        case 'read':
          this.expectations(s.expect, path, this.range(s, path), ['data', 'signal']);
          break;
        case 'store32':
        case 'load32': {
          const pages = this.range({ mapping: s.mapping, page: s.page ?? 0, pages: 1 }, path);
          void pages;
          this.expectations(s.expect, path, undefined, s.op === 'load32' ? ['value', 'signal'] : ['signal']);
          break;
        }
        case 'fork':
          if (this.processes.has(s.child))
            this.fail(`${path}.child`, `a process "${s.child}" already exists`);
          this.processes.add(s.child);
          this.expectations(s.expect, path, undefined, []);
          break;
        case 'exit':
          this.expectations(s.expect, path, undefined, []);
          break;
        case 'sleep':
          this.expectations(s.expect, path, undefined, []);
          break;
        case 'open':
          this.known('device', s.device, this.devices.keys(), `${path}.device`);
          if (this.files.has(s.file)) this.fail(`${path}.file`, `a file "${s.file}" is already open`);
          this.files.add(s.file);
          this.expectations(s.expect, path, undefined, []);
          break;
        case 'close':
          this.known('file', s.file, this.files, `${path}.file`);
          this.expectations(s.expect, path, undefined, []);
          break;
        case 'release':
        case 'setFlags':
          this.known('file', s.file, this.files, `${path}.file`);
          this.expectations(s.expect, path, undefined, ['ret']);
          break;
        case 'threads': {
          if (inThread) this.fail(path, 'threads cannot be nested');
          const names = Object.keys(s.threads);
          if (names.length === 0) this.fail(`${path}.threads`, 'give at least one thread');
          if (names.includes('main'))
            this.fail(`${path}.threads.main`, '"main" is the host thread; pick another name');
          for (const t of names) this.steps(s.threads[t]!, true);
          if (s.seed !== undefined && s.schedule !== 'random') {
            this.fail(`${path}.seed`, 'a seed needs "schedule": "random"');
          }
          break;
        }
        default: {
          // Device commands over a range.
          this.known('file', s.file, this.files, `${path}.file`);
          const pages = this.range(s, path);
          if (s.op === 'deviceWrite') this.pattern(s.pattern, `${path}.pattern`, pages);
          const allowed: Record<string, string[]> = {
            deviceRead: ['ret', 'cpages', 'faults', 'data'],
            deviceWrite: ['ret', 'cpages', 'faults'],
            migrateToDev: ['ret', 'cpages', 'faults', 'data'],
            migrateToSys: ['ret', 'cpages', 'faults'],
            snapshot: ['ret', 'cpages', 'faults', 'prot'],
            exclusive: ['ret', 'cpages', 'faults', 'data'],
            checkExclusive: ['ret', 'cpages', 'faults'],
          };
          this.expectations(s.expect, path, pages, allowed[s.op]!);
        }
      }
    }
  }
}

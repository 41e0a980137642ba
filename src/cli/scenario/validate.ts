/**
 * Validates a scenario: its JSON syntax, its shape against `schema.ts`, and its names (every
 * process, mapping, device and open file used is defined before use; ranges lie inside their
 * mappings). Every problem is reported as `file:line:column: field.path: what is wrong`.
 * Node-free: it takes the file's text and name.
 * @module
 */
import { PAGE_SIZE, PMD_SIZE, PUD_SIZE } from '../../mm/constants.ts';
import { DEFAULT_MEMORY, MAX_SWAP } from '../../mm/kernel.ts';
import { MAX_MEMORY, MIN_MEMORY, maxGiganticPages, maxHugetlbPages } from '../../mm/physmem.ts';
import { MAX_ISSUES, ScenarioError, type ScenarioIssue } from '../json-file/issues.ts';
import { type JsonFile, parseJsonFile } from '../json-file/parse.ts';
import { bracketPath, checkFile, type FieldPath, issueAt, nodeAt } from '../json-file/schema.ts';
import { suggest } from '../suggest.ts';
import { patternPages } from './patterns.ts';
import { type FileStep, PROT_BYTE_NAMES, parseSize, SCENARIO, type ScenarioFile } from './schema.ts';
import type { Expect, MmapFields, PatternSpec, ProtSpec, ScenarioDoc, SourceRef, Step } from './types.ts';

export { formatIssue, ScenarioError, type ScenarioIssue } from '../json-file/issues.ts';

/**
 * Parses and validates the text of a scenario file. Returns the scenario, or throws a
 * {@link ScenarioError} listing every problem (at most 20).
 */
export function loadScenario(text: string, file: string): ScenarioDoc {
  const json = parseJsonFile(text, file);
  const r = checkFile(SCENARIO, json, file);
  if (!r.ok) throw new ScenarioError(r.issues);
  const doc = build(r.output, json, file);
  const issues: ScenarioIssue[] = [];
  new NameChecker(json, file, issues).run(doc);
  if (issues.length === 0) return doc;
  throw new ScenarioError(issues.slice(0, MAX_ISSUES));
}

/** Adds to a schema-valid file where each step and mapping was written, and the defaults. */
function build(f: ScenarioFile, json: JsonFile, file: string): ScenarioDoc {
  const ref = (path: FieldPath): SourceRef => {
    const node = nodeAt(json.doc, path);
    return { path: bracketPath(path), line: node.loc.start.line, column: node.loc.start.column };
  };
  const steps = (list: readonly FileStep[], path: FieldPath): Step[] =>
    list.map((s, i): Step => {
      const p = [...path, i];
      if (s.op !== 'threads') return { ...s, source: ref(p) };
      const threads: Record<string, readonly Step[]> = {};
      for (const [t, ts] of Object.entries(s.threads)) threads[t] = steps(ts, [...p, 'threads', t]);
      return { ...s, threads, source: ref(p) };
    });
  const fileBase = file.replace(/^.*[\\/]/, '').replace(/\.json$/, '');
  return {
    name: f.name ?? fileBase,
    ...(f.description === undefined ? {} : { description: f.description }),
    machine: f.machine ?? {},
    devices: f.devices ?? [],
    processes: f.processes ?? ['process'],
    mappings: (f.mappings ?? []).map((m, i) => ({ ...m, source: ref(['mappings', i]) })),
    steps: steps(f.steps, ['steps']),
    ...(f.explore === undefined ? {} : { explore: f.explore }),
    file,
  };
}

/** A field path (`steps[3].threads.reader[0].mapping`) as keys and indices. */
function parsePath(path: string): FieldPath {
  const out: (string | number)[] = [];
  for (const m of path.matchAll(/([A-Za-z_$][\w$]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]/g)) {
    out.push(m[2] !== undefined ? Number(m[2]) : (m[1] ?? (JSON.parse(`"${m[3]}"`) as string)));
  }
  return out;
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
    private readonly json: JsonFile,
    private readonly file: string,
    private readonly issues: ScenarioIssue[],
  ) {}

  private fail(path: string, message: string): void {
    this.issues.push(issueAt(this.file, nodeAt(this.json.doc, parsePath(path)), path, message));
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
    // Boot reserves the gigantic pages first; the 2 MiB pool takes what they leave.
    const gigantic = m.giganticPages ?? 0;
    const maxGigantic = maxGiganticPages(memory);
    let giganticOk = true;
    if (memoryOk && gigantic > maxGigantic) {
      this.fail(
        'machine.giganticPages',
        `${gigantic} huge pages of 1 GiB do not fit in ${memory} bytes of memory (at most ${maxGigantic}: each takes a 1 GiB-aligned GiB, and the first holds the zero pages)`,
      );
      giganticOk = false;
    }
    const huge = m.hugetlbPages;
    const maxHuge = Math.max(0, maxHugetlbPages(memory) - gigantic * (PUD_SIZE / PMD_SIZE));
    if (memoryOk && giganticOk && huge !== undefined && huge > maxHuge) {
      const taken = gigantic === 0 ? '' : `, and ${gigantic} pages of 1 GiB take ${gigantic} GiB`;
      this.fail(
        'machine.hugetlbPages',
        `${huge} huge pages of 2 MiB do not fit in ${memory} bytes of memory (at most ${maxHuge}: two 2 MiB blocks hold the zero pages${taken})`,
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
        case 'mremap': {
          this.range(s, path);
          const flags = s.flags ?? [];
          const fixed = flags.includes('fixed');
          if ((fixed || flags.includes('dontunmap')) && !flags.includes('maymove'))
            this.fail(`${path}.flags`, '"fixed" and "dontunmap" need "maymove" (mremap returns -EINVAL)');
          if (fixed && s.to === undefined) this.fail(path, '"fixed" needs "to": the new address');
          if (!fixed && s.to !== undefined)
            this.fail(`${path}.to`, '"to" is the new address of "fixed" only');
          if (s.to !== undefined)
            this.known('mapping', s.to.mapping, this.mappings.keys(), `${path}.to.mapping`);
          if (this.mappings.has(s.name)) this.fail(`${path}.name`, `a mapping "${s.name}" already exists`);
          this.mappings.set(s.name, s.newPages);
          this.expectations(s.expect, path, undefined, ['ret']);
          break;
        }
        case 'fallocate':
          this.range(s, path);
          this.expectations(s.expect, path, undefined, ['ret']);
          break;
        case 'vmas':
          this.range(s, path);
          this.expectations(s.expect, path, undefined, ['vmas']);
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

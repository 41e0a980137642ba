/**
 * The bad-input suite, property: any mutation of a valid scenario (a value replaced by arbitrary
 * JSON, a property deleted or added, a slice of the text cut or doubled) makes `hmmsim run` exit
 * 0, 1 or 3 — never 4, never a stack trace, never a hang.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../../src/cli/io.ts';
import { main } from '../../src/cli/main.ts';
import { baseScenario } from './cases.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function runText(text: string): Promise<{ code: number; all: string }> {
  let all = '';
  const io: CliIo = {
    out: (t) => {
      all += t;
    },
    err: (t) => {
      all += t;
    },
    errIsTTY: false,
    cwd: ROOT,
    now: () => performance.now(),
    readStdin: () => text,
    cores: 1,
  };
  const code = await main(['run', '-'], io);
  return { code, all };
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path to a value of `doc` (object keys and array indices). */
function paths(doc: Json, at: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [at];
  if (Array.isArray(doc)) {
    for (const [i, v] of doc.entries()) out.push(...paths(v, [...at, i]));
  } else if (doc !== null && typeof doc === 'object')
    for (const [k, v] of Object.entries(doc)) out.push(...paths(v, [...at, k]));
  return out;
}

type Mutation =
  | { kind: 'replace'; pick: number; value: Json }
  | { kind: 'delete'; pick: number }
  | { kind: 'add'; pick: number; key: string; value: Json }
  | { kind: 'cut'; from: number; length: number }
  | { kind: 'double'; from: number; length: number };

function apply(source: Json, text: string, m: Mutation): string {
  if (m.kind === 'cut' || m.kind === 'double') {
    const from = m.from % text.length;
    const slice = text.slice(from, from + m.length);
    return text.slice(0, from) + (m.kind === 'double' ? slice + slice : '') + text.slice(from + m.length);
  }
  const doc = structuredClone(source) as Json;
  const all = paths(doc).filter((p) => p.length > 0);
  const p = all[m.pick % all.length]!;
  let parent = doc as Record<string | number, Json>;
  for (const k of p.slice(0, -1)) parent = parent[k] as Record<string | number, Json>;
  const last = p[p.length - 1]!;
  if (m.kind === 'replace') parent[last] = m.value;
  else if (m.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else {
    const target = parent[last];
    if (target !== null && typeof target === 'object' && !Array.isArray(target)) target[m.key] = m.value;
    else parent[last] = { [m.key]: m.value };
  }
  return JSON.stringify(doc);
}

const KEYS = ['op', 'pages', 'page', 'memory', 'expect', 'threads', 'mapping', 'file', 'name', 'size', 'x'];
const value: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    0,
    -1,
    1,
    2 ** 31,
    2 ** 32,
    2 ** 53,
    1e300,
    -1e300,
    0.5,
    '',
    'buffer',
    'mirror',
    '-EFAULT',
    '16 pages',
    '1 GiB',
    true,
    null,
    [],
    {},
  ),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), pick: fc.nat(), value }),
  fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('add' as const), pick: fc.nat(), key: fc.constantFrom(...KEYS), value }),
  fc.record({ kind: fc.constant('cut' as const), from: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({
    kind: fc.constant('double' as const),
    from: fc.nat(),
    length: fc.integer({ min: 1, max: 40 }),
  }),
);

const SOURCES: [string, Json][] = [
  ['the suite scenario', baseScenario() as Json],
  ...['anon_read.json', 'migrate.json', 'fork_device_private.json'].map(
    (f) =>
      [f, JSON.parse(readFileSync(path.join(ROOT, 'examples/scenarios', f), 'utf8')) as Json] as [
        string,
        Json,
      ],
  ),
];

describe('mutated scenarios exit 0, 1 or 3', () => {
  it.each(SOURCES)(
    '%s',
    async (_, source) => {
      const text = JSON.stringify(source, null, 2);
      await fc.assert(
        fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), async (ms) => {
          let t = text;
          for (const m of ms) t = apply(source, t, m);
          const r = await runText(t);
          expect(r.all).not.toMatch(/\n\s+at .+[:(]\d+/);
          expect(r.all).not.toContain('hmmsim: internal error');
          expect([0, 1, 3]).toContain(r.code);
        }),
        { numRuns: 60, seed: 12 },
      );
    },
    120_000,
  );
});

/**
 * The architecture's rules, checked on the source: each layer imports only the layers below it;
 * the simulation core imports nothing from Node, the DOM, the console or timers; and there are
 * no circular runtime imports.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');
/** Layers from the bottom; a file may import its own layer and those before it. */
const LAYERS = [
  'sim',
  'mm',
  'notifier',
  'hmm',
  'devmem',
  'devices',
  'selftest',
  'explore',
  'workload',
  'trace',
  'cli',
];
const CORE = new Set([
  'sim',
  'mm',
  'notifier',
  'hmm',
  'devmem',
  'devices',
  'selftest',
  'explore',
  'workload',
]);

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

const files = sourceFiles(SRC);
const rel = (p: string): string => path.relative(SRC, p);
const layerOf = (relPath: string): number => {
  const top = relPath.split(path.sep)[0]!;
  // machine.ts assembles the kernel and the devices: it sits with the devices. index.ts is the top.
  if (top === 'machine.ts') return LAYERS.indexOf('devices');
  return top.endsWith('.ts') ? LAYERS.length : LAYERS.indexOf(top);
};

const edges: Edge[] = [];
const texts = new Map<string, string>();
for (const f of files) {
  const text = readFileSync(f, 'utf8');
  texts.set(rel(f), text);
  const re = /^(import|export)\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gms;
  for (const m of text.matchAll(re)) {
    const spec = m[3]!;
    if (!spec.startsWith('.')) continue;
    edges.push({ from: rel(f), to: rel(path.resolve(path.dirname(f), spec)), typeOnly: m[2] !== undefined });
  }
}

describe('architecture', () => {
  it('finds the source files and their imports', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(edges.length).toBeGreaterThan(100);
  });

  it('each layer imports only itself and the layers below it', () => {
    const upward = edges.filter((e) => layerOf(e.to) > layerOf(e.from)).map((e) => `${e.from} → ${e.to}`);
    expect(upward).toEqual([]);
  });

  it('the simulation core uses no Node module, console or real timer', () => {
    const bad: string[] = [];
    for (const [file, text] of texts) {
      if (!CORE.has(file.split(path.sep)[0]!)) continue;
      const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
      if (
        /from\s+'node:|require\(|\bconsole\.|\bsetTimeout\(|\bsetInterval\(|\bsetImmediate\(|\bdocument\./.test(
          code,
        )
      ) {
        bad.push(file);
      }
    }
    expect(bad).toEqual([]);
  });

  it('has no circular runtime imports', () => {
    const graph = new Map<string, string[]>();
    for (const e of edges) if (!e.typeOnly) graph.set(e.from, [...(graph.get(e.from) ?? []), e.to]);
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (n: string, trail: string[]): void => {
      if (state.get(n) === 'done') return;
      if (state.get(n) === 'visiting') {
        cycles.push([...trail.slice(trail.indexOf(n)), n].join(' → '));
        return;
      }
      state.set(n, 'visiting');
      for (const m of graph.get(n) ?? []) visit(m, [...trail, n]);
      state.set(n, 'done');
    };
    for (const n of graph.keys()) visit(n, []);
    expect(cycles).toEqual([]);
  });
});

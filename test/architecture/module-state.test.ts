/**
 * No module-level mutable state in the simulation core: two machines in one process (tests, the
 * explorer's schedules, a web page) must not share anything. A source scan: no top-level `let`,
 * and no top-level collection or typed array that the module writes to at run time (statistics
 * live on the kernel, scratch space with its owner, mutant state on the kernel or the mm).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const CORE = [
  'src/sim',
  'src/mm',
  'src/hmm',
  'src/notifier',
  'src/devmem',
  'src/devices',
  'src/trace',
  'src/explore',
  'src/selftest',
  'src/workload',
  'src/machine.ts',
];

/** The .ts files at `path` (a file or a directory, recursively). */
function files(path: string): string[] {
  if (statSync(join(ROOT, path)).isFile()) return path.endsWith('.ts') ? [path] : [];
  return readdirSync(join(ROOT, path)).flatMap((name) => files(join(path, name)));
}

/** The module-level mutable state of one source file: `name (why)`. */
function moduleState(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/^(?:export )?let (\w+)/gm)) found.push(`${m[1]} (top-level let)`);
  const containers = text.matchAll(
    /^(?:export )?const (\w+)(?:: [^=\n]+)? = (?:new (?:Map|WeakMap|Set|WeakSet|Array|(?:Uint|Int|Float)\w*Array)\b|\[\]|\{\})/gm,
  );
  for (const m of containers) {
    const name = m[1]!;
    const writes = new RegExp(
      `\\b${name}\\s*(?:\\.(?:set|add|delete|clear|push|pop|shift|unshift|splice|fill)\\(|\\[[^\\]]+\\]\\s*(?:=[^=]|\\+\\+|--|[-+|&]=)|\\.\\w+\\s*(?:=[^=]|\\+\\+|--|\\+=))`,
    );
    if (writes.test(text)) found.push(`${name} (written at run time)`);
  }
  return found;
}

describe('module-level state', () => {
  it('the scan finds what it must', () => {
    expect(moduleState('let n = 0;\nexport let m = 1;')).toEqual(['n (top-level let)', 'm (top-level let)']);
    expect(
      moduleState('const seen = new WeakMap<object, number>();\nfunction f(o) { seen.set(o, 1); }'),
    ).toEqual(['seen (written at run time)']);
    expect(moduleState('const stats = {};\nfunction f() { stats.calls++; }')).toEqual([
      'stats (written at run time)',
    ]);
    expect(moduleState('const W = new Uint8Array(4);\nfunction f(v) { W[0] = v; }')).toEqual([
      'W (written at run time)',
    ]);
    expect(moduleState("const KNOWN = new Set(['a']);\nconst ok = KNOWN.has('a');")).toEqual([]);
  });

  it('the core has none', () => {
    const found = CORE.flatMap((dir) => files(dir)).flatMap((f) =>
      moduleState(readFileSync(join(ROOT, f), 'utf8')).map((s) => `${f}: ${s}`),
    );
    expect(found).toEqual([]);
  });
});

/**
 * No module imports a barrel that re-exports it: a file inside a directory never imports that
 * directory's `index.ts`, nor the `name.ts` standing beside a `name/` directory it lives in
 * (e.g. `src/selftest/harness/*.ts` and `src/selftest/harness.ts`). Such an import is a cycle
 * through the barrel, as `src/selftest/tap.ts` ↔ `src/selftest/index.ts` once was; the
 * layering test allows type-only cycles, this one does not allow these.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.join(import.meta.dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** The directory a barrel file re-exports, or null when `file` is no barrel. */
function barrelDirectory(file: string): string | null {
  if (path.basename(file) === 'index.ts') return path.dirname(file);
  const beside = file.slice(0, -'.ts'.length);
  return existsSync(beside) ? beside : null;
}

/** `from → barrel` for every import of `text` (in `file`) of a barrel re-exporting `file`. */
function selfBarrelImports(file: string, text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(?:type\s+)?[^'"]*?from\s+'([^']+)'/gms)) {
    const spec = m[1]!;
    if (!spec.startsWith('.')) continue;
    const target = path.resolve(path.dirname(file), spec);
    const dir = barrelDirectory(target);
    if (dir !== null && target !== file && file.startsWith(dir + path.sep))
      found.push(`${path.relative(SRC, file)} → ${path.relative(SRC, target)}`);
  }
  return found;
}

describe('barrels', () => {
  it('the scan finds an import of the barrel of the importer’s own directory', () => {
    const file = path.join(SRC, 'selftest/tap.ts');
    expect(selfBarrelImports(file, "import type { X } from './index.ts';")).toEqual([
      'selftest/tap.ts → selftest/index.ts',
    ]);
    const inner = path.join(SRC, 'selftest/harness/child.ts');
    expect(selfBarrelImports(inner, "import { A } from '../harness.ts';")).toEqual([
      'selftest/harness/child.ts → selftest/harness.ts',
    ]);
    expect(selfBarrelImports(inner, "import { A } from './fixture.ts';")).toEqual([]);
  });

  it('no module imports a barrel that re-exports it', () => {
    const found = sourceFiles(SRC).flatMap((f) => selfBarrelImports(f, readFileSync(f, 'utf8')));
    expect(found).toEqual([]);
  });
});

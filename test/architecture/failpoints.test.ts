/**
 * Every mutant's failpoint is where the catalogue says, and only there. A mutant turns on one
 * quirk flag (the kernel's in src/mm/quirks.ts, dmirror's in src/devices/dmirror/quirks.ts); this
 * scan parses every source file and lists the functions that read each flag, which must be
 * exactly the functions of the mutant's declared `site`. The core never tests the mutant id
 * itself. That each flag changes behaviour is shown by test/race/mutants.test.ts: every mutant is
 * killed, and the unmutated system survives the same scenario.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { DMIRROR_QUIRK_OF, dmirrorQuirks, NO_DMIRROR_QUIRKS } from '../../src/devices/dmirror/quirks.ts';
import { MUTANTS } from '../../src/explore/mutants/index.ts';
import { MUTANT_IDS } from '../../src/mm/mutant.ts';
import { KERNEL_QUIRK_OF, kernelQuirks, NO_KERNEL_QUIRKS } from '../../src/mm/quirks.ts';

const ROOT = join(import.meta.dirname, '../..');
/** The files that define the flags (and so name each one) rather than read them. */
const DEFINITIONS = new Set(['src/mm/quirks.ts', 'src/devices/dmirror/quirks.ts']);

/** The .ts files under `dir`, relative to the repository, recursively. */
function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** `file Function` pairs of a catalogue site (see `MutantSpec.site`). */
function siteFunctions(site: string): string[] {
  return site.split('; ').flatMap((part) => {
    const m = /^(\S+) ([^(]+?)(?: \(.*\))?$/.exec(part);
    if (m === null) throw new Error(`malformed site segment "${part}" in "${site}"`);
    return m[2]!.split(', ').map((fn) => `${m[1]} ${fn}`);
  });
}

/** The name of the function around `node`: `Class.method`, a function's or a const arrow's. */
function enclosingFunction(node: ts.Node): string {
  for (let n = node.parent; n !== undefined; n = n.parent) {
    if (ts.isMethodDeclaration(n) || ts.isGetAccessorDeclaration(n) || ts.isConstructorDeclaration(n)) {
      const cls = n.parent;
      const method = ts.isConstructorDeclaration(n) ? 'constructor' : n.name.getText();
      return ts.isClassDeclaration(cls) && cls.name ? `${cls.name.text}.${method}` : method;
    }
    if (ts.isFunctionDeclaration(n) && n.name) return n.name.text;
    if ((ts.isArrowFunction(n) || ts.isFunctionExpression(n)) && ts.isVariableDeclaration(n.parent))
      return n.parent.name.getText();
  }
  return '(module level)';
}

/** Every read of a property named in `flags` in `text`: flag → `file Function` list. */
function flagReads(file: string, text: string, flags: ReadonlySet<string>): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node) && flags.has(node.name.text)) {
      const where = `${file} ${enclosingFunction(node)}`;
      found.set(node.name.text, [...(found.get(node.name.text) ?? []), where]);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const QUIRK_OF = { ...KERNEL_QUIRK_OF, ...DMIRROR_QUIRK_OF };
const FLAGS = new Set(Object.values(QUIRK_OF));

/** Where each flag is read in src/, outside the files that define the flags. */
function readsInSources(): Map<string, Set<string>> {
  const reads = new Map<string, Set<string>>();
  for (const file of sources('src')) {
    if (DEFINITIONS.has(file)) continue;
    for (const [flag, where] of flagReads(file, readFileSync(join(ROOT, file), 'utf8'), FLAGS)) {
      const set = reads.get(flag) ?? new Set<string>();
      for (const w of where) set.add(w);
      reads.set(flag, set);
    }
  }
  return reads;
}

describe('failpoint sites', () => {
  let reads: Map<string, Set<string>> | null = null;
  /** The scan of src/, made once for all mutants. */
  const readsOf = (flag: string): string[] => {
    if (reads === null) reads = readsInSources();
    return [...(reads.get(flag) ?? [])];
  };

  it('the scan names the function around a read: a method, a function, a const arrow', () => {
    const text = [
      'class Walk { step() { if (this.k.quirks.a) return; } }',
      'function fault(k) { const q = k.quirks; return q.b; }',
      'const cb = (d) => { d.quirks.a; };',
      'export function outer() { return [1].map(() => quirks.b); }',
    ].join('\n');
    const found = flagReads('x.ts', text, new Set(['a', 'b']));
    expect(found.get('a')).toEqual(['x.ts Walk.step', 'x.ts cb']);
    expect(found.get('b')).toEqual(['x.ts fault', 'x.ts outer']);
    expect(siteFunctions('src/a.ts F (k_f); src/b.ts C.m, g (x, y)')).toEqual([
      'src/a.ts F',
      'src/b.ts C.m',
      'src/b.ts g',
    ]);
  });

  it('gives every mutant exactly one flag, the kernel its kernel-side ones and dmirror its driver-side ones', () => {
    for (const id of MUTANT_IDS) {
      const spec = MUTANTS.find((m) => m.id === id)!;
      const kernelFlag = KERNEL_QUIRK_OF[id];
      const driverFlag = DMIRROR_QUIRK_OF[id];
      expect(
        [kernelFlag, driverFlag].filter((f) => f !== undefined),
        id,
      ).toHaveLength(1);
      expect(kernelFlag !== undefined, id).toBe(spec.side === 'kernel');
    }
    expect(FLAGS.size).toBe(MUTANT_IDS.length);
  });

  it('turns on exactly its own flag for each mutant, and none without one', () => {
    expect(Object.values(kernelQuirks(null)).some(Boolean)).toBe(false);
    expect(Object.values(dmirrorQuirks(null)).some(Boolean)).toBe(false);
    for (const id of MUTANT_IDS) {
      const on = [
        ...Object.entries(kernelQuirks(id)).filter(([, v]) => v),
        ...Object.entries(dmirrorQuirks(id)).filter(([, v]) => v),
      ].map(([k]) => k);
      expect(on, id).toEqual([QUIRK_OF[id]]);
    }
    expect(Object.keys(kernelQuirks('H1'))).toEqual(Object.keys(NO_KERNEL_QUIRKS));
    expect(Object.keys(dmirrorQuirks('D1'))).toEqual(Object.keys(NO_DMIRROR_QUIRKS));
  });

  it.each(MUTANTS.map((m) => [m.id, m] as const))(
    "reads %s's flag exactly in the functions of its declared site",
    (id, spec) => {
      const flag = QUIRK_OF[id]!;
      const declared = siteFunctions(spec.site);
      for (const where of declared) {
        const file = where.split(' ')[0]!;
        expect(statSync(join(ROOT, file)).isFile(), `${id}: ${file}`).toBe(true);
      }
      expect(readsOf(flag).sort(), `${id} (${flag}) is read in`).toEqual([...new Set(declared)].sort());
    },
  );

  it('never tests the mutant id outside the explorer and the CLI', () => {
    const offenders: string[] = [];
    for (const file of sources('src')) {
      if (file.startsWith('src/explore/') || file.startsWith('src/cli/')) continue;
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/\.mutant\s*[!=]==?/g))
        offenders.push(`${relative('.', file)}:${text.slice(0, m.index).split('\n').length}`);
    }
    expect(offenders).toEqual([]);
  });
});

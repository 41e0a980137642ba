import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IntervalTree, IntervalTreeNode } from '../../../src/notifier/interval-tree.ts';
import { UsageError } from '../../../src/sim/errors.ts';
import { Prng } from '../../../src/sim/prng.ts';

interface Item {
  id: number;
  node: IntervalTreeNode<number>;
}

function mk(id: number, start: number, last: number): IntervalTreeNode<number> {
  const n = new IntervalTreeNode(id);
  n.start = start;
  n.last = last;
  return n;
}

/** The brute-force answer: members overlapping [s, l], by start, equal starts in insertion order. */
function brute(members: Item[], s: number, l: number): number[] {
  return members
    .filter((m) => m.node.start <= l && m.node.last >= s)
    .sort((a, b) => a.node.start - b.node.start)
    .map((m) => m.id);
}

function ids(nodes: IntervalTreeNode<number>[]): number[] {
  return nodes.map((n) => n.value);
}

describe('IntervalTree', () => {
  it('answers nothing when empty', () => {
    const t = new IntervalTree<number>();
    expect(t.iterFirst(0, 2 ** 64)).toBeNull();
    expect(t.overlapping(0, 10)).toEqual([]);
    expect(t.size).toBe(0);
    t.validate();
  });

  it('uses inclusive bounds on both sides', () => {
    const t = new IntervalTree<number>();
    t.insert(mk(1, 10, 19));
    expect(ids(t.overlapping(0, 9))).toEqual([]);
    expect(ids(t.overlapping(0, 10))).toEqual([1]);
    expect(ids(t.overlapping(19, 30))).toEqual([1]);
    expect(ids(t.overlapping(20, 30))).toEqual([]);
    expect(ids(t.overlapping(12, 12))).toEqual([1]);
  });

  it('keeps equal starts in insertion order, also after removals and re-insertions', () => {
    const t = new IntervalTree<number>();
    const nodes = [mk(0, 5, 9), mk(1, 5, 6), mk(2, 5, 100), mk(3, 1, 5), mk(4, 5, 5)];
    for (const n of nodes) t.insert(n);
    expect(ids(t.overlapping(0, 1000))).toEqual([3, 0, 1, 2, 4]);
    t.remove(nodes[1]!);
    t.insert(nodes[1]!);
    expect(ids(t.overlapping(0, 1000))).toEqual([3, 0, 2, 4, 1]);
    expect(ids(t.overlapping(7, 8))).toEqual([0, 2]);
    t.validate();
  });

  it('walks with iterFirst / iterNext without changing the tree', () => {
    const t = new IntervalTree<number>();
    for (let i = 0; i < 50; i++) t.insert(mk(i, i * 10, i * 10 + 14));
    const got: number[] = [];
    for (let n = t.iterFirst(95, 131); n !== null; n = t.iterNext(n, 95, 131)) got.push(n.value);
    // [80,94] misses 95; [90,104] … [130,144] hit.
    expect(got).toEqual([9, 10, 11, 12, 13]);
  });

  it('handles addresses up to 2^64', () => {
    const t = new IntervalTree<number>();
    t.insert(mk(1, 0, 2 ** 64 - 4096));
    t.insert(mk(2, 2 ** 64 - 2 ** 20, 2 ** 64));
    t.insert(mk(3, 2 ** 63, 2 ** 63 + 2048)); // doubles are 2048 apart up there
    expect(ids(t.overlapping(2 ** 64, 2 ** 64))).toEqual([2]);
    expect(ids(t.overlapping(0, 2 ** 64))).toEqual([1, 3, 2]);
    expect(ids(t.overlapping(2 ** 63 + 4096, 2 ** 63 + 8192))).toEqual([1]);
  });

  it('stays balanced under sorted insertions (AVL height bound)', () => {
    const t = new IntervalTree<number>();
    const n = 4096;
    for (let i = 0; i < n; i++) t.insert(mk(i, i, i));
    t.validate();
    expect(t.root!.height).toBeLessThanOrEqual(Math.ceil(1.45 * Math.log2(n + 2)));
    for (let i = 0; i < n; i += 2) t.remove(t.iterFirst(i, i)!);
    t.validate();
    expect(t.size).toBe(n / 2);
    expect(t.root!.height).toBeLessThanOrEqual(Math.ceil(1.45 * Math.log2(n / 2 + 2)));
  });

  it('rejects misuse: double insert, removing an unlinked node, start above last', () => {
    const t = new IntervalTree<number>();
    const a = mk(1, 0, 10);
    t.insert(a);
    expect(() => t.insert(a)).toThrow(UsageError);
    const b = mk(2, 0, 10);
    expect(() => t.remove(b)).toThrow(UsageError);
    expect(() => t.insert(mk(3, 11, 10))).toThrow(UsageError);
    t.remove(a);
    expect(a.inTree).toBe(false);
    expect(t.size).toBe(0);
    expect(t.root).toBeNull();
  });

  it('matches a brute-force list over random operations (seeded loop)', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rng = new Prng(seed);
      const t = new IntervalTree<number>();
      let members: Item[] = [];
      const free: Item[] = [];
      let nextId = 0;
      for (let step = 0; step < 400; step++) {
        const op = rng.nextInt(10);
        if (op < 4 || members.length === 0) {
          const reuse = free.length > 0 && rng.nextInt(2) === 0;
          const item = reuse
            ? free.splice(rng.nextInt(free.length), 1)[0]!
            : { id: nextId, node: mk(nextId++, 0, 0) };
          const s = rng.nextInt(200);
          item.node.start = s;
          item.node.last = s + rng.nextInt(40);
          t.insert(item.node);
          members.push(item);
        } else if (op < 7) {
          const i = rng.nextInt(members.length);
          const item = members[i]!;
          t.remove(item.node);
          members = members.filter((m) => m !== item);
          free.push(item);
        } else {
          const s = rng.nextInt(250);
          const l = s + rng.nextInt(60);
          expect(ids(t.overlapping(s, l))).toEqual(brute(members, s, l));
        }
        t.validate();
      }
      expect(ids(t.nodes())).toEqual(brute(members, 0, 1000));
    }
  });

  it('matches a brute-force list over random operations (fast-check)', () => {
    const coord = fc.oneof(
      fc.integer({ min: 0, max: 64 }),
      fc.constantFrom(2 ** 53, 2 ** 63, 2 ** 64 - 4096, 2 ** 64),
    );
    const opArb = fc.oneof(
      fc.record({ kind: fc.constant('insert' as const), a: coord, b: coord }),
      fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('query' as const), a: coord, b: coord }),
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
        const t = new IntervalTree<number>();
        let members: Item[] = [];
        let nextId = 0;
        for (const op of ops) {
          if (op.kind === 'insert') {
            const id = nextId++;
            members.push({ id, node: mk(id, Math.min(op.a, op.b), Math.max(op.a, op.b)) });
            t.insert(members[members.length - 1]!.node);
          } else if (op.kind === 'remove') {
            if (members.length === 0) continue;
            const item = members[op.pick % members.length]!;
            t.remove(item.node);
            members = members.filter((m) => m !== item);
          } else {
            const s = Math.min(op.a, op.b);
            const l = Math.max(op.a, op.b);
            expect(ids(t.overlapping(s, l))).toEqual(brute(members, s, l));
          }
          t.validate();
        }
        expect(t.size).toBe(members.length);
      }),
      { numRuns: 300, seed: 42 },
    );
  });
});

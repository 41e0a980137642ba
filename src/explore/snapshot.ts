/**
 * An in-place snapshot of an object graph: what the race explorer takes of a machine once its
 * scenario's setup has run, and restores before every later schedule instead of building,
 * attaching oracles and setting up a fresh machine (docs/architecture.md, _The explorer's
 * post-setup snapshot_).
 *
 * Taking walks every object reachable from the roots and records, per object, the values of its
 * own properties (arrays: their elements; `Map` and `Set`: their entries; typed arrays: a copy of
 * the bytes of their buffer). Restoring writes those values back into the SAME objects, so every
 * identity is kept: a closure that points at an object of the machine (a device's file
 * operations, a pagemap's hooks, an oracle's hub detach) still points at it, and objects made
 * after the snapshot become unreachable from the graph. An object whose own properties changed
 * shape (a property added or deleted) is put back to the recorded set.
 *
 * What cannot be recorded is refused, and the caller builds fresh machines instead: promises,
 * weak collections, dates, regular expressions, WebAssembly memories, shared buffers, accessor or
 * non-enumerable or symbol-keyed own properties, arrays with extra properties, and any other
 * built-in object with internal state. What a walk cannot see at all is state captured by
 * closures (a `let` a function closes over): the explorer takes snapshots only where that is
 * ruled out (its default oracles keep their state in fields; scenarios keep theirs in the state
 * `setup` returns, as `Scenario.snapshot` documents).
 * @module
 */

/** Why a graph cannot be snapshot: the first object refused and the path to it. */
export class SnapshotRefused extends Error {
  /** `'SnapshotRefused'`. */
  override name = 'SnapshotRefused';
}

const TYPED_TAGS: ReadonlySet<string> = new Set([
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
  'DataView',
]);

/** What `Object.prototype.toString` says of `o`: `Object`, `Array`, `Map`, `Uint8Array`, … */
function tagOf(o: object): string {
  const t = Object.prototype.toString.call(o);
  return t.slice(8, -1);
}

/**
 * The recorded state of a graph; {@link restore} puts every object back. Objects are kept by
 * kind in parallel arrays, so a restore is a few tight loops.
 */
export class GraphSnapshot {
  /** Objects (class instances and plain objects) whose properties are restored. */
  private readonly objects: Record<string, unknown>[] = [];
  /** Per object: its own enumerable keys when taken. */
  private readonly objectKeys: string[][] = [];
  /** Per object: the values of those keys. */
  private readonly objectValues: unknown[][] = [];
  private readonly arrays: unknown[][] = [];
  private readonly arrayValues: unknown[][] = [];
  private readonly maps: Map<unknown, unknown>[] = [];
  /** Per map: keys and values, alternating, in insertion order. */
  private readonly mapEntries: unknown[][] = [];
  private readonly sets: Set<unknown>[] = [];
  private readonly setValues: unknown[][] = [];
  /** Every buffer under a typed array of the graph, and the bytes it held. */
  private readonly buffers: Uint8Array[] = [];
  private readonly bufferCopies: Uint8Array[] = [];
  /** Objects, arrays, maps, sets and buffers recorded (for the docs' figures and tests). */
  readonly size: { objects: number; arrays: number; maps: number; sets: number; bytes: number };

  /**
   * Walks the graph from `roots`; objects in `shared` are kept by identity and neither walked nor
   * restored (a buffer pool several machines share). Throws {@link SnapshotRefused}.
   */
  constructor(roots: readonly unknown[], shared: ReadonlySet<object> = new Set()) {
    const seen = new Set<object>();
    const seenBuffers = new Set<ArrayBufferLike>();
    const stack: unknown[] = [];
    const paths: string[] = [];
    for (let i = roots.length - 1; i >= 0; i--) {
      stack.push(roots[i]);
      paths.push(`root ${i}`);
    }
    while (stack.length > 0) {
      const v = stack.pop();
      const path = paths.pop()!;
      if (v === null || typeof v !== 'object') continue; // primitives; functions are kept by identity
      if (seen.has(v) || shared.has(v)) continue;
      seen.add(v);
      const tag = tagOf(v);
      if (TYPED_TAGS.has(tag)) {
        this.recordBuffer((v as ArrayBufferView).buffer, path, seenBuffers);
        continue;
      }
      if (tag === 'ArrayBuffer') {
        this.recordBuffer(v as ArrayBuffer, path, seenBuffers);
        continue;
      }
      const frozen = Object.isFrozen(v);
      if (tag === 'Array') {
        const a = v as unknown[];
        const keys = Object.getOwnPropertyNames(a);
        if (keys.length !== a.length + 1)
          throw new SnapshotRefused(`${path}: an array with holes or extra properties`);
        if (!frozen) {
          this.arrays.push(a);
          this.arrayValues.push(a.slice());
        }
        for (let i = a.length - 1; i >= 0; i--) {
          stack.push(a[i]);
          paths.push(`${path}[${i}]`);
        }
        continue;
      }
      if (tag === 'Map') {
        const m = v as Map<unknown, unknown>;
        this.checkPlainProperties(m, path, 0);
        const entries: unknown[] = [];
        for (const [k, x] of m) entries.push(k, x);
        this.maps.push(m);
        this.mapEntries.push(entries);
        for (let i = entries.length - 1; i >= 0; i--) {
          stack.push(entries[i]);
          paths.push(`${path} entry ${i >> 1}`);
        }
        continue;
      }
      if (tag === 'Set') {
        const s = v as Set<unknown>;
        this.checkPlainProperties(s, path, 0);
        const values = [...s];
        this.sets.push(s);
        this.setValues.push(values);
        for (let i = values.length - 1; i >= 0; i--) {
          stack.push(values[i]);
          paths.push(`${path} element ${i}`);
        }
        continue;
      }
      if (tag !== 'Object')
        throw new SnapshotRefused(`${path}: a ${tag} (its state is not in its properties)`);
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o);
      this.checkPlainProperties(o, path, keys.length);
      const values: unknown[] = new Array(keys.length);
      for (let i = 0; i < keys.length; i++) values[i] = o[keys[i]!];
      if (!frozen) {
        this.objects.push(o);
        this.objectKeys.push(keys);
        this.objectValues.push(values);
      }
      for (let i = keys.length - 1; i >= 0; i--) {
        stack.push(values[i]);
        paths.push(`${path}.${keys[i]}`);
      }
    }
    let bytes = 0;
    for (const b of this.buffers) bytes += b.byteLength;
    this.size = {
      objects: this.objects.length,
      arrays: this.arrays.length,
      maps: this.maps.length,
      sets: this.sets.length,
      bytes,
    };
  }

  /** Every own property of `o` is an enumerable, writable string-keyed data property (`n` of them). */
  private checkPlainProperties(o: object, path: string, n: number): void {
    const names = Object.getOwnPropertyNames(o);
    if (names.length !== n || Object.getOwnPropertySymbols(o).length > 0)
      throw new SnapshotRefused(`${path}: a non-enumerable or symbol-keyed property`);
    for (const name of names) {
      const d = Object.getOwnPropertyDescriptor(o, name)!;
      if (!('value' in d)) throw new SnapshotRefused(`${path}.${name}: an accessor property`);
      if (!d.writable && !Object.isFrozen(o))
        throw new SnapshotRefused(`${path}.${name}: a read-only property of a mutable object`);
    }
  }

  private recordBuffer(b: ArrayBufferLike, path: string, seen: Set<ArrayBufferLike>): void {
    if (seen.has(b)) return;
    seen.add(b);
    if (tagOf(b) !== 'ArrayBuffer')
      throw new SnapshotRefused(`${path}: a ${tagOf(b)} (shared or wasm memory)`);
    const ab = b as ArrayBuffer & { resizable?: boolean };
    if (ab.resizable === true) throw new SnapshotRefused(`${path}: a resizable ArrayBuffer`);
    const bytes = new Uint8Array(b);
    this.buffers.push(bytes);
    this.bufferCopies.push(bytes.slice());
  }

  /** Puts every recorded object back as it was when taken. */
  restore(): void {
    const objects = this.objects;
    for (let i = 0; i < objects.length; i++) {
      const o = objects[i]!;
      const keys = this.objectKeys[i]!;
      const values = this.objectValues[i]!;
      let n = 0;
      for (const _ in o) n++;
      if (n !== keys.length) resetKeys(o, keys);
      for (let k = 0; k < keys.length; k++) o[keys[k]!] = values[k];
    }
    const arrays = this.arrays;
    for (let i = 0; i < arrays.length; i++) {
      const a = arrays[i]!;
      const values = this.arrayValues[i]!;
      // Setting an array's length is a slow runtime call: only when it changed.
      if (a.length !== values.length) a.length = values.length;
      for (let k = 0; k < values.length; k++) if (a[k] !== values[k]) a[k] = values[k];
    }
    const maps = this.maps;
    for (let i = 0; i < maps.length; i++) {
      const m = maps[i]!;
      const entries = this.mapEntries[i]!;
      // Clearing allocates a new hash table: most maps are unchanged, so compare first.
      if (sameMap(m, entries)) continue;
      m.clear();
      for (let k = 0; k < entries.length; k += 2) m.set(entries[k], entries[k + 1]);
    }
    const sets = this.sets;
    for (let i = 0; i < sets.length; i++) {
      const s = sets[i]!;
      const values = this.setValues[i]!;
      if (sameSet(s, values)) continue;
      s.clear();
      for (let k = 0; k < values.length; k++) s.add(values[k]);
    }
    const buffers = this.buffers;
    for (let i = 0; i < buffers.length; i++) buffers[i]!.set(this.bufferCopies[i]!);
  }
}

/** Deletes the keys of `o` not in `keys` (inherited enumerable keys are never recorded). */
function resetKeys(o: Record<string, unknown>, keys: readonly string[]): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) delete o[k];
}

/** True when `m` holds exactly `entries` (keys and values alternating) in that order. */
function sameMap(m: Map<unknown, unknown>, entries: readonly unknown[]): boolean {
  if (m.size * 2 !== entries.length) return false;
  let k = 0;
  for (const [key, value] of m) {
    if (key !== entries[k] || value !== entries[k + 1]) return false;
    k += 2;
  }
  return true;
}

/** True when `s` holds exactly `values` in that order. */
function sameSet(s: Set<unknown>, values: readonly unknown[]): boolean {
  if (s.size !== values.length) return false;
  let k = 0;
  for (const v of s) if (v !== values[k++]) return false;
  return true;
}

/**
 * The page-table pool's WebAssembly memory and walk (pt-walk.wat): a pool that has grown past a
 * few tables keeps its words in a WebAssembly memory, followed by a scratch area of one table's
 * worth of `hmm_pfns` words and an arena of `hmm_pfns` arrays handed to drivers, and an instance
 * of the walk module bound to that memory describes runs of present PTEs for `hmmRangeFault` at
 * native speed (straight into an arena array; through the scratch area for any other array). A memory is never grown in place
 * (that would detach every view of it, and a parked simulated thread may hold one): the pool
 * moves into a new memory, as it moves into a new array.
 *
 * The core runs in Node and in a browser worker, so the API is reached through `globalThis`
 * with the few types used here (the core's TypeScript library has no DOM types).
 * @module
 */
import { PT_WALK_WASM } from './pt-walk-wasm.ts';

/** The part of the WebAssembly JS API used here. */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer };
}

/** Where an arena array starts: 64-byte aligned, a cache line. */
const ARENA_ALIGN = 64;

const WASM_PAGE_BYTES = 65536;
/** Bytes of the scratch area after the tables: one table's worth of 8-byte words. */
export const PT_SCRATCH_BYTES = 512 * 8;

/** The compiled walk module, or null where WebAssembly (with SIMD) is not available. */
const PT_WALK_MODULE: object | null = compileWalk();

function compileWalk(): object | null {
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (api === undefined) return null;
  try {
    return new api.Module(PT_WALK_WASM);
  } catch {
    return null; // no SIMD: the pool stays on plain arrays
  }
}

/** True when pools can move into WebAssembly memory on this host. */
export function ptWasmAvailable(): boolean {
  return PT_WALK_MODULE !== null;
}

/** A pool's WebAssembly memory with the walk bound to it. */
export class PtWasm {
  /** The pool's words (the tables), a view of the memory. */
  readonly words: Uint32Array;
  /** Byte offset of the scratch area. */
  readonly scratchByte: number;
  /** The scratch area as 32-bit halves of 512 `hmm_pfns` words. */
  readonly scratch: Uint32Array;
  /**
   * `snapshot(pteByte, outByte, n)`: describes up to `n` present, accessible, normal PTEs from
   * byte `pteByte` into the words at byte `outByte`; returns how many (see pt-walk.wat).
   */
  readonly snapshot: (pteByte: number, outByte: number, n: number) => number;
  /**
   * `snapshotPmds(pmdByte, first, n, outByte)`: {@link snapshot} over the PTE tables of the
   * consecutive PMD entries from byte `pmdByte`, starting at PTE `first` of the first, for up to
   * `n` pages; stops at a PMD entry that is not a table or at a PTE `snapshot` stops at, and
   * returns the pages described (see pt-walk.wat).
   */
  readonly snapshotPmds: (pmdByte: number, first: number, n: number, outByte: number) => number;

  /** The memory's buffer: an `hmm_pfns` array on it is an arena array of this memory. */
  readonly buffer: ArrayBuffer;
  /** The arena: `[arenaByte, arenaEnd)`, allocated up to `arenaNext`. */
  private readonly arenaByte: number;
  private readonly arenaEnd: number;
  private arenaNext: number;
  /** Arena arrays not yet freed; the arena starts again empty when this drops to 0. */
  private arenaLive = 0;

  /** A new memory for `tableWords` words of tables, the scratch area and an arena (zeroed). */
  constructor(tableWords: number, arenaBytes = 0) {
    const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    if (api === undefined || PT_WALK_MODULE === null)
      throw new Error('PtWasm: this host has no WebAssembly SIMD (check ptWasmAvailable first)');
    this.scratchByte = tableWords * 4;
    this.arenaByte = alignUp(this.scratchByte + PT_SCRATCH_BYTES, ARENA_ALIGN);
    const bytes = this.arenaByte + arenaBytes;
    const memory = new api.Memory({ initial: Math.ceil(bytes / WASM_PAGE_BYTES) });
    const instance = new api.Instance(PT_WALK_MODULE, { pt: { memory } });
    this.buffer = memory.buffer;
    this.words = new Uint32Array(memory.buffer, 0, tableWords);
    this.scratch = new Uint32Array(memory.buffer, this.scratchByte, PT_SCRATCH_BYTES / 4);
    this.arenaEnd = memory.buffer.byteLength;
    this.arenaNext = this.arenaByte;
    this.snapshot = instance.exports['snapshot'] as (pteByte: number, outByte: number, n: number) => number;
    this.snapshotPmds = instance.exports['snapshot_pmds'] as (
      pmdByte: number,
      first: number,
      n: number,
      outByte: number,
    ) => number;
  }

  /** A zeroed array of `n` words in the arena, or null when the arena has no room. */
  allocWords(n: number): BigUint64Array | null {
    const at = this.arenaNext;
    if (at + n * 8 > this.arenaEnd) return null;
    this.arenaNext = alignUp(at + n * 8, ARENA_ALIGN);
    this.arenaLive++;
    const a = new BigUint64Array(this.buffer, at, n);
    a.fill(0n); // a reused arena holds an earlier array's words
    return a;
  }

  /** Gives back an array of {@link allocWords}; the arena is reused once all are given back. */
  freeWords(a: BigUint64Array): void {
    if (a.buffer !== this.buffer || this.arenaLive === 0) return;
    if (--this.arenaLive === 0) this.arenaNext = this.arenaByte;
  }
}

function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

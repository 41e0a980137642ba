/**
 * The page-table pool's WebAssembly memory and walk (pt-walk.wat): a pool that has grown past a
 * few tables keeps its words in a WebAssembly memory, followed by a scratch area of one table's
 * worth of `hmm_pfns` words, and an instance of the walk module bound to that memory describes
 * runs of present PTEs for `hmmRangeFault` at native speed. A memory is never grown in place
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

  /** A new memory for `tableWords` words of tables plus the scratch area (zeroed). */
  constructor(tableWords: number) {
    const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    if (api === undefined || PT_WALK_MODULE === null)
      throw new Error('PtWasm: this host has no WebAssembly SIMD (check ptWasmAvailable first)');
    const bytes = tableWords * 4 + PT_SCRATCH_BYTES;
    const memory = new api.Memory({ initial: Math.ceil(bytes / WASM_PAGE_BYTES) });
    const instance = new api.Instance(PT_WALK_MODULE, { pt: { memory } });
    this.words = new Uint32Array(memory.buffer, 0, tableWords);
    this.scratchByte = tableWords * 4;
    this.scratch = new Uint32Array(memory.buffer, this.scratchByte, PT_SCRATCH_BYTES / 4);
    this.snapshot = instance.exports['snapshot'] as (pteByte: number, outByte: number, n: number) => number;
  }
}

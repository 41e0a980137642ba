// The committed WebAssembly bytes are what scripts/build-wasm.mjs assembles from the .wat files,
// and the pool moves into WebAssembly memory and back without losing an entry.
import { describe, expect, it } from 'vitest';
// @ts-expect-error a plain JavaScript build script without declarations
import { assembleWat, wasmModules } from '../../../scripts/build-wasm.mjs';
import { ensureEntry, PageTablePool, PT_WASM_MIN_TABLES } from '../../../src/mm/page-table.ts';
import { PT_WALK_WASM } from '../../../src/mm/pt-wasm/pt-walk-wasm.ts';

describe('page-table pool in WebAssembly memory', () => {
  it('pt-walk-wasm.ts holds the assembly of pt-walk.wat (run node scripts/build-wasm.mjs)', async () => {
    expect(wasmModules.map((m: string[]) => m[2])).toEqual(['PT_WALK_WASM']);
    expect(await assembleWat('src/mm/pt-wasm/pt-walk.wat')).toEqual(PT_WALK_WASM);
  });

  it('a small pool stays on a plain array; growing past the threshold moves it, entries kept', () => {
    const pool = new PageTablePool();
    const pgd = pool.alloc();
    const offs: number[] = [];
    for (let i = 0; pool.wasm === null; i++) {
      const off = ensureEntry(pool, pgd, i * 512 * 512, 1); // a new PMD and PTE table each time
      pool.words[off] = 0x72;
      pool.words[off + 1] = i;
      offs.push(off);
      if (pool.wasm === null) expect(pool.inUse).toBeLessThanOrEqual(PT_WASM_MIN_TABLES);
    }
    expect(pool.words.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    offs.forEach((off, i) => {
      expect([pool.words[off], pool.words[off + 1]]).toEqual([0x72, i]);
    });
  });

  it('useWasm moves both ways, and a view taken before a move still reads the old words', () => {
    const pool = new PageTablePool();
    const t = pool.alloc();
    const off = pool.entryOffset(t, 3);
    pool.words[off + 1] = 1234;
    const before = pool.words;
    expect(pool.useWasm(true)).toBe(true);
    expect(pool.wasm).not.toBeNull();
    expect(pool.words[off + 1]).toBe(1234);
    expect(before[off + 1]).toBe(1234); // not detached: a parked thread's view stays readable
    const inWasm = pool.words;
    for (let i = 0; i < 40; i++) pool.alloc(); // growth moves to a new memory, never grows in place
    expect(inWasm.length).toBeGreaterThan(0);
    expect(pool.wasm).not.toBeNull();
    expect(pool.useWasm(false)).toBe(false);
    expect(pool.wasm).toBeNull();
    expect(pool.words[off + 1]).toBe(1234);
    pool.dispose();
  });
});

describe('hmm_pfns arrays in the pool memory (allocHmmPfns)', () => {
  it('a pool on a plain array hands out plain arrays', () => {
    const pool = new PageTablePool();
    pool.alloc();
    const a = pool.allocHmmPfns(10);
    expect(a.buffer).not.toBe(pool.words.buffer);
    expect(a.length).toBe(10);
  });

  it('a pool in WebAssembly memory carves zeroed arrays from it, reuses the arena once all are freed, and moves to a larger arena when full', () => {
    const pool = new PageTablePool();
    pool.alloc();
    pool.useWasm(true);
    const a = pool.allocHmmPfns(1000);
    const b = pool.allocHmmPfns(10);
    expect(a.buffer).toBe(pool.wasm!.buffer);
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteOffset).toBeGreaterThanOrEqual(a.byteOffset + 8000);
    a.fill(7n);
    pool.freeHmmPfns(a);
    pool.freeHmmPfns(b);
    const c = pool.allocHmmPfns(1000);
    expect(c.byteOffset).toBe(a.byteOffset);
    expect(c.every((w) => w === 0n)).toBe(true);
    const memory = pool.wasm!.buffer;
    const big = pool.allocHmmPfns(1 << 20);
    expect(big.buffer).not.toBe(memory); // moved: a larger arena in a new memory
    expect(big.buffer).toBe(pool.wasm!.buffer);
    expect(c.length).toBe(1000); // the earlier array stays usable
  });
});

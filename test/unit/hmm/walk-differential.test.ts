// The walks of an hmm_range_fault snapshot — the JS PTE loop over a plain array, the WebAssembly
// loop over tables in WebAssembly memory through its scratch area, and the same loop writing an
// array of hmmPfnsAlloc in place — give identical words and results over random page tables
// holding every entry kind, random sticky input bits and random ranges.
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { HMM_PFN_INOUT_FLAGS } from '../../../src/hmm/hmm-pfn.ts';
import { hmmPfnsAlloc, hmmPfnsFree } from '../../../src/hmm/hmm-pfns-alloc.ts';
import type { HmmRange } from '../../../src/hmm/hmm-range.ts';
import { hmmRangeFault } from '../../../src/hmm/hmm-range-fault.ts';
import { PROT_NONE, PROT_READ, PROT_WRITE } from '../../../src/mm/constants.ts';
import { mmapReadLock, mmapReadUnlock } from '../../../src/mm/mmap-lock.ts';
import { ZERO_PFN } from '../../../src/mm/physmem.ts';
import { ptWasmAvailable } from '../../../src/mm/pt-wasm/pt-walk.ts';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE_READ,
  PTE_DEVICE_PRIVATE_WRITE,
  PTE_DIRTY,
  PTE_HWPOISON,
  PTE_LEAF,
  PTE_MARKER,
  PTE_MIGRATION_READ,
  PTE_MIGRATION_READ_EXCLUSIVE,
  PTE_MIGRATION_WRITE,
  PTE_NONE,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SOFT_DIRTY,
  PTE_SPECIAL,
  PTE_SWAP,
  PTE_WRITE,
  PTE_YOUNG,
} from '../../../src/mm/pte.ts';
import { mmuIntervalReadBegin } from '../../../src/notifier/interval-notifier.ts';
import {
  addFakeDevicePrivate,
  BASE,
  callRangeFault,
  type Env,
  mapAnon,
  P,
  setEntry,
  setupEnv,
} from './helpers.ts';

const OWNER = { device: 'mine' };
const PMD = 512 * P;
/** The main VMA: 8 PMDs of random tables; then a read-only VMA, a hole, a PROT_NONE VMA. */
const MAIN = 8;
const RO = BASE + MAIN * PMD;
const HOLE = RO + PMD;
const NONE = HOLE + PMD;
const END = NONE + PMD;
/** A 1 GiB VMA above, for a PUD leaf. */
const PUD_VMA = BASE + 0x4000_0000;

const PTE_KINDS = [
  PTE_NONE,
  PTE_PRESENT,
  PTE_PRESENT,
  PTE_PRESENT,
  PTE_SWAP,
  PTE_MIGRATION_READ,
  PTE_MIGRATION_READ_EXCLUSIVE,
  PTE_MIGRATION_WRITE,
  PTE_DEVICE_PRIVATE_READ,
  PTE_DEVICE_PRIVATE_WRITE,
  PTE_DEVICE_EXCLUSIVE,
  PTE_HWPOISON,
  PTE_MARKER,
];
const BITS = [PTE_WRITE, PTE_DIRTY, PTE_YOUNG, PTE_SPECIAL, PTE_PROTNONE, PTE_SOFT_DIRTY];

/** A deterministic generator of the table contents from one seed (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

async function randomTables(seed: number, fastShare: number): Promise<Env> {
  const env = await setupEnv();
  await mapAnon(env, BASE, MAIN * PMD);
  await mapAnon(env, RO, PMD, PROT_READ);
  await mapAnon(env, NONE, PMD, PROT_NONE);
  await mapAnon(env, PUD_VMA, 0x4000_0000, PROT_READ | PROT_WRITE);
  const dev = addFakeDevicePrivate(env, OWNER, 1024);
  const other = addFakeDevicePrivate(env, { device: 'other' }, 1024);
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const pfn = (kind: number): number =>
    kind === PTE_DEVICE_PRIVATE_READ || kind === PTE_DEVICE_PRIVATE_WRITE
      ? (r() < 0.5 ? dev.first : other.first) + Math.floor(r() * 1024)
      : r() < 0.1
        ? ZERO_PFN
        : 1 + Math.floor(r() * 16000);
  for (let b = 0; b < MAIN + 1; b++) {
    const pmdAddr = BASE + b * PMD;
    const shape = r();
    if (shape < 0.1) continue; // no table: a hole in the VMA
    if (shape < 0.2) {
      const lo = PTE_PRESENT | PTE_LEAF | (r() < 0.5 ? PTE_WRITE : 0) | (r() < 0.2 ? PTE_PROTNONE : 0);
      setEntry(env, pmdAddr, lo, 4096 + 512 * b, 2); // a THP (or the huge zero page's shape)
      continue;
    }
    if (shape < 0.28) {
      const kind = pick([PTE_DEVICE_PRIVATE_WRITE, PTE_DEVICE_PRIVATE_READ, PTE_SWAP, PTE_MIGRATION_READ]);
      const head = kind === PTE_DEVICE_PRIVATE_READ || kind === PTE_DEVICE_PRIVATE_WRITE ? dev.first : 8192;
      setEntry(env, pmdAddr, kind | PTE_LEAF, head, 2); // a non-present PMD entry
      continue;
    }
    const dense = r() < fastShare; // mostly present normal pages, the wasm loop's runs
    for (let i = 0; i < 512; i++) {
      const kind = dense && r() < 0.97 ? PTE_PRESENT : pick(PTE_KINDS);
      let lo = kind;
      for (const bit of BITS) if (r() < (dense && bit >= PTE_SPECIAL ? 0.01 : 0.3)) lo |= bit;
      setEntry(env, pmdAddr + i * P, lo, pfn(kind));
    }
  }
  // A PUD leaf (1 GiB) in its own VMA: present or not, writable or not.
  setEntry(env, PUD_VMA, (r() < 0.8 ? PTE_PRESENT : PTE_SWAP) | PTE_LEAF | (r() < 0.5 ? PTE_WRITE : 0), 0, 3);
  return env;
}

/** The snapshot into an array of hmmPfnsAlloc (written in place by the wasm loop). */
async function inArena(
  env: Env,
  start: number,
  npages: number,
  input: bigint[],
): Promise<[number, bigint[]]> {
  const pfns = hmmPfnsAlloc(env.machine, npages);
  // An empty range (start == end, -EINVAL) gets a plain empty array.
  if (npages > 0) expect(pfns.buffer).toBe(env.machine.pt.wasm?.buffer);
  pfns.set(input);
  const range: HmmRange = {
    notifier: env.sub,
    notifierSeq: await mmuIntervalReadBegin(env.sub),
    start,
    end: start + npages * P,
    hmmPfns: pfns,
    defaultFlags: 0n,
    pfnFlagsMask: 0n,
    devPrivateOwner: OWNER,
  };
  await mmapReadLock(env.mm);
  const ret = await hmmRangeFault(range);
  mmapReadUnlock(env.mm);
  const words = [...pfns];
  hmmPfnsFree(env.machine, pfns);
  return [ret, words];
}

/** The walks over the same request: [result, words] of the JS loop, the wasm loop, the wasm loop in place. */
async function bothWalks(
  env: Env,
  start: number,
  npages: number,
  input: bigint[],
): Promise<[[number, bigint[]], [number, bigint[]], [number, bigint[]]]> {
  const pool = env.machine.pt;
  const run = async (wasm: boolean): Promise<[number, bigint[]]> => {
    expect(pool.useWasm(wasm)).toBe(wasm);
    const c = await callRangeFault(env, start, npages, { input, devPrivateOwner: OWNER });
    return [c.ret, [...c.pfns]];
  };
  const js = await run(false);
  const wasm = await run(true);
  return [js, wasm, await inArena(env, start, npages, input)];
}

describe('hmmRangeFault snapshot: the WebAssembly walk equals the JS walk', () => {
  it('runs where the tests run (Node has WebAssembly SIMD)', () => {
    expect(ptWasmAvailable()).toBe(true);
  });

  test.prop(
    [
      fc.integer({ min: 0, max: 2 ** 31 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.integer({ min: 0, max: (END - BASE) / P + 8 }),
      fc.integer({ min: 1, max: (END - BASE) / P }),
      fc.integer({ min: 0, max: 2 ** 31 }),
    ],
    { numRuns: 25 },
  )(
    'random tables, ranges and sticky bits (seed, share of dense tables, first page, pages, input seed)',
    async (seed, fastShare, firstPage, pages, inputSeed) => {
      const env = await randomTables(seed, fastShare);
      const start = BASE - 8 * P + firstPage * P;
      const npages = Math.min(pages, (END - start) / P);
      const r = rng(inputSeed);
      const input = Array.from({ length: npages }, () =>
        r() < 0.3 ? (BigInt(Math.floor(r() * 2 ** 32)) << 32n) & HMM_PFN_INOUT_FLAGS : 0n,
      );
      const [js, wasm, arena] = await bothWalks(env, start, npages, input);
      expect(wasm[0]).toBe(js[0]);
      expect(wasm[1]).toEqual(js[1]);
      expect(arena[0]).toBe(js[0]);
      expect(arena[1]).toEqual(js[1]);
    },
  );

  it('a PUD leaf and a 1 GiB range through both', async () => {
    const env = await randomTables(7, 1);
    const [js, wasm, arena] = await bothWalks(env, PUD_VMA, 4096, []);
    expect(js[0]).toBe(0);
    expect(wasm).toEqual(js);
    expect(arena).toEqual(js);
  });

  it('an expired sequence is -EBUSY in both, the words untouched', async () => {
    const env = await randomTables(11, 1);
    const pool = env.machine.pt;
    for (const wasm of [false, true]) {
      pool.useWasm(wasm);
      const c = await callRangeFault(env, BASE, 64, { notifierSeq: -1 });
      expect(c.ret).toBe(-16);
      expect([...c.pfns]).toEqual(new Array(64).fill(0n));
    }
  });
});

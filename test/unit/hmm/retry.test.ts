/**
 * hmm_range_fault's sequence check and restarts: -EBUSY on a stale notifier_seq (§3.1, §3.2),
 * the COW retry (§3.4, §8.19), the `last` restart invariant (§3.6, §8.1) and output/input
 * aliasing across an -EBUSY returned to the caller (§8.2), the state of the array on errors
 * (§3.1, §8.3), -EINVAL, and the usage errors of the TypeScript API.
 */
import { describe, expect, it } from 'vitest';
import type { HmmRange } from '../../../src/hmm/hmm-range.ts';
import {
  EBUSY,
  EFAULT,
  EINVAL,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmmRangeFault,
  MADV_DONTNEED,
  MMU_NOTIFY_CLEAR,
  mmapReadLock,
  mmapReadUnlock,
  mmuIntervalReadBegin,
  UsageError,
} from '../../../src/index.ts';
import { trylockPage, unlockPage } from '../../../src/mm/page-lock.ts';
import { findEntry } from '../../../src/mm/page-table.ts';
import {
  PTE_DIRTY,
  PTE_HWPOISON,
  PTE_MIGRATION_READ,
  PTE_PRESENT,
  PTE_WRITE,
  PTE_YOUNG,
} from '../../../src/mm/pte.ts';
import {
  BASE,
  callRangeFault,
  type Env,
  mapAnon,
  mustEntry,
  P,
  readPages,
  setEntry,
  setupEnv,
  touch,
  words,
} from './helpers.ts';

const V = HMM_PFN_REQ_FAULT;
const W = HMM_PFN_REQ_WRITE;

async function anonEnv(options: Parameters<typeof setupEnv>[0] = {}): Promise<Env> {
  const env = await setupEnv(options);
  await mapAnon(env, BASE, 16 * P);
  return env;
}

describe('§3.1/§3.2 -EBUSY on a stale notifier_seq', () => {
  it('an overlapping invalidation after read_begin: -EBUSY at the first pass, array untouched, nothing faulted', async () => {
    const env = await anonEnv();
    await touch(env, BASE, 4);
    const seq = await mmuIntervalReadBegin(env.sub);
    expect(await env.proc.madvise(BASE + P, P, MADV_DONTNEED)).toBe(0);
    expect(env.invalidations.at(-1)).toEqual({
      event: MMU_NOTIFY_CLEAR,
      start: BASE + P,
      end: BASE + 2 * P,
      owner: null,
    });
    const input = [V, V | W, 0x1234n, 0n];
    const passes = env.machine.stats.hmm.passes;
    const c = await callRangeFault(env, BASE, 4, {
      defaultFlags: V,
      pfnFlagsMask: V | W,
      input,
      notifierSeq: seq,
    });
    expect(c.ret).toBe(-EBUSY);
    expect(words(c.pfns)).toEqual(input);
    expect(c.faults).toEqual([]);
    expect(env.machine.stats.hmm.passes - passes).toBe(1);
    // A new read_begin makes the same call succeed.
    const again = await callRangeFault(env, BASE, 4, {});
    expect(again.ret).toBe(0);
    expect(again.pfns[1]).toBe(0n);
  });

  it('a pure snapshot is refused the same way', async () => {
    const env = await anonEnv();
    await touch(env, BASE, 1);
    const seq = await mmuIntervalReadBegin(env.sub);
    expect(await env.proc.madvise(BASE, P, MADV_DONTNEED)).toBe(0);
    const c = await callRangeFault(env, BASE, 1, { notifierSeq: seq, input: [0x42n] });
    expect(c.ret).toBe(-EBUSY);
    expect(words(c.pfns)).toEqual([0x42n]);
  });

  it('an invalidation outside the interval leaves the sequence valid: 0', async () => {
    const env = await setupEnv({ interval: { start: BASE, length: 4 * P } });
    await mapAnon(env, BASE, 16 * P);
    await touch(env, BASE, 16);
    const seq = await mmuIntervalReadBegin(env.sub);
    expect(await env.proc.madvise(BASE + 8 * P, P, MADV_DONTNEED)).toBe(0);
    expect(env.invalidations).toEqual([]);
    const c = await callRangeFault(env, BASE, 4, { notifierSeq: seq });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(
      [0, 1, 2, 3].map((i) => BigInt(mustEntry(env, BASE + i * P).hi) | HMM_PFN_VALID | HMM_PFN_WRITE),
    );
  });
});

describe('§3.4/§8.19 the COW retry', () => {
  it('write request on a page shared after fork: -EBUSY (the COW break CLEARs the interval), then 0 with a private writable page', async () => {
    const env = await anonEnv();
    await touch(env, BASE, 1);
    const shared = mustEntry(env, BASE).hi;
    const child = await env.proc.fork();
    expect(mustEntry(env, BASE).lo & PTE_WRITE).toBe(0);
    env.invalidations.length = 0;

    const snap = await callRangeFault(env, BASE, 1, {});
    expect(words(snap.pfns)).toEqual([BigInt(shared) | HMM_PFN_VALID]);

    const first = await callRangeFault(env, BASE, 1, { defaultFlags: V | W });
    expect(first.ret).toBe(-EBUSY);
    expect(first.faults).toEqual([{ addr: BASE, write: true }]);
    expect(env.invalidations).toEqual([{ event: MMU_NOTIFY_CLEAR, start: BASE, end: BASE + P, owner: null }]);
    const copy = mustEntry(env, BASE).hi;
    expect(copy).not.toBe(shared);

    const second = await callRangeFault(env, BASE, 1, { defaultFlags: V | W });
    expect(second.ret).toBe(0);
    expect(second.faults).toEqual([]);
    expect(words(second.pfns)).toEqual([BigInt(copy) | HMM_PFN_VALID | HMM_PFN_WRITE]);
    // The child still maps the original page.
    const k = env.machine;
    const childOff = findEntry(k.pt, child.mm.pgd, BASE / P, 1);
    expect(k.pt.words[childOff + 1]).toBe(shared);
  });

  it('a read request on the same shared page needs no fault and no retry', async () => {
    const env = await anonEnv();
    await touch(env, BASE, 1);
    const shared = mustEntry(env, BASE).hi;
    await env.proc.fork();
    const c = await callRangeFault(env, BASE, 1, { defaultFlags: V });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual([]);
    expect(words(c.pfns)).toEqual([BigInt(shared) | HMM_PFN_VALID]);
  });
});

describe('§3.6/§8.1 the `last` restart invariant', () => {
  it('after an internal restart, entries below `last` stay outputs (not re-read as requests) and later entries are still inputs', async () => {
    // Per-page requests: page 0 wants read only, page 1 is under migration and wants read,
    // page 2 (none) wants write.
    const env = await anonEnv();
    await touch(env, BASE, 2);
    const k = env.machine;
    const e0 = mustEntry(env, BASE);
    const e1 = mustEntry(env, BASE + P);
    expect(trylockPage(k, e1.hi)).toBe(true);
    k.pt.words[e1.off] = PTE_MIGRATION_READ;
    const migrator = k.sched.spawn('migrator', () => {
      // While hmm_range_fault waits on page 1, page 0 becomes read-only behind its back (this
      // interval is not told). Had the restart begun below page 1, page 0's output
      // VALID | WRITE would be read as REQ_FAULT | REQ_WRITE and page 0 write-faulted (COW).
      k.pt.words[e0.off]! &= ~PTE_WRITE;
      k.pt.words[e1.off] = PTE_PRESENT | PTE_WRITE | PTE_DIRTY | PTE_YOUNG;
      unlockPage(k, e1.hi);
    });
    const c = await callRangeFault(env, BASE, 3, { pfnFlagsMask: V | W, input: [V, V, V | W] });
    await k.sched.join(migrator);
    expect(c.ret).toBe(0);
    // Only page 2's own request caused a fault.
    expect(c.faults).toEqual([{ addr: BASE + 2 * P, write: true }]);
    const e2 = mustEntry(env, BASE + 2 * P);
    expect(words(c.pfns)).toEqual([
      BigInt(e0.hi) | HMM_PFN_VALID | HMM_PFN_WRITE,
      BigInt(e1.hi) | HMM_PFN_VALID | HMM_PFN_WRITE,
      BigInt(e2.hi) | HMM_PFN_VALID | HMM_PFN_WRITE,
    ]);
    // Page 0 was not touched: same page, still read-only.
    expect(mustEntry(env, BASE).hi).toBe(e0.hi);
    expect(mustEntry(env, BASE).lo & PTE_WRITE).toBe(0);
  });

  it('-EBUSY returned to the caller: entries below the fault point are outputs, the fault point and after still inputs', async () => {
    const env = await anonEnv();
    await touch(env, BASE, 1);
    await readPages(env, BASE + P, 1); // page 1: zero page; a write fault copies it (CLEAR)
    const pfn0 = mustEntry(env, BASE).hi;
    const input = [V, V | W, V, 0x77n];
    const c = await callRangeFault(env, BASE, 4, { pfnFlagsMask: V | W, input });
    expect(c.ret).toBe(-EBUSY);
    expect(words(c.pfns)).toEqual([BigInt(pfn0) | HMM_PFN_VALID | HMM_PFN_WRITE, V | W, V, 0x77n]);
  });

  it("§8.2 aliasing: retrying with the half-output array turns page 0's VALID|WRITE output into a write request", async () => {
    async function scenario(reinitialise: boolean) {
      const env = await anonEnv();
      await touch(env, BASE, 1);
      await readPages(env, BASE + P, 1);
      const range: HmmRange = {
        notifier: env.sub,
        notifierSeq: await mmuIntervalReadBegin(env.sub),
        start: BASE,
        end: BASE + 2 * P,
        hmmPfns: new BigUint64Array([V, V | W]),
        defaultFlags: 0n,
        pfnFlagsMask: V | W,
        devPrivateOwner: null,
      };
      await mmapReadLock(env.mm);
      expect(await hmmRangeFault(range)).toBe(-EBUSY);
      mmapReadUnlock(env.mm);
      // Before the retry, page 0 becomes shared and read-only (fork).
      await env.proc.fork();
      const pfn0 = mustEntry(env, BASE).hi;
      range.notifierSeq = await mmuIntervalReadBegin(env.sub);
      if (reinitialise) range.hmmPfns.set([V, V | W]);
      await mmapReadLock(env.mm);
      const ret = await hmmRangeFault(range);
      mmapReadUnlock(env.mm);
      return { ret, page0Changed: mustEntry(env, BASE).hi !== pfn0, word0: range.hmmPfns[0]!, pfn0 };
    }
    const careless = await scenario(false);
    expect(careless.ret).toBe(-EBUSY); // page 0 was write-faulted: COW break, CLEAR
    expect(careless.page0Changed).toBe(true);
    const careful = await scenario(true);
    // Page 1's own write request breaks its (new) COW sharing: -EBUSY again, but page 0 is left alone.
    expect(careful.ret).toBe(-EBUSY);
    expect(careful.page0Changed).toBe(false);
    expect(careful.word0).toBe(BigInt(careful.pfn0) | HMM_PFN_VALID);
  });
});

describe('§3.1/§8.3 errors leave the array half outputs, half inputs (no ERROR written for the failing page)', () => {
  it('-EFAULT at a requested hwpoison entry: earlier entries are outputs, it and later ones untouched inputs', async () => {
    const env = await anonEnv();
    await touch(env, BASE, 2);
    setEntry(env, BASE + 2 * P, PTE_HWPOISON, 0);
    const pfns = [0, 1].map((i) => mustEntry(env, BASE + i * P).hi);
    const input = [V, 0x10n, V, 0x30n];
    const c = await callRangeFault(env, BASE, 4, { pfnFlagsMask: V, input });
    expect(c.ret).toBe(-EFAULT);
    expect(words(c.pfns)).toEqual([
      BigInt(pfns[0]!) | HMM_PFN_VALID | HMM_PFN_WRITE,
      BigInt(pfns[1]!) | HMM_PFN_VALID | HMM_PFN_WRITE,
      V,
      0x30n,
    ]);
    expect(c.faults).toEqual([]);
  });
});

describe('-EINVAL and usage errors', () => {
  it('start == end and start > end: -EINVAL from the walker, array untouched', async () => {
    const env = await anonEnv();
    const c = await callRangeFault(env, BASE, 0, {});
    expect(c.ret).toBe(-EINVAL);
    const seq = await mmuIntervalReadBegin(env.sub);
    const range: HmmRange = {
      notifier: env.sub,
      notifierSeq: seq,
      start: BASE + 2 * P,
      end: BASE + P,
      hmmPfns: new BigUint64Array([9n]),
      defaultFlags: V,
      pfnFlagsMask: 0n,
      devPrivateOwner: null,
    };
    await mmapReadLock(env.mm);
    expect(await hmmRangeFault(range)).toBe(-EINVAL);
    mmapReadUnlock(env.mm);
    expect(range.hmmPfns[0]).toBe(9n);
  });

  it('§3.2 order: the sequence is checked before the walker rejects a degenerate range (stale seq → -EBUSY)', async () => {
    const env = await anonEnv();
    await touch(env, BASE, 1);
    const seq = await mmuIntervalReadBegin(env.sub);
    expect(await env.proc.madvise(BASE, P, MADV_DONTNEED)).toBe(0);
    const c = await callRangeFault(env, BASE, 0, { notifierSeq: seq });
    expect(c.ret).toBe(-EBUSY);
  });

  function rangeOf(env: Env, start: number, end: number, n: number): HmmRange {
    return {
      notifier: env.sub,
      notifierSeq: 0,
      start,
      end,
      hmmPfns: new BigUint64Array(n),
      defaultFlags: 0n,
      pfnFlagsMask: 0n,
      devPrivateOwner: null,
    };
  }

  it('without the mmap lock: UsageError', async () => {
    const env = await anonEnv();
    const range = rangeOf(env, BASE, BASE + P, 1);
    range.notifierSeq = await mmuIntervalReadBegin(env.sub);
    await expect(hmmRangeFault(range)).rejects.toThrow(UsageError);
    await expect(hmmRangeFault(range)).rejects.toThrow(/mmap lock/);
  });

  it('hmmPfns shorter than the range: UsageError naming range.hmmPfns', async () => {
    const env = await anonEnv();
    const range = rangeOf(env, BASE, BASE + 4 * P, 3);
    range.notifierSeq = await mmuIntervalReadBegin(env.sub);
    await mmapReadLock(env.mm);
    try {
      const err = await hmmRangeFault(range).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).what).toBe('range.hmmPfns');
    } finally {
      mmapReadUnlock(env.mm);
    }
  });

  it('unaligned start or end: UsageError naming range.start/end', async () => {
    const env = await anonEnv();
    await mmapReadLock(env.mm);
    try {
      for (const [s, e] of [
        [BASE + 1, BASE + P],
        [BASE, BASE + P + 8],
      ] as const) {
        const range = rangeOf(env, s, e, 2);
        const err = await hmmRangeFault(range).catch((x: unknown) => x);
        expect(err).toBeInstanceOf(UsageError);
        expect((err as UsageError).what).toBe('range.start/end');
      }
    } finally {
      mmapReadUnlock(env.mm);
    }
  });

  it('a range outside the notifier interval: UsageError', async () => {
    const env = await setupEnv({ interval: { start: BASE, length: 4 * P } });
    await mapAnon(env, BASE, 16 * P);
    await mmapReadLock(env.mm);
    try {
      await expect(hmmRangeFault(rangeOf(env, BASE, BASE + 5 * P, 5))).rejects.toThrow(UsageError);
    } finally {
      mmapReadUnlock(env.mm);
    }
  });
});

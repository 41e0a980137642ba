/**
 * How hmm_range_fault reads its input (docs/hmm-range-fault.md#2-what-is-faulted: the effective-request formula, the fault
 * requirement table, the short-cut), writes its output (§2.4: sticky bits kept, everything else
 * replaced), and how much it faults (§3.4 over-faulting, per-page requests through
 * pfn_flags_mask, the Documentation/mm/hmm.rst example).
 */
import { describe, expect, it } from 'vitest';
import type { HmmRange } from '../../../src/hmm/hmm-range.ts';
import {
  EBUSY,
  HMM_PFN_DMA_MAPPED,
  HMM_PFN_ERROR,
  HMM_PFN_FLAGS,
  HMM_PFN_INOUT_FLAGS,
  HMM_PFN_P2PDMA,
  HMM_PFN_P2PDMA_BUS,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmmRangeFault,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  mmapReadLock,
  mmapReadUnlock,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
  ZERO_PFN,
} from '../../../src/index.ts';
import { MM_ANONPAGES } from '../../../src/mm/constants.ts';
import { PTE_DEVICE_PRIVATE_WRITE, PTE_PROTNONE, PTE_WRITE } from '../../../src/mm/pte.ts';
import {
  addFakeDevicePrivate,
  BASE,
  callRangeFault,
  type Env,
  faultsFrom,
  mapAnon,
  mustEntry,
  ORDER_PMD,
  P,
  PMD_PAGES,
  readPages,
  repeat,
  setEntry,
  setupEnv,
  touch,
  words,
} from './helpers.ts';

const V = HMM_PFN_REQ_FAULT;
const W = HMM_PFN_REQ_WRITE;
const ZERO = BigInt(ZERO_PFN) | HMM_PFN_VALID;
/** Page examined by single-page tests; page 0 of the mapping is written so the PTE table exists. */
const A = BASE + P;

async function anonEnv(options: Parameters<typeof setupEnv>[0] = {}): Promise<Env> {
  const env = await setupEnv(options);
  await mapAnon(env, BASE, 2 * PMD_SIZE);
  await touch(env, BASE, 1);
  return env;
}

/**
 * Runs one single-page call on a none PTE and returns the effective request as observed:
 * [0, 0] no fault (output 0), [1, 0] read fault (zero page), [1, 1] write fault (new page).
 * REQ_WRITE without REQ_FAULT is unobservable and reads as [0, 0].
 */
async function observed(
  defaultFlags: bigint,
  pfnFlagsMask: bigint,
  input: bigint,
): Promise<[number, number]> {
  const env = await anonEnv();
  const c = await callRangeFault(env, A, 1, { defaultFlags, pfnFlagsMask, input: [input] });
  expect(c.ret).toBe(0);
  if (c.faults.length === 0) {
    expect(words(c.pfns)).toEqual([0n]);
    return [0, 0];
  }
  expect(c.faults.length).toBe(1);
  if (!c.faults[0]!.write) {
    expect(words(c.pfns)).toEqual([ZERO]);
    return [1, 0];
  }
  expect(words(c.pfns)).toEqual([BigInt(mustEntry(env, A).hi) | HMM_PFN_VALID | HMM_PFN_WRITE]);
  return [1, 1];
}

describe('§2.3 input formula: req = (in & pfn_flags_mask) | default_flags, one test per table row', () => {
  const ALL_INPUTS = [0n, V, W, V | W];

  it('row 1: default 0, mask 0 → pure snapshot, whatever the input', async () => {
    for (const input of ALL_INPUTS) expect(await observed(0n, 0n, input)).toEqual([0, 0]);
  });

  it('row 2: default V, mask 0 → V (fault everything readable), input ignored', async () => {
    for (const input of ALL_INPUTS) expect(await observed(V, 0n, input)).toEqual([1, 0]);
  });

  it('row 3: default V|W, mask 0 → V|W (fault everything writable), input ignored', async () => {
    for (const input of ALL_INPUTS) expect(await observed(V | W, 0n, input)).toEqual([1, 1]);
  });

  it('row 4: default V, mask W, input W=0 → V', async () => {
    for (const input of [0n, V]) expect(await observed(V, W, input)).toEqual([1, 0]);
  });

  it('row 5: default V, mask W, input W=1 → V|W (the hmm.rst example)', async () => {
    for (const input of [W, V | W]) expect(await observed(V, W, input)).toEqual([1, 1]);
  });

  it('row 6: default 0, mask V|W → fully per page (W alone is ignored)', async () => {
    expect(await observed(0n, V | W, 0n)).toEqual([0, 0]);
    expect(await observed(0n, V | W, V)).toEqual([1, 0]);
    expect(await observed(0n, V | W, W)).toEqual([0, 0]);
    expect(await observed(0n, V | W, V | W)).toEqual([1, 1]);
  });

  it('row 7: default 0, mask V → v, 0 (the input W bit is masked off)', async () => {
    expect(await observed(0n, V, 0n)).toEqual([0, 0]);
    expect(await observed(0n, V, V)).toEqual([1, 0]);
    expect(await observed(0n, V, W)).toEqual([0, 0]);
    expect(await observed(0n, V, V | W)).toEqual([1, 0]);
  });

  it('row 8: default V|W, any mask → V|W (defaults only add)', async () => {
    for (const mask of [0n, V, W, V | W, ~0n & 0xffff_ffff_ffff_ffffn])
      for (const input of [0n, V | W]) expect(await observed(V | W, mask, input)).toEqual([1, 1]);
  });

  it('only bits 63 and 62 are requests: ERROR, order, sticky and pfn bits under a full mask ask for nothing', async () => {
    const env = await anonEnv();
    const input = HMM_PFN_ERROR | HMM_PFN_INOUT_FLAGS | (31n << 53n) | 0x1f_ffff_ffff_ffffn;
    const c = await callRangeFault(env, A, 1, { pfnFlagsMask: 0xffff_ffff_ffff_ffffn, input: [input] });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual([]);
    // Only the sticky bits survive (§2.4).
    expect(words(c.pfns)).toEqual([HMM_PFN_INOUT_FLAGS]);
  });

  it('short-cut: with no REQ_FAULT in default | mask, VALID bits in the input are never read', async () => {
    const env = await anonEnv();
    const c = await callRangeFault(env, A, 4, { pfnFlagsMask: W, input: repeat(V | W, 4) });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual([]);
    expect(words(c.pfns)).toEqual(repeat(0n, 4));
  });
});

describe('§2.3 fault requirement table (req × cpu flags), one test per row', () => {
  /** A shared file page read once: cpu = VALID (read-only) without being the zero page. */
  async function readOnlyPage(): Promise<{ env: Env; pfn: number }> {
    const env = await setupEnv();
    const fd = await env.proc.createTmpFile(4 * P);
    expect(await env.proc.mmap(BASE, 4 * P, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(
      BASE,
    );
    await readPages(env, BASE, 1);
    return { env, pfn: mustEntry(env, BASE).hi };
  }

  it('row "req.FAULT 0": never fault, REQ_WRITE alone ignored (none, read-only and zero pages described as they are)', async () => {
    const env = await anonEnv();
    await readPages(env, BASE + 2 * P, 1);
    const c = await callRangeFault(env, BASE, 3, { defaultFlags: W });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual([]);
    expect(words(c.pfns)).toEqual([
      BigInt(mustEntry(env, BASE).hi) | HMM_PFN_VALID | HMM_PFN_WRITE,
      0n,
      ZERO,
    ]);
  });

  it('row "FAULT+WRITE, cpu.WRITE 0" with cpu.VALID 0: write fault', async () => {
    expect(await observed(V | W, 0n, 0n)).toEqual([1, 1]);
  });

  it('row "FAULT+WRITE, cpu.WRITE 0" with cpu.VALID 1: write fault', async () => {
    const { env, pfn } = await readOnlyPage();
    const c = await callRangeFault(env, BASE, 1, { defaultFlags: V | W });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual([{ addr: BASE, write: true }]);
    expect(words(c.pfns)).toEqual([BigInt(pfn) | HMM_PFN_VALID | HMM_PFN_WRITE]);
  });

  it('row "FAULT+WRITE, cpu VALID|WRITE": none', async () => {
    const env = await anonEnv();
    const c = await callRangeFault(env, BASE, 1, { defaultFlags: V | W });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual([]);
    expect(words(c.pfns)).toEqual([BigInt(mustEntry(env, BASE).hi) | HMM_PFN_VALID | HMM_PFN_WRITE]);
  });

  it('row "FAULT, cpu.VALID 0": read fault (none PTE, and protnone PTE whose cpu flags are 0)', async () => {
    expect(await observed(V, 0n, 0n)).toEqual([1, 0]);
    const env = await anonEnv();
    const e = mustEntry(env, BASE);
    env.machine.pt.words[e.off] = e.lo | PTE_PROTNONE;
    const c = await callRangeFault(env, BASE, 1, { defaultFlags: V });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual([{ addr: BASE, write: false }]);
    expect(words(c.pfns)).toEqual([BigInt(e.hi) | HMM_PFN_VALID | HMM_PFN_WRITE]);
  });

  it('row "FAULT, cpu.VALID 1": none, read-only or writable', async () => {
    const { env, pfn } = await readOnlyPage();
    const c = await callRangeFault(env, BASE, 1, { defaultFlags: V });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual([]);
    expect(words(c.pfns)).toEqual([BigInt(pfn) | HMM_PFN_VALID]);
  });
});

describe('§2.4 overwrite rule (6.16+): out = (in & INOUT) | new value', () => {
  const STICKY = [HMM_PFN_DMA_MAPPED, HMM_PFN_P2PDMA, HMM_PFN_P2PDMA_BUS, HMM_PFN_INOUT_FLAGS];
  const JUNK = HMM_PFN_ERROR | (7n << 53n) | 0x12_3456n;

  it('every kind of PTE-level output keeps the sticky bits and replaces the rest', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, 5 * P);
    const OWNER = {};
    const dev = addFakeDevicePrivate(env, OWNER);
    await touch(env, BASE, 1); // page 0: writable
    await readPages(env, BASE + 2 * P, 1); // page 2: zero page
    setEntry(env, BASE + 3 * P, PTE_DEVICE_PRIVATE_WRITE, dev.first + 9); // page 3: owned device page
    await touch(env, BASE + 4 * P, 1); // page 4: protnone
    const e4 = mustEntry(env, BASE + 4 * P);
    env.machine.pt.words[e4.off] = e4.lo | PTE_PROTNONE;
    // pages 5, 6: no VMA
    const input = [0, 1, 2, 3, 0, 1, 2].map((i) => STICKY[i]! | JUNK);
    const c = await callRangeFault(env, BASE, 7, { input, devPrivateOwner: OWNER });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([
      HMM_PFN_DMA_MAPPED | BigInt(mustEntry(env, BASE).hi) | HMM_PFN_VALID | HMM_PFN_WRITE,
      HMM_PFN_P2PDMA,
      HMM_PFN_P2PDMA_BUS | ZERO,
      HMM_PFN_INOUT_FLAGS | BigInt(dev.first + 9) | HMM_PFN_VALID | HMM_PFN_WRITE,
      HMM_PFN_DMA_MAPPED | BigInt(e4.hi),
      HMM_PFN_P2PDMA | HMM_PFN_ERROR,
      HMM_PFN_P2PDMA_BUS | HMM_PFN_ERROR,
    ]);
  });

  it('PMD fills (THP leaf, hole) and hugetlb fills keep the sticky bits', async () => {
    const env = await setupEnv({ thp: 'always' });
    await mapAnon(env, BASE, 2 * PMD_SIZE);
    await touch(env, BASE, 1);
    const head = mustEntry(env, BASE, 2).hi;
    const start = BASE + PMD_SIZE - 2 * P;
    const input = [HMM_PFN_DMA_MAPPED | JUNK, JUNK, HMM_PFN_P2PDMA | JUNK, HMM_PFN_INOUT_FLAGS];
    const c = await callRangeFault(env, start, 4, { input });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([
      HMM_PFN_DMA_MAPPED | BigInt(head + 510) | HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PMD,
      BigInt(head + 511) | HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PMD,
      HMM_PFN_P2PDMA,
      HMM_PFN_INOUT_FLAGS,
    ]);

    const h = await setupEnv({ hugetlbPages: 1 });
    expect(
      await h.proc.mmap(
        BASE,
        PMD_SIZE,
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_HUGETLB,
        -1,
        0,
      ),
    ).toBe(BASE);
    await touch(h, BASE, 1);
    const hh = mustEntry(h, BASE, 2).hi;
    const hc = await callRangeFault(h, BASE, 2, { input: [HMM_PFN_P2PDMA_BUS | JUNK, JUNK] });
    expect(hc.ret).toBe(0);
    expect(words(hc.pfns)).toEqual([
      HMM_PFN_P2PDMA_BUS | BigInt(hh) | HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PMD,
      BigInt(hh + 1) | HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PMD,
    ]);
  });

  it('sticky bits survive a fault and the internal restart, and are not requests', async () => {
    const env = await anonEnv();
    const input = [HMM_PFN_DMA_MAPPED | V, HMM_PFN_P2PDMA, HMM_PFN_INOUT_FLAGS | V];
    const c = await callRangeFault(env, A, 3, { pfnFlagsMask: HMM_PFN_FLAGS, input });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual(faultsFrom(A, 3, false));
    expect(words(c.pfns)).toEqual([
      HMM_PFN_DMA_MAPPED | ZERO,
      HMM_PFN_P2PDMA | ZERO,
      HMM_PFN_INOUT_FLAGS | ZERO,
    ]);
  });
});

describe('§3.4 over-faulting', () => {
  it('PTE level: a request on one PTE faults from it to the end of the PMD chunk, not beyond', async () => {
    const env = await anonEnv();
    const pfn0 = mustEntry(env, BASE).hi;
    const n = 600;
    const input = repeat(0n, n);
    input[3] = V;
    const before = env.machine.stats.hmm.faults;
    const c = await callRangeFault(env, BASE, n, { pfnFlagsMask: V | W, input });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual(faultsFrom(BASE + 3 * P, PMD_PAGES - 3, false));
    expect(env.machine.stats.hmm.faults - before).toBe(PMD_PAGES - 3);
    expect(words(c.pfns)).toEqual([
      BigInt(pfn0) | HMM_PFN_VALID | HMM_PFN_WRITE,
      0n,
      0n,
      ...repeat(ZERO, PMD_PAGES - 3),
      ...repeat(0n, n - PMD_PAGES),
    ]);
  });

  it('the chunk ends at the range end', async () => {
    const env = await anonEnv();
    const c = await callRangeFault(env, BASE, 6, { pfnFlagsMask: V, input: [0n, 0n, V, 0n, 0n, 0n] });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual(faultsFrom(BASE + 2 * P, 4, false));
  });

  it('the chunk ends at the VMA end (the rest of the range is a gap: ERROR)', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, 6 * P);
    await touch(env, BASE, 1);
    const c = await callRangeFault(env, BASE, 8, { pfnFlagsMask: V, input: [0n, 0n, V, 0n, 0n, 0n, 0n, 0n] });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual(faultsFrom(BASE + 2 * P, 4, false));
    expect(words(c.pfns).slice(2)).toEqual([ZERO, ZERO, ZERO, ZERO, HMM_PFN_ERROR, HMM_PFN_ERROR]);
  });

  it('the first PTE that needs a fault sets the requirement: a write request write-faults every later page of the chunk', async () => {
    const env = await anonEnv();
    const input = repeat(0n, 10);
    input[3] = V | W;
    input[5] = V;
    const c = await callRangeFault(env, BASE, 10, { pfnFlagsMask: V | W, input });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual(faultsFrom(BASE + 3 * P, 7, true));
    expect(env.mm.rss[MM_ANONPAGES]).toBe(1 + 7);
    const tail = Array.from({ length: 7 }, (_, i) => BigInt(mustEntry(env, BASE + (3 + i) * P).hi));
    expect(words(c.pfns).slice(3)).toEqual(tail.map((pfn) => pfn | HMM_PFN_VALID | HMM_PFN_WRITE));
  });

  it('a read request first: the chunk is read-faulted, then the re-walk write-faults from the write request (COW of zero pages → -EBUSY)', async () => {
    const env = await anonEnv();
    const input = repeat(0n, 10);
    input[3] = V;
    input[5] = V | W;
    const c = await callRangeFault(env, BASE, 10, { pfnFlagsMask: V | W, input });
    expect(c.ret).toBe(-EBUSY);
    expect(c.faults).toEqual([...faultsFrom(BASE + 3 * P, 7, false), ...faultsFrom(BASE + 5 * P, 5, true)]);
    // Pages 6..9 only wanted read access (or nothing) but now hold private copies.
    for (let i = 5; i < 10; i++) expect(mustEntry(env, BASE + i * P).lo & PTE_WRITE).toBe(PTE_WRITE);
    expect(mustEntry(env, BASE + 4 * P).hi).toBe(ZERO_PFN);
  });
});

describe('per-page requests through pfn_flags_mask', () => {
  it('only the marked pages are faulted when each is the last page of its chunk', async () => {
    const env = await anonEnv();
    await touch(env, BASE + PMD_SIZE, 1); // both PMDs have PTE tables
    const start = BASE + PMD_SIZE - 4 * P;
    const input = repeat(0n, 8);
    input[3] = V;
    input[7] = V | W;
    const c = await callRangeFault(env, start, 8, { pfnFlagsMask: V | W, input });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual([
      { addr: BASE + PMD_SIZE - P, write: false },
      { addr: BASE + PMD_SIZE + 3 * P, write: true },
    ]);
    expect(words(c.pfns)).toEqual([
      0n,
      0n,
      0n,
      ZERO,
      BigInt(mustEntry(env, BASE + PMD_SIZE).hi) | HMM_PFN_VALID | HMM_PFN_WRITE,
      0n,
      0n,
      BigInt(mustEntry(env, BASE + PMD_SIZE + 3 * P).hi) | HMM_PFN_VALID | HMM_PFN_WRITE,
    ]);
  });

  it('unmarked pages before the first marked one are never faulted, and with no mark nothing is', async () => {
    const env = await anonEnv();
    const none = await callRangeFault(env, BASE, 16, { pfnFlagsMask: V | W });
    expect(none.ret).toBe(0);
    expect(none.faults).toEqual([]);
    const input = repeat(0n, 16);
    input[15] = V;
    const one = await callRangeFault(env, BASE, 16, { pfnFlagsMask: V | W, input });
    expect(one.ret).toBe(0);
    expect(one.faults).toEqual([{ addr: BASE + 15 * P, write: false }]);
    expect(words(one.pfns).slice(1)).toEqual([...repeat(0n, 14), ZERO]);
  });
});

describe('Documentation/mm/hmm.rst example: default REQ_FAULT, mask REQ_WRITE, one page asks for write', () => {
  /** The documented caller loop (§3.8); returns every hmm_range_fault result and the final words. */
  async function docLoop(env: Env, start: number, n: number, indexOfWrite: number) {
    const range: HmmRange = {
      notifier: env.sub,
      notifierSeq: 0,
      start,
      end: start + n * P,
      hmmPfns: new BigUint64Array(n),
      defaultFlags: HMM_PFN_REQ_FAULT,
      pfnFlagsMask: HMM_PFN_REQ_WRITE,
      devPrivateOwner: null,
    };
    const rets: number[] = [];
    for (let attempt = 0; attempt < 10; attempt++) {
      range.notifierSeq = await mmuIntervalReadBegin(env.sub);
      // Per-page requests: re-initialised on every attempt (§3.6).
      range.hmmPfns.fill(0n);
      range.hmmPfns[indexOfWrite] = HMM_PFN_REQ_WRITE;
      await mmapReadLock(env.mm);
      const ret = await hmmRangeFault(range);
      mmapReadUnlock(env.mm);
      rets.push(ret);
      if (ret === -EBUSY) continue;
      if (ret !== 0) break;
      if (mmuIntervalReadRetry(env.sub, range.notifierSeq)) continue;
      break;
    }
    return { rets, pfns: words(range.hmmPfns) };
  }

  it('none PTEs: read faults map zero pages, then the marked page is write-faulted to the chunk end (zero-page COW → one retry)', async () => {
    const env = await anonEnv();
    const { rets, pfns } = await docLoop(env, A, 4, 2);
    expect(rets).toEqual([-EBUSY, 0]);
    const pfn2 = mustEntry(env, A + 2 * P).hi;
    const pfn3 = mustEntry(env, A + 3 * P).hi;
    expect(pfns).toEqual([
      ZERO,
      ZERO,
      BigInt(pfn2) | HMM_PFN_VALID | HMM_PFN_WRITE,
      // Over-faulted: the write fault ran to the chunk end although this page only wanted read.
      BigInt(pfn3) | HMM_PFN_VALID | HMM_PFN_WRITE,
    ]);
  });

  it('no page table yet: the hole takes the OR of the requests, so every page is write-faulted in one call', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, 4 * P);
    const { rets, pfns } = await docLoop(env, BASE, 4, 2);
    expect(rets).toEqual([0]);
    const expected = [0, 1, 2, 3].map(
      (i) => BigInt(mustEntry(env, BASE + i * P).hi) | HMM_PFN_VALID | HMM_PFN_WRITE,
    );
    expect(pfns).toEqual(expected);
    expect(env.mm.rss[MM_ANONPAGES]).toBe(4);
  });
});

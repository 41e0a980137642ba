/**
 * The bad-input suite, API: misuse of the public surface is a {@link UsageError} naming the
 * argument and what was wrong (never a silent truncation, a wrong result or a raw TypeError).
 * Where the call mirrors a kernel call that returns an errno, the errno stays (docs/semantics.md,
 * "API misuse").
 */
import { describe, expect, it } from 'vitest';
import {
  EINVAL,
  explore,
  HMM_PFN_REQ_FAULT,
  type HmmRange,
  hmmRangeFault,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  type MachineOptions,
  MmuIntervalNotifier,
  mmapReadLock,
  mmapReadUnlock,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalSetSeq,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  UsageError,
} from '../../src/index.ts';

async function usage(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('no error was thrown');
}

const machine = (o: unknown): Machine => new Machine(o as MachineOptions);

describe('Machine options', () => {
  it.each([
    [{ memroy: 64 << 20 }, /^memroy: unknown Machine option \(did you mean memory\?\); known: memory, swap/],
    [{ seeed: 1 }, /^seeed: unknown Machine option \(did you mean seed\?\)/],
    [{ hugetlb: 2 }, /^hugetlb: unknown Machine option \(did you mean hugetlbPages\?\)/],
    [{ colour: 'red' }, /^colour: unknown Machine option; known: /],
    [{ memory: -1 }, /^memory: must be a non-negative integer, got -1$/],
    [{ memory: 1.5 }, /^memory: must be a non-negative integer, got 1.5$/],
    [{ memory: '256MiB' }, /^memory: must be a non-negative integer, got 256MiB$/],
    [{ memory: 0 }, /^memory: must be at least 8388608 bytes \(8 MiB\), got 0$/],
    [{ memory: 2 ** 50 }, /^memory: must be at most 274877906944 bytes \(256 GiB\), got 1125899906842624$/],
    [{ memory: Number.NaN }, /^memory: must be a non-negative integer, got NaN$/],
    [{ swap: 2 ** 50 }, /^swap: must be at most 68719476736 bytes \(64 GiB\)/],
    [{ swap: -4096 }, /^swap: must be a non-negative integer/],
    [
      { hugetlbPages: 1000 },
      /^hugetlbPages: 1000 huge pages do not fit in 268435456 bytes of memory \(at most 126/,
    ],
    [{ memory: 8 << 20, hugetlbPages: 3 }, /^hugetlbPages: 3 huge pages do not fit .*\(at most 2:/],
    [{ thp: 'sometimes' }, /^thp: must be 'always', 'madvise' or 'never', got sometimes$/],
    [{ seed: -1 }, /^seed: must be a non-negative integer, got -1$/],
    [{ mutant: 'X1' }, /^mutant: unknown mutant X1; known: /],
    [null, /^options: must be an object$/],
    ['big', /^options: must be an object$/],
  ])('%j', async (options, message) => {
    expect(await usage(() => machine(options))).toMatch(message);
  });

  it('the limits themselves are accepted', () => {
    expect(new Machine({ memory: 8 << 20, hugetlbPages: 2 }).hugetlb.nrHugePages).toBe(2);
    expect(new Machine({ hugetlbPages: 0, thp: 'never', seed: 0, swap: 0 }).memoryBytes).toBe(256 << 20);
  });
});

describe('a disposed machine', () => {
  it('creates no process (its arrays went back to the pool)', async () => {
    const m = new Machine({ memory: 16 << 20 });
    expect(m.dispose()).toBe(true);
    expect(await usage(() => m.createProcess())).toBe(
      'createProcess: the machine was disposed (dispose() gave its memory back)',
    );
  });
});

describe('dmirror devices', () => {
  it.each([
    [{ chunkSize: 3 }, /^addDmirrorDevice\(options.chunkSize\): must be a positive multiple of 2 MiB/],
    [{ chunkSize: -(2 << 20) }, /^addDmirrorDevice\(options.chunkSize\): must be a positive multiple/],
    [{ coherent: 'yes' }, /^addDmirrorDevice\(options.coherent\): must be a boolean, got yes$/],
    [null, /^addDmirrorDevice\(options\): must be an object$/],
  ])('addDmirrorDevice(%j)', async (options, message) => {
    const m = new Machine();
    expect(await usage(() => m.addDmirrorDevice(options as never))).toMatch(message);
  });

  it('a third device-private device', async () => {
    const m = new Machine();
    m.addDmirrorDevice();
    m.addDmirrorDevice();
    expect(await usage(() => m.addDmirrorDevice())).toMatch(
      /^addDmirrorDevice: the dmirror module has 4 devices: minors 0 and 1 \(device-private\) already exist$/,
    );
  });
});

async function mapped(pages = 4) {
  const m = new Machine({ memory: 16 << 20 });
  const p = await m.createProcess();
  const addr = await p.mmap(0, pages * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return { m, p, addr };
}

describe('CPU accesses', () => {
  it.each([
    [
      'store32',
      2 ** 32,
      /^store32\(value\): must fit in 32 bits \(-2\^31 ≤ value < 2\^32\), got 4294967296$/,
    ],
    ['store32', -(2 ** 31) - 1, /^store32\(value\): must fit in 32 bits .*got -2147483649$/],
    ['store32', 1.5, /^store32\(value\): must be an integer, got 1.5$/],
    ['store32', Number.NaN, /^store32\(value\): must be an integer, got NaN$/],
    ['store32', '7', /^store32\(value\): must be an integer, got string$/],
  ])('%s value %s', async (_, value, message) => {
    const { p, addr } = await mapped();
    expect(await usage(() => p.store32(addr, value as number))).toMatch(message);
    expect(await p.load32(addr)).toBe(0); // nothing was written
  });

  it('store32 takes both u32 and s32 values', async () => {
    const { p, addr } = await mapped();
    await p.store32(addr, -1);
    expect(await p.load32(addr)).toBe(0xffffffff);
    await p.store32(addr, 2 ** 32 - 1);
    expect(await p.load32(addr)).toBe(0xffffffff);
    await p.store32(addr, -(2 ** 31));
    expect(await p.load32(addr)).toBe(0x80000000);
  });

  it.each([
    [
      'store32',
      (p: Proc) => p.store32(-4, 1),
      /^store32\(addr\): must be a non-negative safe integer, got -4$/,
    ],
    ['load32', (p: Proc) => p.load32(-1), /^load32\(addr\): must be a non-negative safe integer, got -1$/],
    ['load32', (p: Proc) => p.load32(2 ** 60), /^load32\(addr\): must be a non-negative safe integer/],
    ['read', (p: Proc) => p.read(-PAGE_SIZE, 4), /^read\(addr\): must be a non-negative safe integer/],
    ['read', (p: Proc) => p.read(0x1000, -1), /^read\(length\): must not be negative, got -1$/],
    ['read', (p: Proc) => p.read(0x1000, 0.5), /^read\(length\): must be an integer, got 0.5$/],
    ['write', (p: Proc) => p.write(-1, new Uint8Array(1)), /^write\(addr\): must be a non-negative safe/],
    ['write', (p: Proc) => p.write(0x1000, [1] as never), /^write\(data\): data must be a Uint8Array$/],
    ['load32', (p: Proc) => p.load32('0x1000' as never), /^load32\(addr\): must be an integer, got string$/],
  ])('%s with a bad argument', async (_, call, message) => {
    const { p } = await mapped();
    expect(await usage(() => call(p))).toMatch(message);
  });

  it('a process that has exited', async () => {
    const { p, addr } = await mapped();
    await p.exit();
    expect(await usage(() => p.store32(addr, 1))).toMatch(/^store32: process \d+ has exited$/);
    expect(await usage(() => p.load32(addr))).toMatch(/^load32: process \d+ has exited$/);
  });

  it('a system call with a bad argument keeps the kernel errno (no usage error)', async () => {
    const { p } = await mapped();
    expect(await p.mmap(0, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)).toBe(-EINVAL);
    expect(await p.munmap(0x1001, PAGE_SIZE)).toBe(-EINVAL);
  });
});

type Proc = Awaited<ReturnType<typeof mapped>>['p'];

async function mirrored() {
  const { m, p, addr } = await mapped();
  const sub = new MmuIntervalNotifier();
  await mmuIntervalNotifierInsert(sub, p.mm, addr, 4 * PAGE_SIZE, {
    invalidate(s, _r, cur) {
      mmuIntervalSetSeq(s, cur);
      return true;
    },
  });
  const range: HmmRange = {
    notifier: sub,
    notifierSeq: await mmuIntervalReadBegin(sub),
    start: addr,
    end: addr + 4 * PAGE_SIZE,
    hmmPfns: new BigUint64Array(4),
    defaultFlags: HMM_PFN_REQ_FAULT,
    pfnFlagsMask: 0n,
    devPrivateOwner: null,
  };
  return { m, p, addr, sub, range };
}

async function fault(range: HmmRange, p: Proc): Promise<number> {
  await mmapReadLock(p.mm);
  try {
    return await hmmRangeFault(range);
  } finally {
    mmapReadUnlock(p.mm);
  }
}

describe('hmmRangeFault and notifiers', () => {
  it('works on the inserted notifier (the baseline of the cases below)', async () => {
    const { p, range } = await mirrored();
    expect(await fault(range, p)).toBe(0);
  });

  it('a removed notifier', async () => {
    const { p, sub, range } = await mirrored();
    await mmuIntervalNotifierRemove(sub);
    expect(await usage(() => fault(range, p))).toBe(
      'range.notifier: was removed (mmuIntervalNotifierRemove): insert it again before hmmRangeFault',
    );
  });

  it('removing twice', async () => {
    const { sub } = await mirrored();
    await mmuIntervalNotifierRemove(sub);
    expect(await usage(() => mmuIntervalNotifierRemove(sub))).toMatch(
      /^mmuIntervalNotifierRemove\(sub\): the subscription is idle, not inserted$/,
    );
  });

  it('a notifier never inserted', async () => {
    const { p, range } = await mirrored();
    expect(await usage(() => fault({ ...range, notifier: new MmuIntervalNotifier() }, p))).toMatch(
      /^range.notifier: must be an inserted MmuIntervalNotifier$/,
    );
  });

  it.each([
    [
      'unaligned start',
      (r: HmmRange) => ({ ...r, start: r.start + 1 }),
      /^range.start\/end: must be page-aligned/,
    ],
    [
      'short hmmPfns',
      (r: HmmRange) => ({ ...r, hmmPfns: new BigUint64Array(2) }),
      /^range.hmmPfns: holds 2 words but the range has 4 pages$/,
    ],
    [
      'hmmPfns of numbers',
      (r: HmmRange) => ({ ...r, hmmPfns: [0, 0, 0, 0] as never }),
      /^range.hmmPfns: must be a BigUint64Array$/,
    ],
    [
      'flags as numbers',
      (r: HmmRange) => ({ ...r, defaultFlags: 1 as never }),
      /^range.defaultFlags\/pfnFlagsMask: must be bigint$/,
    ],
    [
      'no sequence',
      (r: HmmRange) => ({ ...r, notifierSeq: undefined as never }),
      /^range.notifierSeq: must be the number from mmuIntervalReadBegin$/,
    ],
    [
      'outside the interval',
      (r: HmmRange) => ({ ...r, end: r.end + PAGE_SIZE, hmmPfns: new BigUint64Array(5) }),
      /^range: \[\d+, \d+\) is not inside the notifier's interval$/,
    ],
    ['not an object', () => null as never, /^hmmRangeFault\(range\): must be an HmmRange object$/],
  ])('%s', async (_, change, message) => {
    const { p, range } = await mirrored();
    expect(await usage(() => fault(change(range), p))).toMatch(message);
  });
});

describe('explore() options', () => {
  const scenario = {
    name: 'two counters',
    machine: { memory: 16 << 20, hugetlbPages: 0 },
    setup: () => ({ n: 0 }),
    threads: {
      a: async (st: { n: number }) => {
        st.n++;
      },
      b: async (st: { n: number }) => {
        st.n++;
      },
    },
  };

  it.each([
    [
      { schedule: 10 },
      /^explore\(options.schedule\): unknown explore\(\) option \(did you mean schedules\?\)$/,
    ],
    [
      { stratgey: 'pct' },
      /^explore\(options.stratgey\): unknown explore\(\) option \(did you mean strategy\?\)$/,
    ],
    [{ colour: 'red' }, /^explore\(options.colour\): unknown explore\(\) option$/],
  ])('%o', async (extra, message) => {
    expect(await usage(() => explore({ ...scenario, ...extra } as never))).toMatch(message);
  });

  it('every documented option is accepted', async () => {
    const r = await explore({ ...scenario, strategy: 'random', schedules: 2, seed: 3, shrink: false });
    expect(r.schedules).toBe(2);
  });
});

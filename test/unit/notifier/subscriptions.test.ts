import { describe, expect, it } from 'vitest';
import { ULONG_MAX } from '../../../src/mm/constants.ts';
import {
  MMU_NOTIFY_MIGRATE,
  MMU_NOTIFY_RELEASE,
  type MmuNotifierRange,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
  mmuNotifierRelease,
} from '../../../src/mm/mmu-notifier.ts';
import {
  MmuIntervalNotifier,
  type MmuIntervalNotifierOps,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
} from '../../../src/notifier/interval-notifier.ts';
import { MmuNotifierSubscriptions, mmuNotifierRangeBlockable } from '../../../src/notifier/subscriptions.ts';
import { EAGAIN } from '../../../src/sim/errno.ts';
import { UsageError } from '../../../src/sim/errors.ts';
import { Mutex } from '../../../src/sim/mutex.ts';
import { clearRange, recordingOps, setup, subsOf } from './helpers.ts';

const A = 0x10000;
const B = 0x20000;
const C = 0x30000;
const LEN = 0x1000;

async function insert(
  mm: Parameters<typeof mmuIntervalNotifierInsert>[1],
  start: number,
  ops: MmuIntervalNotifierOps,
  length = LEN,
): Promise<MmuIntervalNotifier> {
  const sub = new MmuIntervalNotifier();
  expect(await mmuIntervalNotifierInsert(sub, mm, start, length, ops)).toBe(0);
  return sub;
}

describe('MmuNotifierSubscriptions: the record', () => {
  it('is installed lazily, on the first insertion, with invalidate_seq 2 and nothing active', async () => {
    const { mm } = setup();
    expect(mm.notifierSubscriptions).toBeNull();
    // Without a record the mm's hooks do nothing.
    const r = clearRange(mm, 0, ULONG_MAX);
    expect(await mmuNotifierInvalidateRangeStart(r)).toBe(0);
    mmuNotifierInvalidateRangeEnd(r);
    await insert(mm, A, recordingOps('a', []));
    const subs = mm.notifierSubscriptions;
    expect(subs).toBeInstanceOf(MmuNotifierSubscriptions);
    expect(subsOf(mm).invalidateSeq).toBe(2);
    expect(subsOf(mm).activeInvalidateRanges).toBe(0);
    expect(subsOf(mm).itree.size).toBe(1);
    expect(subsOf(mm).deferredList).toEqual([]);
    // A second insertion reuses it.
    await insert(mm, B, recordingOps('b', []));
    expect(mm.notifierSubscriptions).toBe(subs);
    expect(subsOf(mm).itree.size).toBe(2);
  });

  it('mmuNotifierRangeBlockable reads the range flag', () => {
    const { mm } = setup();
    expect(mmuNotifierRangeBlockable(clearRange(mm, 0, LEN, true))).toBe(true);
    expect(mmuNotifierRangeBlockable(clearRange(mm, 0, LEN, false))).toBe(false);
  });
});

describe('invalidateRangeStart / invalidateRangeEnd: the sequence-number state machine', () => {
  it('an epoch makes seq odd, hands the odd value to the callback, and ends even: +2 per epoch', async () => {
    const { mm } = setup();
    const log: string[] = [];
    const sub = await insert(mm, A, recordingOps('a', log));
    const subs = subsOf(mm);
    expect(sub.invalidateSeq).toBe(1); // mm seq - 1 when inserted idle
    for (let epoch = 0; epoch < 3; epoch++) {
      const r = clearRange(mm, A, A + LEN);
      expect(await mmuNotifierInvalidateRangeStart(r)).toBe(0);
      expect(subs.invalidateSeq).toBe(3 + 2 * epoch);
      expect(subs.isInvalidating()).toBe(true);
      expect(subs.activeInvalidateRanges).toBe(1);
      expect(sub.invalidateSeq).toBe(3 + 2 * epoch);
      mmuNotifierInvalidateRangeEnd(r);
      expect(subs.invalidateSeq).toBe(4 + 2 * epoch);
      expect(subs.activeInvalidateRanges).toBe(0);
    }
    expect(log).toEqual([
      'a CLEAR [0x10000,0x11000) cur=3',
      'a CLEAR [0x10000,0x11000) cur=5',
      'a CLEAR [0x10000,0x11000) cur=7',
    ]);
  });

  it('overlapping invalidations share one odd cur; seq turns even only when the last one ends', async () => {
    const { mm } = setup();
    const log: string[] = [];
    const a = await insert(mm, A, recordingOps('a', log));
    const b = await insert(mm, B, recordingOps('b', log));
    const subs = subsOf(mm);
    const r1 = clearRange(mm, A, A + LEN);
    const r2 = clearRange(mm, B, B + LEN);
    const r3 = clearRange(mm, A, B + LEN);
    expect(await mmuNotifierInvalidateRangeStart(r1)).toBe(0);
    expect(await mmuNotifierInvalidateRangeStart(r2)).toBe(0);
    expect(await mmuNotifierInvalidateRangeStart(r3)).toBe(0);
    expect(subs.activeInvalidateRanges).toBe(3);
    expect(log).toEqual([
      'a CLEAR [0x10000,0x11000) cur=3',
      'b CLEAR [0x20000,0x21000) cur=3',
      'a CLEAR [0x10000,0x21000) cur=3',
      'b CLEAR [0x10000,0x21000) cur=3',
    ]);
    mmuNotifierInvalidateRangeEnd(r1);
    expect(subs.invalidateSeq).toBe(3);
    mmuNotifierInvalidateRangeEnd(r3);
    expect(subs.invalidateSeq).toBe(3);
    mmuNotifierInvalidateRangeEnd(r2);
    expect(subs.invalidateSeq).toBe(4);
    expect(a.invalidateSeq).toBe(3);
    expect(b.invalidateSeq).toBe(3);
  });

  it('an invalidation that hits nothing changes no seq, calls nothing, and shares one resolved promise', async () => {
    const { mm } = setup();
    const log: string[] = [];
    const sub = await insert(mm, B, recordingOps('b', log));
    const subs = subsOf(mm);
    const r1 = clearRange(mm, A, A + LEN);
    const r2 = clearRange(mm, C, C + LEN);
    // The end is exclusive: [A, B) stops right before the subscription.
    const r3 = clearRange(mm, A, B);
    const p1 = subs.invalidateRangeStart(r1);
    const p2 = subs.invalidateRangeStart(r2);
    const p3 = subs.invalidateRangeStart(r3);
    expect(p1).toBe(p2); // the no-hit path allocates no promise
    expect(p1).toBe(p3);
    expect(await p1).toBe(0);
    expect(subs.activeInvalidateRanges).toBe(3);
    expect(subs.invalidateSeq).toBe(2);
    subs.invalidateRangeEnd(r1);
    subs.invalidateRangeEnd(r2);
    subs.invalidateRangeEnd(r3);
    expect(subs.invalidateSeq).toBe(2);
    expect(subs.activeInvalidateRanges).toBe(0);
    expect(sub.invalidateSeq).toBe(1);
    expect(log).toEqual([]);
    // One byte further does hit it.
    const r4 = clearRange(mm, A, B + 1);
    expect(await mmuNotifierInvalidateRangeStart(r4)).toBe(0);
    mmuNotifierInvalidateRangeEnd(r4);
    expect(log).toEqual(['b CLEAR [0x10000,0x20001) cur=3']);
    expect(subs.invalidateSeq).toBe(4);
  });

  it('a non-hitting range running alongside an epoch keeps the epoch open until it ends too', async () => {
    const { mm } = setup();
    await insert(mm, A, recordingOps('a', []));
    const subs = subsOf(mm);
    const miss = clearRange(mm, C, C + LEN);
    const hit = clearRange(mm, A, A + LEN);
    expect(await mmuNotifierInvalidateRangeStart(miss)).toBe(0);
    expect(subs.invalidateSeq).toBe(2);
    expect(await mmuNotifierInvalidateRangeStart(hit)).toBe(0);
    expect(subs.invalidateSeq).toBe(3);
    mmuNotifierInvalidateRangeEnd(hit);
    expect(subs.invalidateSeq).toBe(3);
    mmuNotifierInvalidateRangeEnd(miss);
    expect(subs.invalidateSeq).toBe(4);
  });

  it('calls overlapping subscriptions in start order with the unclipped range, skipping the others', async () => {
    const { mm } = setup();
    const log: string[] = [];
    await insert(mm, C, recordingOps('c', log));
    await insert(mm, A, recordingOps('a', log));
    await insert(mm, B, recordingOps('b', log), 0x10);
    await insert(mm, A, recordingOps('a2', log), 0x2000);
    await insert(mm, 0x100000, recordingOps('far', log));
    const r = mmuNotifierRangeInit(mm, MMU_NOTIFY_MIGRATE, A + 0x800, C + 1, 'owner-cookie');
    const seen: MmuNotifierRange[] = [];
    await insert(mm, B + 0x8, {
      invalidate(_sub, range) {
        seen.push(range);
        return true;
      },
    });
    expect(await mmuNotifierInvalidateRangeStart(r)).toBe(0);
    mmuNotifierInvalidateRangeEnd(r);
    expect(log).toEqual([
      'a MIGRATE [0x10800,0x30001) cur=3',
      'a2 MIGRATE [0x10800,0x30001) cur=3',
      'b MIGRATE [0x10800,0x30001) cur=3',
      'c MIGRATE [0x10800,0x30001) cur=3',
    ]);
    expect(seen).toEqual([r]);
    expect(seen[0]!.owner).toBe('owner-cookie');
  });

  it('awaits a callback that sleeps on the driver lock before calling the next one', async () => {
    const { kernel, mm } = setup(true);
    const log: string[] = [];
    const lock = new Mutex(kernel.sched, 'driver');
    const ops: MmuIntervalNotifierOps = {
      async invalidate(sub, _range, cur) {
        log.push('a: lock');
        await lock.lock();
        log.push('a: locked');
        mmuIntervalSetSeq(sub, cur);
        lock.unlock();
        return true;
      },
    };
    await insert(mm, A, ops);
    await insert(mm, B, recordingOps('b', log));
    await lock.lock();
    const t = kernel.sched.spawn('invalidator', async () => {
      const r = clearRange(mm, A, C);
      log.push('start');
      const ret = await mmuNotifierInvalidateRangeStart(r);
      log.push(`start returned ${ret}`);
      mmuNotifierInvalidateRangeEnd(r);
    });
    // Let the invalidator run until it sleeps on the lock.
    for (let i = 0; i < 10; i++) await kernel.sched.yield('main');
    log.push('main: unlock');
    lock.unlock();
    await kernel.sched.join(t);
    expect(log).toEqual([
      'start',
      'a: lock',
      'main: unlock',
      'a: locked',
      'b CLEAR [0x10000,0x30000) cur=3',
      'start returned 0',
    ]);
    expect(subsOf(mm).invalidateSeq).toBe(4);
  });

  it('a callback result that is not a boolean is a usage error', async () => {
    const { mm } = setup();
    await insert(mm, A, { invalidate: (() => undefined) as unknown as MmuIntervalNotifierOps['invalidate'] });
    await expect(mmuNotifierInvalidateRangeStart(clearRange(mm, A, A + 1))).rejects.toThrow(UsageError);
    const { mm: mm2 } = setup();
    await insert(mm2, A, { invalidate: (async () => 1) as unknown as MmuIntervalNotifierOps['invalidate'] });
    await expect(mmuNotifierInvalidateRangeStart(clearRange(mm2, A, A + 1))).rejects.toThrow(UsageError);
  });

  it('the kernel may be preempted before a callback: read_begin then returns at once and read_retry catches it', async () => {
    const { kernel, mm } = setup(true);
    const log: string[] = [];
    const sub = await insert(mm, A, recordingOps('a', log));
    const subs = subsOf(mm);
    const r = clearRange(mm, A, A + LEN);
    const inv = kernel.sched.spawn('invalidator', async () => {
      await mmuNotifierInvalidateRangeStart(r);
      log.push('start returned');
      mmuNotifierInvalidateRangeEnd(r);
      log.push('end');
    });
    // Main yields once: the invalidator opens the epoch and is preempted before its callback.
    await kernel.sched.yield('main');
    expect(subs.invalidateSeq).toBe(3);
    expect(subs.activeInvalidateRanges).toBe(1);
    expect(log).toEqual([]);
    expect(sub.invalidateSeq).toBe(1);
    // The subscription's seq is not the open epoch's yet, so read_begin does not sleep.
    const seq = await mmuIntervalReadBegin(sub);
    log.push(`read_begin ${seq}`);
    await kernel.sched.join(inv);
    log.push(`read_retry ${mmuIntervalReadRetry(sub, seq)}`);
    expect(log).toEqual([
      'read_begin 1',
      'a CLEAR [0x10000,0x11000) cur=3',
      'start returned',
      'end',
      'read_retry true',
    ]);
  });
});

describe('non-blockable ranges and kernel warnings', () => {
  it('false from a non-blockable range: -EAGAIN, later callbacks skipped, end already run', async () => {
    const { mm } = setup();
    const log: string[] = [];
    const a = await insert(mm, A, recordingOps('a', log));
    await insert(mm, B, recordingOps('b', log, { result: false, setSeq: false }));
    const c = await insert(mm, C, recordingOps('c', log));
    const subs = subsOf(mm);
    const r = clearRange(mm, A, C + LEN, false);
    expect(await mmuNotifierInvalidateRangeStart(r)).toBe(-EAGAIN);
    expect(log).toEqual(['a CLEAR [0x10000,0x31000) cur=3', 'b CLEAR [0x10000,0x31000) cur=3']);
    expect(subs.invalidateSeq).toBe(4);
    expect(subs.activeInvalidateRanges).toBe(0);
    expect(subs.warnings).toEqual([]);
    // The subscription called before the failure keeps the epoch's seq (harmless); the skipped one does not.
    expect(a.invalidateSeq).toBe(3);
    expect(c.invalidateSeq).toBe(1);
    // An initiator that calls end anyway gets a kernel warning, and nothing underflows.
    mmuNotifierInvalidateRangeEnd(r);
    expect(subs.activeInvalidateRanges).toBe(0);
    expect(subs.invalidateSeq).toBe(4);
    expect(subs.warnings).toHaveLength(1);
    expect(subs.warnings[0]).toMatch(/invalidate_range_end without a matching invalidate_range_start/);
  });

  it('-EAGAIN inside a wider epoch leaves the epoch open for the other ranges', async () => {
    const { mm } = setup();
    await insert(mm, A, recordingOps('a', []));
    await insert(mm, B, recordingOps('b', [], { result: false }));
    const subs = subsOf(mm);
    const outer = clearRange(mm, A, A + LEN);
    expect(await mmuNotifierInvalidateRangeStart(outer)).toBe(0);
    expect(await mmuNotifierInvalidateRangeStart(clearRange(mm, B, B + LEN, false))).toBe(-EAGAIN);
    expect(subs.invalidateSeq).toBe(3);
    expect(subs.activeInvalidateRanges).toBe(1);
    mmuNotifierInvalidateRangeEnd(outer);
    expect(subs.invalidateSeq).toBe(4);
  });

  it('false from a blockable range is a kernel warning: recorded, not thrown, next callbacks still run', async () => {
    const { kernel, mm } = setup();
    const log: string[] = [];
    const events: unknown[] = [];
    kernel.bus.subscribe((e) => {
      if (e.type === 'instant') events.push(e);
    });
    await insert(mm, A, recordingOps('a', log, { result: false }));
    await insert(mm, B, recordingOps('b', log));
    const subs = subsOf(mm);
    const r = clearRange(mm, A, C);
    expect(await mmuNotifierInvalidateRangeStart(r)).toBe(0);
    expect(log).toEqual(['a CLEAR [0x10000,0x30000) cur=3', 'b CLEAR [0x10000,0x30000) cur=3']);
    expect(subs.warnings).toHaveLength(1);
    expect(subs.warnings[0]).toMatch(/returned false for a blockable range/);
    expect(events).toHaveLength(1);
    expect(subs.invalidateSeq).toBe(3);
    mmuNotifierInvalidateRangeEnd(r);
    expect(subs.invalidateSeq).toBe(4);
  });
});

describe('release', () => {
  it('gives every subscription in the tree one blockable RELEASE over [0, ULONG_MAX) as an epoch', async () => {
    const { mm } = setup();
    const log: string[] = [];
    const ranges: MmuNotifierRange[] = [];
    const seqs: number[] = [];
    const ops: MmuIntervalNotifierOps = {
      invalidate(sub, range, cur) {
        ranges.push(range);
        seqs.push(cur);
        mmuIntervalSetSeq(sub, cur);
        return true;
      },
    };
    await insert(mm, C, ops);
    await insert(mm, A, ops);
    const b = await insert(mm, B, recordingOps('b', log));
    const subs = subsOf(mm);
    await mmuNotifierRelease(mm);
    expect(ranges).toHaveLength(2);
    expect(log).toEqual([`b RELEASE [0x0,0x${ULONG_MAX.toString(16)}) cur=3`]);
    for (const r of ranges) {
      expect(r.event).toBe(MMU_NOTIFY_RELEASE);
      expect(r.start).toBe(0);
      expect(r.end).toBe(ULONG_MAX);
      expect(r.blockable).toBe(true);
      expect(r.owner).toBeNull();
      expect(r.mm).toBe(mm);
    }
    expect(seqs).toEqual([3, 3]);
    expect(b.invalidateSeq).toBe(3);
    expect(subs.invalidateSeq).toBe(4);
    expect(subs.activeInvalidateRanges).toBe(0);
    // Subscriptions stay registered; the driver removes them later.
    expect(subs.itree.size).toBe(3);
    await mmuIntervalNotifierRemove(b);
    expect(subs.itree.size).toBe(2);
  });

  it('a RELEASE callback returning false is a kernel warning', async () => {
    const { mm } = setup();
    await insert(mm, A, recordingOps('a', [], { result: false }));
    await mmuNotifierRelease(mm);
    expect(subsOf(mm).warnings).toHaveLength(1);
    expect(subsOf(mm).warnings[0]).toMatch(/RELEASE/);
    expect(subsOf(mm).invalidateSeq).toBe(4);
  });

  it('release on an mm whose subscriptions were all removed calls nothing and keeps seq', async () => {
    const { mm } = setup();
    const log: string[] = [];
    const a = await insert(mm, A, recordingOps('a', log));
    await mmuIntervalNotifierRemove(a);
    await mmuNotifierRelease(mm);
    expect(log).toEqual([]);
    expect(subsOf(mm).invalidateSeq).toBe(2);
    expect(subsOf(mm).activeInvalidateRanges).toBe(0);
  });
});

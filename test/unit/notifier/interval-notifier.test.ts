import { describe, expect, it } from 'vitest';
import { ULONG_MAX } from '../../../src/mm/constants.ts';
import { mmput } from '../../../src/mm/exit.ts';
import type { MmStruct } from '../../../src/mm/mm-struct.ts';
import {
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
} from '../../../src/mm/mmu-notifier.ts';
import {
  MmuIntervalNotifier,
  type MmuIntervalNotifierOps,
  mmuIntervalCheckRetry,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierInsertLocked,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
} from '../../../src/notifier/interval-notifier.ts';
import { EOVERFLOW } from '../../../src/sim/errno.ts';
import { UsageError } from '../../../src/sim/errors.ts';
import { clearRange, recordingOps, setup, subsOf } from './helpers.ts';

const A = 0x10000;
const B = 0x20000;
const C = 0x30000;
const LEN = 0x1000;

async function insert(mm: MmStruct, start: number, ops: MmuIntervalNotifierOps, length = LEN) {
  const sub = new MmuIntervalNotifier();
  expect(await mmuIntervalNotifierInsert(sub, mm, start, length, ops)).toBe(0);
  return sub;
}

describe('mmuIntervalNotifierInsert', () => {
  it('inserts into the tree at once when idle, with seq = mm seq - 1, and takes an mm_count reference', async () => {
    const { mm } = setup();
    const ops = recordingOps('a', []);
    const sub = new MmuIntervalNotifier();
    expect(sub.mm).toBeNull();
    expect(sub.state).toBe('idle');
    const mmCount = mm.mmCount;
    expect(await mmuIntervalNotifierInsert(sub, mm, A, 3 * LEN, ops)).toBe(0);
    expect(sub.mm).toBe(mm);
    expect(sub.ops).toBe(ops);
    expect(sub.start).toBe(A);
    expect(sub.last).toBe(A + 3 * LEN - 1);
    expect(sub.inTree).toBe(true);
    expect(sub.state).toBe('inserted');
    expect(sub.invalidateSeq).toBe(1);
    expect(mm.mmCount).toBe(mmCount + 1);
    expect(mm.mmUsers).toBe(1);
    // After two epochs a new subscription starts at the new seq - 1, still odd.
    for (let i = 0; i < 2; i++) {
      const r = clearRange(mm, A, A + 1);
      await mmuNotifierInvalidateRangeStart(r);
      mmuNotifierInvalidateRangeEnd(r);
    }
    expect(subsOf(mm).invalidateSeq).toBe(6);
    const later = await insert(mm, C, recordingOps('c', []));
    expect(later.invalidateSeq).toBe(5);
    expect(mm.mmCount).toBe(mmCount + 2);
  });

  it('during a hitting epoch: deferred (no callbacks, seq = mm seq) and put in the tree at epoch end', async () => {
    const { mm } = setup();
    const log: string[] = [];
    await insert(mm, A, recordingOps('a', log));
    const subs = subsOf(mm);
    const r = clearRange(mm, A, C + LEN);
    expect(await mmuNotifierInvalidateRangeStart(r)).toBe(0);
    const late = await insert(mm, C, recordingOps('late', log));
    expect(late.inTree).toBe(false);
    expect(subs.deferredList).toEqual([late]);
    expect(late.invalidateSeq).toBe(3);
    expect(late.invalidateSeq).toBe(subs.invalidateSeq);
    // Another range of the same epoch covering it does not reach it.
    const r2 = clearRange(mm, C, C + LEN);
    expect(await mmuNotifierInvalidateRangeStart(r2)).toBe(0);
    mmuNotifierInvalidateRangeEnd(r2);
    expect(late.inTree).toBe(false);
    mmuNotifierInvalidateRangeEnd(r);
    expect(late.inTree).toBe(true);
    expect(subs.deferredList).toEqual([]);
    expect(subs.invalidateSeq).toBe(4);
    expect(log).toEqual(['a CLEAR [0x10000,0x31000) cur=3']);
    // The next epoch reaches it.
    const r3 = clearRange(mm, C, C + LEN);
    await mmuNotifierInvalidateRangeStart(r3);
    mmuNotifierInvalidateRangeEnd(r3);
    expect(log).toEqual(['a CLEAR [0x10000,0x31000) cur=3', 'late CLEAR [0x30000,0x31000) cur=5']);
  });

  it('deferred insertions are applied from the list head, so the last deferred of equal starts comes first', async () => {
    const { mm } = setup();
    const log: string[] = [];
    await insert(mm, A, recordingOps('a', log));
    const r = clearRange(mm, A, A + LEN);
    await mmuNotifierInvalidateRangeStart(r);
    await insert(mm, C, recordingOps('first', log));
    await insert(mm, C, recordingOps('second', log));
    mmuNotifierInvalidateRangeEnd(r);
    const r2 = clearRange(mm, C, C + 1);
    await mmuNotifierInvalidateRangeStart(r2);
    mmuNotifierInvalidateRangeEnd(r2);
    expect(log.slice(1)).toEqual([
      'second CLEAR [0x30000,0x30001) cur=5',
      'first CLEAR [0x30000,0x30001) cur=5',
    ]);
  });

  it('while only non-hitting ranges are active: seq forced odd, inserted now, seq = mm seq', async () => {
    const { mm } = setup();
    const log: string[] = [];
    await insert(mm, A, recordingOps('a', log));
    const subs = subsOf(mm);
    const miss = clearRange(mm, C, C + LEN);
    expect(await mmuNotifierInvalidateRangeStart(miss)).toBe(0);
    expect(subs.invalidateSeq).toBe(2);
    const sub = await insert(mm, C, recordingOps('c', log));
    expect(subs.invalidateSeq).toBe(3);
    expect(sub.inTree).toBe(true);
    expect(sub.invalidateSeq).toBe(3);
    expect(subs.deferredList).toEqual([]);
    // It is in the tree already: a range started now calls it, with the same odd seq.
    const hit = clearRange(mm, C, C + 1);
    await mmuNotifierInvalidateRangeStart(hit);
    expect(log).toEqual(['c CLEAR [0x30000,0x30001) cur=3']);
    mmuNotifierInvalidateRangeEnd(hit);
    expect(subs.invalidateSeq).toBe(3);
    mmuNotifierInvalidateRangeEnd(miss);
    expect(subs.invalidateSeq).toBe(4);
  });

  it('returns -EOVERFLOW for length 0 or a last byte beyond 2^64 - 1, taking no reference', async () => {
    const { mm } = setup();
    const ops = recordingOps('x', []);
    const mmCount = mm.mmCount;
    const sub = new MmuIntervalNotifier();
    expect(await mmuIntervalNotifierInsert(sub, mm, A, 0, ops)).toBe(-EOVERFLOW);
    // As in the kernel, the record is created before the range is checked.
    expect(subsOf(mm).itree.size).toBe(0);
    expect(await mmuIntervalNotifierInsert(sub, mm, 2 ** 64 - 4096, 4097, ops)).toBe(-EOVERFLOW);
    expect(await mmuIntervalNotifierInsert(sub, mm, ULONG_MAX, 2, ops)).toBe(-EOVERFLOW);
    expect(await mmuIntervalNotifierInsert(sub, mm, 2, ULONG_MAX, ops)).toBe(-EOVERFLOW);
    expect(await mmuIntervalNotifierInsert(sub, mm, 2 ** 63, 2 ** 63 + 2048, ops)).toBe(-EOVERFLOW);
    expect(sub.state).toBe('idle');
    expect(sub.mm).toBeNull();
    expect(mm.mmCount).toBe(mmCount);
    expect(subsOf(mm).itree.size).toBe(0);
    // The largest ones that fit.
    const fits: [number, number][] = [
      [2 ** 64 - 4096, 4096],
      [ULONG_MAX, 1],
      [1, ULONG_MAX],
      [0, 2 ** 64 - 4096], // dmirror's whole-address-space notifier
      [2 ** 63, 2 ** 63],
    ];
    for (const [start, length] of fits) {
      const s = new MmuIntervalNotifier();
      expect(await mmuIntervalNotifierInsert(s, mm, start, length, ops)).toBe(0);
    }
    expect(subsOf(mm).itree.size).toBe(fits.length);
    expect(mm.mmCount).toBe(mmCount + fits.length);
  });

  it('takes the mmap lock for writing to create the record, and not once it exists', async () => {
    const { kernel, mm } = setup();
    const log: string[] = [];
    const holder = kernel.sched.spawn('holder', async () => {
      await mm.mmapLock.downRead();
      log.push('holder: read locked');
      await kernel.sched.sleep(1000);
      log.push('holder: unlock');
      mm.mmapLock.upRead();
    });
    const inserter = kernel.sched.spawn('inserter', async () => {
      log.push('insert');
      const sub = new MmuIntervalNotifier();
      const ret = await mmuIntervalNotifierInsert(sub, mm, A, LEN, recordingOps('a', []));
      log.push(`inserted ${ret}`);
    });
    await kernel.sched.join(holder);
    await kernel.sched.join(inserter);
    expect(log).toEqual(['holder: read locked', 'insert', 'holder: unlock', 'inserted 0']);
    // With the record in place another thread's write lock does not delay an insertion.
    await mm.mmapLock.downWrite();
    const t = kernel.sched.spawn('second', async () =>
      mmuIntervalNotifierInsert(new MmuIntervalNotifier(), mm, B, LEN, recordingOps('b', [])),
    );
    const done = kernel.sched.spawn('check', () => t.state);
    expect(await kernel.sched.join(done)).toBe('done');
    expect(await kernel.sched.join(t)).toBe(0);
    mm.mmapLock.upWrite();
  });

  it('two threads inserting first at once create a single record', async () => {
    const { kernel, mm } = setup(true);
    const subs: MmuIntervalNotifier[] = [];
    const threads = [A, B, C].map((start) =>
      kernel.sched.spawn(`ins ${start}`, async () => {
        const sub = new MmuIntervalNotifier();
        subs.push(sub);
        return mmuIntervalNotifierInsert(sub, mm, start, LEN, recordingOps('x', []));
      }),
    );
    for (const t of threads) expect(await kernel.sched.join(t)).toBe(0);
    expect(subsOf(mm).itree.size).toBe(3);
    expect(subs.every((s) => s.inTree)).toBe(true);
  });

  it('insert with the mmap lock held is a usage error; insert_locked requires the write lock', async () => {
    const { mm } = setup();
    const ops = recordingOps('a', []);
    await mm.mmapLock.downRead();
    await expect(mmuIntervalNotifierInsert(new MmuIntervalNotifier(), mm, A, LEN, ops)).rejects.toThrow(
      UsageError,
    );
    await expect(mmuIntervalNotifierInsertLocked(new MmuIntervalNotifier(), mm, A, LEN, ops)).rejects.toThrow(
      UsageError,
    );
    mm.mmapLock.upRead();
    expect(mm.notifierSubscriptions).toBeNull();
    await mm.mmapLock.downWrite();
    await expect(mmuIntervalNotifierInsert(new MmuIntervalNotifier(), mm, A, LEN, ops)).rejects.toThrow(
      UsageError,
    );
    const sub = new MmuIntervalNotifier();
    expect(await mmuIntervalNotifierInsertLocked(sub, mm, A, LEN, ops)).toBe(0);
    mm.mmapLock.upWrite();
    expect(subsOf(mm).invalidateSeq).toBe(2);
    expect(sub.inTree).toBe(true);
    expect(sub.invalidateSeq).toBe(1);
    expect(mm.mmapLock.isLocked()).toBe(false);
  });

  it('rejects a dead mm, a subscription inserted twice, and malformed arguments', async () => {
    const { kernel, mm } = setup();
    const ops = recordingOps('a', []);
    const dead = kernel.newMm();
    dead.mmUsers = 0;
    await expect(mmuIntervalNotifierInsert(new MmuIntervalNotifier(), dead, A, LEN, ops)).rejects.toThrow(
      /no users left/,
    );
    expect(dead.mmapLock.isLocked()).toBe(false);
    const sub = await insert(mm, A, ops);
    await expect(mmuIntervalNotifierInsert(sub, mm, B, LEN, ops)).rejects.toThrow(/already inserted/);
    const bad: [unknown, unknown, unknown, unknown, unknown][] = [
      [{}, mm, A, LEN, ops],
      [new MmuIntervalNotifier(), {}, A, LEN, ops],
      [new MmuIntervalNotifier(), mm, -1, LEN, ops],
      [new MmuIntervalNotifier(), mm, 1.5, LEN, ops],
      [new MmuIntervalNotifier(), mm, A, Number.NaN, ops],
      [new MmuIntervalNotifier(), mm, A, 2 ** 65, ops],
      [new MmuIntervalNotifier(), mm, A, LEN, {}],
      [new MmuIntervalNotifier(), mm, A, LEN, null],
    ];
    for (const args of bad) {
      await expect(
        (mmuIntervalNotifierInsert as (...a: unknown[]) => Promise<number>)(...args),
      ).rejects.toThrow(UsageError);
    }
    // A dead mm with a record: the range is checked first (-EOVERFLOW), then the mm (usage error).
    mm.mmUsers = 0;
    expect(await mmuIntervalNotifierInsert(new MmuIntervalNotifier(), mm, A, 0, ops)).toBe(-EOVERFLOW);
    await expect(mmuIntervalNotifierInsert(new MmuIntervalNotifier(), mm, A, LEN, ops)).rejects.toThrow(
      /no users left/,
    );
  });
});

describe('mmuIntervalReadBegin / ReadRetry / CheckRetry / SetSeq', () => {
  it('returns at once when idle; retry is false until an overlapping invalidation, then true', async () => {
    const { mm } = setup();
    const sub = await insert(mm, B, recordingOps('b', []));
    const seq = await mmuIntervalReadBegin(sub);
    expect(seq).toBe(1);
    expect(mmuIntervalReadRetry(sub, seq)).toBe(false);
    expect(mmuIntervalCheckRetry(sub, seq)).toBe(false);
    // Not overlapping: no change.
    const miss = clearRange(mm, A, B);
    await mmuNotifierInvalidateRangeStart(miss);
    mmuNotifierInvalidateRangeEnd(miss);
    expect(mmuIntervalReadRetry(sub, seq)).toBe(false);
    // Overlapping: true from the callback on, still true after the end.
    const hit = clearRange(mm, B + LEN - 1, C);
    await mmuNotifierInvalidateRangeStart(hit);
    expect(mmuIntervalCheckRetry(sub, seq)).toBe(true);
    expect(mmuIntervalReadRetry(sub, seq)).toBe(true);
    mmuNotifierInvalidateRangeEnd(hit);
    expect(mmuIntervalReadRetry(sub, seq)).toBe(true);
    expect(mmuIntervalCheckRetry(sub, seq)).toBe(true);
    // A new read section after the epoch is clean again.
    const seq2 = await mmuIntervalReadBegin(sub);
    expect(seq2).toBe(3);
    expect(mmuIntervalReadRetry(sub, seq2)).toBe(false);
  });

  it('a callback that does not call set_seq leaves read_retry false (the driver bug D3)', async () => {
    const { mm } = setup();
    const sub = await insert(mm, A, recordingOps('a', [], { setSeq: false }));
    const seq = await mmuIntervalReadBegin(sub);
    const r = clearRange(mm, A, A + LEN);
    await mmuNotifierInvalidateRangeStart(r);
    mmuNotifierInvalidateRangeEnd(r);
    expect(mmuIntervalReadRetry(sub, seq)).toBe(false);
    mmuIntervalSetSeq(sub, 3);
    expect(sub.invalidateSeq).toBe(3);
    expect(mmuIntervalReadRetry(sub, seq)).toBe(true);
  });

  it('sleeps while an epoch that hit the subscription is open, and returns only after its end', async () => {
    const { kernel, mm } = setup(true);
    const log: string[] = [];
    const sub = await insert(mm, A, recordingOps('cb', log));
    const r = clearRange(mm, A, A + LEN);
    const invalidator = kernel.sched.spawn('invalidator', async () => {
      log.push('inv: start');
      await mmuNotifierInvalidateRangeStart(r);
      log.push('inv: start returned');
      // The CPU page tables change here, between start and end.
      for (let i = 0; i < 4; i++) await kernel.sched.yield('pte update');
      log.push('inv: end');
      mmuNotifierInvalidateRangeEnd(r);
    });
    const reader = kernel.sched.spawn('reader', async () => {
      while (!log.includes('inv: start returned')) await kernel.sched.yield('reader waits');
      log.push('reader: read_begin');
      const seq = await mmuIntervalReadBegin(sub);
      log.push(`reader: read_begin returned ${seq}`);
      return seq;
    });
    await kernel.sched.join(invalidator);
    const seq = await kernel.sched.join(reader);
    expect(log).toEqual([
      'inv: start',
      'cb CLEAR [0x10000,0x11000) cur=3',
      'inv: start returned',
      'reader: read_begin',
      'inv: end',
      'reader: read_begin returned 3',
    ]);
    expect(seq).toBe(3);
    expect(subsOf(mm).invalidateSeq).toBe(4);
    // It slept: the reader was on the wait queue and is not any more.
    expect(subsOf(mm).wq.length).toBe(0);
    // The section opened after the end sees the new PTEs: no retry needed.
    expect(mmuIntervalReadRetry(sub, seq)).toBe(false);
  });

  it('sleeps on a subscription inserted during an epoch until that epoch ends', async () => {
    const { kernel, mm } = setup(true);
    const log: string[] = [];
    await insert(mm, A, recordingOps('a', []));
    const r = clearRange(mm, A, A + LEN);
    await mmuNotifierInvalidateRangeStart(r);
    const late = await insert(mm, C, recordingOps('late', []));
    const reader = kernel.sched.spawn('reader', async () => {
      log.push('read_begin');
      const seq = await mmuIntervalReadBegin(late);
      log.push(`returned ${seq}`);
      return seq;
    });
    for (let i = 0; i < 5; i++) await kernel.sched.yield('main');
    expect(log).toEqual(['read_begin']);
    expect(subsOf(mm).wq.length).toBe(1);
    log.push('end');
    mmuNotifierInvalidateRangeEnd(r);
    expect(await kernel.sched.join(reader)).toBe(3);
    expect(log).toEqual(['read_begin', 'end', 'returned 3']);
    expect(mmuIntervalReadRetry(late, 3)).toBe(false);
  });

  it('read_begin of a subscription never inserted is a usage error', async () => {
    await expect(mmuIntervalReadBegin(new MmuIntervalNotifier())).rejects.toThrow(UsageError);
  });
});

describe('mmuIntervalNotifierRemove', () => {
  it('when idle: leaves the tree at once, drops mm_count, and gets no further callbacks', async () => {
    const { mm } = setup();
    const log: string[] = [];
    const mmCount = mm.mmCount;
    const a = await insert(mm, A, recordingOps('a', log));
    const b = await insert(mm, B, recordingOps('b', log));
    expect(mm.mmCount).toBe(mmCount + 2);
    await mmuIntervalNotifierRemove(a);
    expect(a.inTree).toBe(false);
    expect(a.state).toBe('idle');
    expect(mm.mmCount).toBe(mmCount + 1);
    const r = clearRange(mm, 0, C);
    await mmuNotifierInvalidateRangeStart(r);
    mmuNotifierInvalidateRangeEnd(r);
    expect(log).toEqual(['b CLEAR [0x0,0x30000) cur=3']);
    await mmuIntervalNotifierRemove(b);
    expect(mm.mmCount).toBe(mmCount);
    expect(subsOf(mm).itree.size).toBe(0);
    // It can be inserted again, even elsewhere.
    expect(await mmuIntervalNotifierInsert(a, mm, C, LEN, recordingOps('a again', log))).toBe(0);
    expect(a.invalidateSeq).toBe(3);
    expect(mm.mmCount).toBe(mmCount + 1);
  });

  it('during an epoch: deferred, and sleeps until the epoch ends', async () => {
    const { kernel, mm } = setup(true);
    const log: string[] = [];
    const mmCount = mm.mmCount;
    const sub = await insert(mm, A, recordingOps('cb', log));
    const subs = subsOf(mm);
    const r = clearRange(mm, A, A + LEN);
    expect(await mmuNotifierInvalidateRangeStart(r)).toBe(0);
    const remover = kernel.sched.spawn('remover', async () => {
      log.push('remove');
      await mmuIntervalNotifierRemove(sub);
      log.push('removed');
    });
    for (let i = 0; i < 5; i++) await kernel.sched.yield('main');
    expect(log).toEqual(['cb CLEAR [0x10000,0x11000) cur=3', 'remove']);
    expect(sub.state).toBe('removing');
    expect(sub.inTree).toBe(true);
    expect(subs.deferredList).toEqual([sub]);
    expect(mm.mmCount).toBe(mmCount + 1);
    // Still in the frozen tree: another range of this epoch still calls it.
    const r2 = clearRange(mm, A, A + 1);
    await mmuNotifierInvalidateRangeStart(r2);
    mmuNotifierInvalidateRangeEnd(r2);
    expect(log).toHaveLength(3);
    await expect(mmuIntervalNotifierRemove(sub)).rejects.toThrow(/removing/);
    log.push('end');
    mmuNotifierInvalidateRangeEnd(r);
    await kernel.sched.join(remover);
    expect(log.slice(3)).toEqual(['end', 'removed']);
    expect(sub.inTree).toBe(false);
    expect(sub.state).toBe('idle');
    expect(subs.deferredList).toEqual([]);
    expect(mm.mmCount).toBe(mmCount);
    const r3 = clearRange(mm, A, A + LEN);
    await mmuNotifierInvalidateRangeStart(r3);
    mmuNotifierInvalidateRangeEnd(r3);
    expect(log).toHaveLength(5);
  });

  it('of a still-deferred insertion: dropped from the deferred list without waiting', async () => {
    const { mm } = setup();
    const log: string[] = [];
    const mmCount = mm.mmCount;
    await insert(mm, A, recordingOps('a', log));
    const subs = subsOf(mm);
    const r = clearRange(mm, A, C + LEN);
    await mmuNotifierInvalidateRangeStart(r);
    const late = await insert(mm, C, recordingOps('late', log));
    expect(subs.deferredList).toEqual([late]);
    // Resolves with no other thread running: it did not sleep.
    await mmuIntervalNotifierRemove(late);
    expect(subs.deferredList).toEqual([]);
    expect(late.state).toBe('idle');
    expect(mm.mmCount).toBe(mmCount + 1);
    mmuNotifierInvalidateRangeEnd(r);
    expect(late.inTree).toBe(false);
    expect(subs.itree.size).toBe(1);
    const r2 = clearRange(mm, C, C + LEN);
    await mmuNotifierInvalidateRangeStart(r2);
    mmuNotifierInvalidateRangeEnd(r2);
    expect(log).toEqual(['a CLEAR [0x10000,0x31000) cur=3']);
  });

  it('keeps the mm structure alive past exit: RELEASE at mmput, the last mm_count dropped by remove frees it', async () => {
    const { kernel, mm } = setup();
    const log: string[] = [];
    const sub = await insert(mm, 0, recordingOps('dev', log), 2 ** 64 - 4096);
    expect(mm.mmCount).toBe(2);
    await mmput(mm);
    expect(mm.mmUsers).toBe(0);
    expect(mm.exited).toBe(true);
    expect(log[0]).toBe(`dev RELEASE [0x0,0x${ULONG_MAX.toString(16)}) cur=3`);
    // The structure is still allocated: the subscription holds it.
    expect(mm.mmCount).toBe(1);
    expect(kernel.mms.has(mm)).toBe(true);
    expect(sub.inTree).toBe(true);
    // After release the mm is dead: new subscriptions are refused, reads still work.
    await expect(
      mmuIntervalNotifierInsert(new MmuIntervalNotifier(), mm, A, LEN, recordingOps('x', [])),
    ).rejects.toThrow(/no users left/);
    expect(await mmuIntervalReadBegin(sub)).toBe(sub.invalidateSeq);
    await mmuIntervalNotifierRemove(sub);
    expect(mm.mmCount).toBe(0);
    expect(kernel.mms.has(mm)).toBe(false);
    expect(mm.pgd).toBe(0);
  });

  it('of a subscription not inserted is a usage error', async () => {
    await expect(mmuIntervalNotifierRemove(new MmuIntervalNotifier())).rejects.toThrow(UsageError);
    await expect(mmuIntervalNotifierRemove({} as MmuIntervalNotifier)).rejects.toThrow(UsageError);
  });
});

/**
 * Two-pass interval notifiers (`invalidate_start` / `invalidate_finish`, used by xe's userptr):
 * every first pass runs before any finish pass, in the same order; a first pass returning a
 * boolean is a one-pass notifier; the sequence numbers behave as with `invalidate`.
 */
import { describe, expect, it } from 'vitest';
import {
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
} from '../../../src/mm/mmu-notifier.ts';
import {
  MmuIntervalNotifier,
  type MmuIntervalNotifierFinish,
  type MmuIntervalNotifierOps,
  mmuIntervalNotifierInsert,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
} from '../../../src/notifier/interval-notifier.ts';
import { UsageError } from '../../../src/sim/errors.ts';
import { clearRange, recordingOps, setup } from './helpers.ts';

const A = 0x10000;
const LEN = 0x4000;

/** A two-pass driver: the finish structure is embedded in the driver (no allocation in the callback). */
function twoPassOps(name: string, log: string[], finishPass = true): MmuIntervalNotifierOps {
  const finish: MmuIntervalNotifierFinish & { name: string } = { notifier: null, name };
  return {
    invalidateStart(sub, _range, cur) {
      log.push(`${name} start cur=${cur}`);
      mmuIntervalSetSeq(sub, cur);
      return finishPass ? finish : true;
    },
    invalidateFinish(f) {
      log.push(`${(f as typeof finish).name} finish of ${f.notifier === null ? '?' : 'its notifier'}`);
    },
  };
}

describe('two-pass interval notifiers', () => {
  it('calls every first pass, then every finish pass, in order; one-pass notifiers in between', async () => {
    const { mm } = setup();
    const log: string[] = [];
    const subs = [new MmuIntervalNotifier(), new MmuIntervalNotifier(), new MmuIntervalNotifier()];
    expect(await mmuIntervalNotifierInsert(subs[0]!, mm, A, LEN, twoPassOps('x', log))).toBe(0);
    expect(await mmuIntervalNotifierInsert(subs[1]!, mm, A, LEN, recordingOps('plain', log))).toBe(0);
    expect(await mmuIntervalNotifierInsert(subs[2]!, mm, A, LEN, twoPassOps('y', log))).toBe(0);
    const seq = await mmuIntervalReadBegin(subs[0]!);
    const range = clearRange(mm, A, A + 0x1000);
    await mmuNotifierInvalidateRangeStart(range);
    const order = log.map((l) => l.split(' ').slice(0, 2).join(' '));
    expect(order.filter((l) => !l.startsWith('plain'))).toEqual([
      'x start',
      'y start',
      'x finish',
      'y finish',
    ]);
    expect(log.findIndex((l) => l.startsWith('plain'))).toBeLessThan(log.indexOf('x finish of its notifier'));
    // Sequence semantics unchanged: the reader that began before must retry.
    expect(mmuIntervalReadRetry(subs[0]!, seq)).toBe(true);
    mmuNotifierInvalidateRangeEnd(range);
    const again = await mmuIntervalReadBegin(subs[0]!);
    expect(mmuIntervalReadRetry(subs[0]!, again)).toBe(false);
  });

  it('a first pass that returns true is the whole job (no finish pass)', async () => {
    const { mm } = setup();
    const log: string[] = [];
    const sub = new MmuIntervalNotifier();
    expect(await mmuIntervalNotifierInsert(sub, mm, A, LEN, twoPassOps('z', log, false))).toBe(0);
    const range = clearRange(mm, A, A + 0x1000);
    await mmuNotifierInvalidateRangeStart(range);
    mmuNotifierInvalidateRangeEnd(range);
    expect(log.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(['z start']);
  });

  it('refuses ops with neither invalidate nor both passes', async () => {
    const { mm } = setup();
    const sub = new MmuIntervalNotifier();
    await expect(
      mmuIntervalNotifierInsert(sub, mm, A, LEN, { invalidateStart: () => true } as MmuIntervalNotifierOps),
    ).rejects.toThrow(UsageError);
  });
});

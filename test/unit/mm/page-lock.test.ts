import { describe, expect, it } from 'vitest';
import { HPAGE_PMD_ORDER } from '../../../src/mm/constants.ts';
import { PG_locked } from '../../../src/mm/page-flags.ts';
import {
  lockPage,
  pageLocked,
  trylockPage,
  unlockPage,
  waitOnPageLocked,
} from '../../../src/mm/page-lock.ts';
import { DeadlockError } from '../../../src/sim/errors.ts';
import { rejectionOf, smallMachine } from './helpers.ts';

describe('page lock', () => {
  it('trylock takes a free lock and fails on a held one; unlock frees it', () => {
    const m = smallMachine();
    const pfn = m.pm.allocPages(0);
    expect(pageLocked(m, pfn)).toBe(false);
    expect(trylockPage(m, pfn)).toBe(true);
    expect(m.pm.flags[pfn]! & PG_locked).toBe(PG_locked);
    expect(trylockPage(m, pfn)).toBe(false);
    unlockPage(m, pfn);
    expect(pageLocked(m, pfn)).toBe(false);
    expect(trylockPage(m, pfn)).toBe(true);
  });

  it('locks the whole folio: any page of a THP locks its head', () => {
    const m = smallMachine();
    const head = m.pm.allocPages(HPAGE_PMD_ORDER);
    expect(trylockPage(m, head + 77)).toBe(true);
    expect(m.pm.flags[head]! & PG_locked).toBe(PG_locked);
    expect(m.pm.flags[head + 77]! & PG_locked).toBe(0);
    expect(pageLocked(m, head + 300)).toBe(true);
    expect(trylockPage(m, head)).toBe(false);
    unlockPage(m, head + 5);
    expect(pageLocked(m, head)).toBe(false);
  });

  it('lockPage on a free lock takes it without sleeping', async () => {
    const m = smallMachine();
    const pfn = m.pm.allocPages(0);
    const switches = m.sched.switches;
    await lockPage(m, pfn);
    expect(pageLocked(m, pfn)).toBe(true);
    expect(m.sched.switches).toBe(switches);
    expect(m.pageWait.length).toBe(0);
  });

  it('waiters sleep until the unlock, then take the lock one after the other', async () => {
    const m = smallMachine();
    const pfn = m.pm.allocPages(0);
    expect(trylockPage(m, pfn)).toBe(true);
    const log: string[] = [];
    const waiter = (name: string) =>
      m.sched.spawn(name, async () => {
        log.push(`${name} waits`);
        await lockPage(m, pfn);
        log.push(`${name} holds`);
        expect(pageLocked(m, pfn)).toBe(true);
        unlockPage(m, pfn);
        log.push(`${name} released`);
      });
    const a = waiter('a');
    const b = waiter('b');
    const holder = m.sched.spawn('holder', () => {
      expect(m.pageWait.length).toBe(2);
      expect([a.state, b.state]).toEqual(['blocked', 'blocked']);
      log.push('holder unlocks');
      unlockPage(m, pfn);
    });
    await m.sched.join(a);
    await m.sched.join(b);
    await m.sched.join(holder);
    expect(log).toEqual([
      'a waits',
      'b waits',
      'holder unlocks',
      'a holds',
      'a released',
      'b holds',
      'b released',
    ]);
    expect(pageLocked(m, pfn)).toBe(false);
    expect(m.pageWait.length).toBe(0);
  });

  it('waitOnPageLocked returns at once on an unlocked page, else sleeps until the unlock without taking the lock', async () => {
    const m = smallMachine();
    const pfn = m.pm.allocPages(0);
    await waitOnPageLocked(m, pfn);
    expect(pageLocked(m, pfn)).toBe(false);
    trylockPage(m, pfn);
    const log: string[] = [];
    const w = m.sched.spawn('waiter', async () => {
      await waitOnPageLocked(m, pfn);
      log.push(`woke, locked=${pageLocked(m, pfn)}`);
    });
    const u = m.sched.spawn('unlocker', () => {
      log.push(`waiter ${w.state}`);
      unlockPage(m, pfn);
    });
    await m.sched.join(w);
    await m.sched.join(u);
    expect(log).toEqual(['waiter blocked', 'woke, locked=false']);
  });

  it('an unlock wakes waiters of other pages too (one shared queue); they sleep again', async () => {
    const m = smallMachine();
    const x = m.pm.allocPages(0);
    const y = m.pm.allocPages(0);
    trylockPage(m, x);
    trylockPage(m, y);
    const onX = m.sched.spawn('x waiter', () => waitOnPageLocked(m, x));
    const onY = m.sched.spawn('y waiter', () => waitOnPageLocked(m, y));
    const unlocker = m.sched.spawn('unlocker', () => {
      expect(m.pageWait.length).toBe(2);
      unlockPage(m, x);
    });
    await m.sched.join(onX);
    await m.sched.join(unlocker);
    expect(onY.state).toBe('blocked');
    expect(m.pageWait.length).toBe(1);
    unlockPage(m, y);
    await m.sched.join(onY);
    expect(m.pageWait.length).toBe(0);
  });

  it('a thread waiting on a lock nobody will release is reported as a deadlock', async () => {
    const m = smallMachine();
    const pfn = m.pm.allocPages(0);
    trylockPage(m, pfn);
    const t = m.sched.spawn('stuck', () => lockPage(m, pfn));
    const err = await rejectionOf(m.sched.join(t));
    expect(err).toBeInstanceOf(DeadlockError);
    expect(err.message).toMatch(/page lock/);
  });
});

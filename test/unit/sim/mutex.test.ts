import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/sim/errors.ts';
import { Mutex } from '../../../src/sim/mutex.ts';
import { RoundRobinPolicy } from '../../../src/sim/policy.ts';
import { Scheduler } from '../../../src/sim/scheduler.ts';

const rr = (): Scheduler => new Scheduler({ policy: new RoundRobinPolicy() });

async function rejectionOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

/** Three threads each add 1 to a shared counter `rounds` times, the read and the write split by a point. */
async function racyIncrements(
  useMutex: boolean,
  rounds: number,
): Promise<{ counter: number; maxInside: number }> {
  const s = rr();
  const m = new Mutex(s, 'counter');
  let counter = 0;
  let inside = 0;
  let maxInside = 0;
  const threads = ['A', 'B', 'C'].map((name) =>
    s.spawn(name, async () => {
      for (let i = 0; i < rounds; i++) {
        if (useMutex) await m.lock();
        inside++;
        maxInside = Math.max(maxInside, inside);
        const v = counter;
        await s.yield('between read and write');
        counter = v + 1;
        inside--;
        if (useMutex) m.unlock();
        await s.yield('after critical section');
      }
    }),
  );
  for (const t of threads) await s.join(t);
  return { counter, maxInside };
}

describe('Mutex', () => {
  it('starts unlocked', () => {
    const s = new Scheduler();
    const m = new Mutex(s, 'm');
    expect(m.name).toBe('m');
    expect(m.owner).toBeNull();
    expect(m.isLocked()).toBe(false);
  });

  it('keeps a counter increment split across a point consistent under round-robin', async () => {
    const { counter, maxInside } = await racyIncrements(true, 5);
    expect(counter).toBe(15);
    expect(maxInside).toBe(1);
  });

  it('is needed: without it the same increments lose updates', async () => {
    const { counter, maxInside } = await racyIncrements(false, 5);
    expect(maxInside).toBe(3);
    expect(counter).toBe(5); // every round, all three read the same value
  });

  it('hands the lock to its waiters in the order they started waiting', async () => {
    const s = new Scheduler();
    const m = new Mutex(s, 'm');
    const log: string[] = [];
    await m.lock();
    // Spawn order A, B, C; waiting order B, C, A (by their sleeps).
    const threads = [
      ['A', 30],
      ['B', 10],
      ['C', 20],
    ].map(([name, delay]) =>
      s.spawn(name as string, async () => {
        await s.sleep(delay as number);
        log.push(`${name} waits`);
        await m.lock();
        log.push(`${name} got it`);
        await s.yield('holding');
        m.unlock();
      }),
    );
    await s.sleep(100);
    expect(log).toEqual(['B waits', 'C waits', 'A waits']);
    m.unlock();
    for (const t of threads) await s.join(t);
    expect(log).toEqual(['B waits', 'C waits', 'A waits', 'B got it', 'C got it', 'A got it']);
    expect(m.isLocked()).toBe(false);
  });

  it('hands over directly: the next waiter owns it before it runs', async () => {
    const s = new Scheduler();
    const m = new Mutex(s, 'm');
    await m.lock();
    const waiter = s.spawn('waiter', async () => {
      await m.lock();
      return s.current === m.owner;
    });
    await s.sleep(1);
    expect(waiter.state).toBe('blocked');
    expect(waiter.waitingOn).toBe('mutex m held by #0 main');
    m.unlock();
    expect(m.owner).toBe(waiter);
    expect(waiter.state).toBe('runnable');
    expect(m.trylock()).toBe(false);
    expect(await s.join(waiter)).toBe(true);
  });

  it('trylock takes a free mutex and fails on a held one without sleeping', async () => {
    const s = new Scheduler();
    const m = new Mutex(s, 'm');
    expect(m.trylock()).toBe(true);
    expect(m.owner).toBe(s.main);
    expect(m.isLocked()).toBe(true);
    expect(m.trylock()).toBe(false);
    const other = s.spawn('other', () => m.trylock());
    expect(await s.join(other)).toBe(false);
    expect(m.owner).toBe(s.main);
    m.unlock();
    const again = s.spawn('again', () => {
      const got = m.trylock();
      return [got, m.owner?.name];
    });
    expect(await s.join(again)).toEqual([true, 'again']);
  });

  it('throws UsageError on unlock by a thread that does not hold it', async () => {
    const s = new Scheduler();
    const m = new Mutex(s, 'm');
    const holder = s.spawn('holder', () => m.lock());
    await s.join(holder);
    expect(m.owner).toBe(holder);
    let err: unknown;
    try {
      m.unlock();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).what).toBe('mutex m');
    expect((err as UsageError).message).toBe('mutex m: unlocked by #0 main, which does not hold it');
    expect(m.owner).toBe(holder);
  });

  it('throws UsageError on unlock of an unlocked mutex', () => {
    const s = new Scheduler();
    const m = new Mutex(s, 'm');
    expect(() => m.unlock()).toThrow(UsageError);
    expect(() => m.unlock()).toThrow('mutex m: unlocked by #0 main, which does not hold it');
  });

  it('throws UsageError when the holder locks it again', async () => {
    const s = new Scheduler();
    const m = new Mutex(s, 'm');
    await m.lock();
    const err = await rejectionOf(m.lock());
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe('mutex m: #0 main locks it twice (self-deadlock)');
    expect(m.owner).toBe(s.main);
    const t = s.spawn('t', async () => {
      m.unlock();
    });
    expect(await rejectionOf(s.join(t))).toBeInstanceOf(UsageError);
  });

  it('makes lock a preemption point even when the mutex is free', async () => {
    const s = rr();
    const m = new Mutex(s, 'm');
    const log: string[] = [];
    const t = s.spawn('t', () => {
      log.push('t ran');
    });
    await m.lock();
    log.push('main locked');
    expect(log).toEqual(['t ran', 'main locked']);
    expect(s.main.at).toBe('mutex_lock m');
    expect(s.steps).toBe(1);
    await s.join(t);
  });
});

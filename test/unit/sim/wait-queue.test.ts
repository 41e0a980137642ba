import { describe, expect, it } from 'vitest';
import { DeadlockError } from '../../../src/sim/errors.ts';
import { Scheduler } from '../../../src/sim/scheduler.ts';
import { Completion, WaitQueue } from '../../../src/sim/wait-queue.ts';

async function rejectionOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('WaitQueue', () => {
  it('returns at once, without sleeping, when the condition already holds', async () => {
    const s = new Scheduler();
    const wq = new WaitQueue(s, 'q');
    let checks = 0;
    await wq.waitEvent(() => {
      checks++;
      return true;
    });
    expect(checks).toBe(1);
    expect(wq.length).toBe(0);
    expect(s.switches).toBe(0);
  });

  it('re-checks the condition after every wake-up and sleeps again while it is false', async () => {
    const s = new Scheduler();
    const wq = new WaitQueue(s, 'q');
    const log: string[] = [];
    let count = 0;
    const waiter = s.spawn('waiter', async () => {
      await wq.waitEvent(() => {
        log.push(`check ${count}`);
        return count >= 2;
      });
      log.push('passed');
    });
    await s.sleep(1);
    expect(waiter.state).toBe('blocked');
    expect(waiter.waitingOn).toBe('wait queue q');
    expect(wq.length).toBe(1);

    count = 1;
    wq.wakeUpAll();
    expect(wq.length).toBe(0);
    expect(waiter.state).toBe('runnable');
    await s.sleep(1);
    expect(waiter.state).toBe('blocked'); // condition still false: asleep again
    expect(wq.length).toBe(1);

    count = 2;
    wq.wakeUpAll();
    await s.join(waiter);
    expect(log).toEqual(['check 0', 'check 1', 'check 2', 'passed']);
  });

  it('does not wake a sleeper on a condition change alone', async () => {
    const s = new Scheduler();
    const wq = new WaitQueue(s, 'q');
    let ready = false;
    const waiter = s.spawn('waiter', () => wq.waitEvent(() => ready));
    await s.sleep(1);
    ready = true;
    await s.sleep(1);
    expect(waiter.state).toBe('blocked');
    wq.wakeUpAll();
    await s.join(waiter);
    expect(waiter.state).toBe('done');
  });

  it('wakeUpAll wakes every sleeper, which run in the order they slept', async () => {
    const s = new Scheduler();
    const wq = new WaitQueue(s, 'q');
    const log: string[] = [];
    let go = false;
    const waiters = [
      ['A', 3],
      ['B', 1],
      ['C', 2],
    ].map(([name, delay]) =>
      s.spawn(name as string, async () => {
        await s.sleep(delay as number);
        await wq.waitEvent(() => go);
        log.push(name as string);
      }),
    );
    await s.sleep(10);
    expect(wq.length).toBe(3);
    expect(waiters.map((w) => w.state)).toEqual(['blocked', 'blocked', 'blocked']);
    go = true;
    wq.wakeUpAll();
    expect(wq.length).toBe(0);
    expect(waiters.map((w) => w.state)).toEqual(['runnable', 'runnable', 'runnable']);
    for (const w of waiters) await s.join(w);
    expect(log).toEqual(['B', 'C', 'A']);
  });

  it('wakeUpAll on an empty queue does nothing', () => {
    const s = new Scheduler();
    const wq = new WaitQueue(s, 'q');
    wq.wakeUpAll();
    expect(wq.length).toBe(0);
    expect(s.switches).toBe(0);
    expect(s.contended).toBe(false);
  });

  it('reports main sleeping on it forever as a deadlock', async () => {
    const s = new Scheduler();
    const wq = new WaitQueue(s, 'forever');
    const err = await rejectionOf(wq.waitEvent(() => false));
    expect(err).toBeInstanceOf(DeadlockError);
    expect(err.message).toContain('#0 main blocked on wait queue forever');
  });
});

describe('Completion', () => {
  /** Spawns waiters that log `<name>` when their wait for `c` returns. */
  function waiters(s: Scheduler, c: Completion, names: string[], log: string[]) {
    return names.map((name) =>
      s.spawn(name, async () => {
        await c.waitForCompletion();
        log.push(name);
      }),
    );
  }

  it('starts not done', () => {
    const c = new Completion(new Scheduler(), 'c');
    expect(c.isDone).toBe(false);
  });

  it('complete() releases exactly one waiter per call, in waiting order', async () => {
    const s = new Scheduler();
    const c = new Completion(s, 'c');
    const log: string[] = [];
    const ws = waiters(s, c, ['A', 'B', 'C'], log);
    await s.sleep(1);
    expect(ws.map((w) => w.state)).toEqual(['blocked', 'blocked', 'blocked']);
    expect(ws[0]!.waitingOn).toBe('wait queue completion c');

    c.complete();
    await s.sleep(1);
    expect(log).toEqual(['A']);
    expect(ws.map((w) => w.state)).toEqual(['done', 'blocked', 'blocked']);
    expect(c.isDone).toBe(false);

    c.complete();
    await s.sleep(1);
    expect(log).toEqual(['A', 'B']);
    expect(ws[2]!.state).toBe('blocked');

    c.complete();
    for (const w of ws) await s.join(w);
    expect(log).toEqual(['A', 'B', 'C']);
    expect(c.isDone).toBe(false);
  });

  it('counts completions made before anyone waits', async () => {
    const s = new Scheduler();
    const c = new Completion(s, 'c');
    c.complete();
    c.complete();
    expect(c.isDone).toBe(true);
    await c.waitForCompletion();
    expect(c.isDone).toBe(true);
    await c.waitForCompletion();
    expect(c.isDone).toBe(false);
    expect(s.switches).toBe(0);
    const err = await rejectionOf(c.waitForCompletion());
    expect(err).toBeInstanceOf(DeadlockError);
    expect(err.message).toBe(
      'deadlock: every simulated thread is blocked\n#0 main blocked on wait queue completion c (last point: wait queue completion c)',
    );
  });

  it('completeAll() releases every waiter, now and later', async () => {
    const s = new Scheduler();
    const c = new Completion(s, 'c');
    const log: string[] = [];
    const early = waiters(s, c, ['A', 'B', 'C'], log);
    await s.sleep(1);
    expect(log).toEqual([]);
    c.completeAll();
    for (const w of early) await s.join(w);
    expect(log).toEqual(['A', 'B', 'C']);
    expect(c.isDone).toBe(true);
    const late = waiters(s, c, ['D', 'E'], log);
    for (const w of late) await s.join(w);
    await c.waitForCompletion();
    expect(log).toEqual(['A', 'B', 'C', 'D', 'E']);
    expect(c.isDone).toBe(true);
    c.complete(); // stays completed for good
    expect(c.isDone).toBe(true);
    await c.waitForCompletion();
  });
});

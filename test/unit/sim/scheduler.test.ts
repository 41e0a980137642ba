import { describe, expect, it } from 'vitest';
import { DeadlockError, ExternalAwaitError, StepBudgetError, UsageError } from '../../../src/sim/errors.ts';
import { Mutex } from '../../../src/sim/mutex.ts';
import { RandomPolicy, RoundRobinPolicy, type SchedulePolicy } from '../../../src/sim/policy.ts';
import { Prng } from '../../../src/sim/prng.ts';
import { Scheduler, type SchedulerHost } from '../../../src/sim/scheduler.ts';
import type { SimThread } from '../../../src/sim/thread.ts';
import { WaitQueue } from '../../../src/sim/wait-queue.ts';

const rr = (): Scheduler => new Scheduler({ policy: new RoundRobinPolicy() });

/** The host hooks of Node: the idle callback runs once the microtask queue is empty. */
const nodeHost: SchedulerHost = { idle: (cb) => setImmediate(cb) };

/** Captures the rejection of `p` (fails the test if it resolves). */
async function rejectionOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

/** Spawns one thread per name; each logs `<name><i>` and passes a point, `rounds` times. */
function spawnLoggers(sched: Scheduler, names: string[], rounds: number, log: string[]): SimThread<string>[] {
  return names.map((name) =>
    sched.spawn(name, async () => {
      for (let i = 0; i < rounds; i++) {
        log.push(`${name}${i}`);
        await sched.yield(`${name} loop`);
      }
      return name;
    }),
  );
}

describe('Scheduler: main and spawn', () => {
  it('starts with main as thread #0, running and current', () => {
    const s = new Scheduler();
    expect(s.main.id).toBe(0);
    expect(s.main.name).toBe('main');
    expect(s.main.state).toBe('running');
    expect(s.current).toBe(s.main);
    expect(s.threads).toEqual([s.main]);
    expect(s.clock.now).toBe(0);
    expect(s.steps).toBe(0);
    expect(s.switches).toBe(0);
    expect(s.contended).toBe(false);
  });

  it('numbers spawned threads in creation order and makes them runnable', () => {
    const s = new Scheduler();
    const a = s.spawn('a', () => 1);
    const b = s.spawn('b', () => 2);
    expect([a.id, a.name, a.state]).toEqual([1, 'a', 'runnable']);
    expect([b.id, b.name, b.state]).toEqual([2, 'b', 'runnable']);
    expect(s.threads).toEqual([s.main, a, b]);
    expect(s.contended).toBe(true);
  });

  it('does not start a spawned thread while main keeps running, even across host awaits', async () => {
    const s = new Scheduler();
    let started = false;
    const t = s.spawn('t', () => {
      started = true;
    });
    for (let i = 0; i < 5; i++) await Promise.resolve();
    await new Promise((r) => setImmediate(r));
    expect(started).toBe(false);
    expect(t.state).toBe('runnable');
    expect(s.current).toBe(s.main);
    expect(s.switches).toBe(0);
    await s.join(t);
    expect(started).toBe(true);
  });

  it('under run-to-block, a point passed by main does not start a spawned thread', async () => {
    const s = new Scheduler();
    let started = false;
    s.spawn('t', () => {
      started = true;
    });
    expect(s.point('p')).toBeUndefined();
    await s.yield('q');
    expect(started).toBe(false);
    expect(s.switches).toBe(0);
  });

  it('under round-robin, a point passed by main runs the spawned thread up to its next point', async () => {
    const s = rr();
    const log: string[] = [];
    const t = s.spawn('t', async () => {
      log.push('t start');
      await s.yield('t point');
      log.push('t end');
    });
    log.push('main before');
    const p = s.point('main point');
    expect(p).toBeInstanceOf(Promise);
    expect(log).toEqual(['main before']);
    await p;
    log.push('main after');
    await s.join(t);
    expect(log).toEqual(['main before', 't start', 'main after', 't end']);
  });

  it('starts a spawned thread when main blocks on a wait queue', async () => {
    const s = new Scheduler();
    const wq = new WaitQueue(s, 'q');
    let go = false;
    const log: string[] = [];
    s.spawn('t', () => {
      log.push('t');
      go = true;
      wq.wakeUpAll();
    });
    await wq.waitEvent(() => go);
    log.push('main');
    expect(log).toEqual(['t', 'main']);
  });

  it('rejects a spawn of something that is not a function', () => {
    const s = new Scheduler();
    const bad = 42 as unknown as () => void;
    expect(() => s.spawn('bad', bad)).toThrow(UsageError);
    expect(() => s.spawn('bad', bad)).toThrow('spawn(fn): fn must be a function');
    expect(s.threads).toHaveLength(1);
  });
});

describe('Scheduler: join', () => {
  it('returns the value of an async thread function', async () => {
    const s = new Scheduler();
    const t = s.spawn('t', async () => {
      await s.yield('x');
      return 42;
    });
    await expect(s.join(t)).resolves.toBe(42);
    expect(t.state).toBe('done');
    expect(t.result).toBe(42);
    expect(t.failed).toBe(false);
    expect(t.at).toBe('done');
  });

  it('returns the value of a synchronous thread function', async () => {
    const s = new Scheduler();
    const t = s.spawn('t', () => 'sync');
    expect(await s.join(t)).toBe('sync');
  });

  it('rethrows the very error the thread threw, asynchronously or synchronously', async () => {
    const s = new Scheduler();
    const e1 = new RangeError('async boom');
    const e2 = new TypeError('sync boom');
    const t1 = s.spawn('t1', async () => {
      await s.yield('x');
      throw e1;
    });
    const t2 = s.spawn('t2', () => {
      throw e2;
    });
    expect(await rejectionOf(s.join(t1))).toBe(e1);
    expect(await rejectionOf(s.join(t2))).toBe(e2);
    expect([t1.failed, t1.error, t1.at, t1.state]).toEqual([true, e1, 'failed', 'done']);
    // Joining again after it finished rethrows again, without running anything.
    const switches = s.switches;
    expect(await rejectionOf(s.join(t2))).toBe(e2);
    expect(s.switches).toBe(switches);
  });

  it('returns at once, without a switch, for a thread that already finished', async () => {
    const s = new Scheduler();
    const t = s.spawn('t', () => 7);
    await s.join(t);
    const switches = s.switches;
    expect(await s.join(t)).toBe(7);
    expect(s.switches).toBe(switches);
  });

  it('lets a thread join another thread, and several joiners all receive the result', async () => {
    const s = rr();
    const log: string[] = [];
    const worker = s.spawn('worker', async () => {
      for (let i = 0; i < 3; i++) await s.yield('work');
      log.push('worker done');
      return 'result';
    });
    const j1 = s.spawn('j1', async () => {
      const r = await s.join(worker);
      log.push(`j1 got ${r}`);
      return r.length;
    });
    const j2 = s.spawn('j2', async () => `j2 got ${await s.join(worker)}`);
    expect(await s.join(j1)).toBe(6);
    expect(await s.join(j2)).toBe('j2 got result');
    expect(log).toEqual(['worker done', 'j1 got result']);
  });

  it('refuses a join of the current thread', async () => {
    const s = new Scheduler();
    const err = await rejectionOf(s.join(s.main));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe('join: a thread cannot join itself');
    const t: SimThread<void> = s.spawn('t', async () => {
      await s.join(t);
    });
    const err2 = await rejectionOf(s.join(t));
    expect(err2).toBeInstanceOf(UsageError);
    expect((err2 as UsageError).what).toBe('join');
  });
});

describe('Scheduler: run to block (default policy)', () => {
  /** Three threads; A waits for B, C runs in between. Returns the event log and the switches. */
  async function scenario(): Promise<{ log: string[]; switches: string[] }> {
    const s = new Scheduler();
    const switches: string[] = [];
    s.onSwitch = (from, to, point) => switches.push(`${from.name}->${to.name} @${point}`);
    const wq = new WaitQueue(s, 'go');
    let go = false;
    const log: string[] = [];
    const a = s.spawn('A', async () => {
      log.push('A1');
      await s.yield('a point');
      log.push('A2');
      await wq.waitEvent(() => go);
      log.push('A3');
      return 'a';
    });
    const b = s.spawn('B', async () => {
      log.push('B1');
      await s.yield('b point');
      go = true;
      wq.wakeUpAll();
      log.push('B2');
      await s.yield('b point 2');
      log.push('B3');
    });
    const c = s.spawn('C', () => {
      log.push('C1');
    });
    log.push('main');
    expect(await s.join(a)).toBe('a');
    log.push('main joined A');
    await s.join(b);
    await s.join(c);
    log.push('main end');
    return { log, switches };
  }

  it('runs each thread until it blocks or finishes, then the longest-waiting one', async () => {
    const { log, switches } = await scenario();
    expect(log).toEqual(['main', 'A1', 'A2', 'B1', 'B2', 'B3', 'C1', 'A3', 'main joined A', 'main end']);
    expect(switches).toEqual([
      'main->A @join A',
      'A->B @wait queue go',
      'B->C @exit B',
      'C->A @exit C',
      'A->main @exit A',
    ]);
  });

  it('gives the same run twice', async () => {
    const first = await scenario();
    const second = await scenario();
    expect(second).toEqual(first);
  });
});

describe('Scheduler: RoundRobinPolicy', () => {
  it('switches at every point to the longest-waiting thread', async () => {
    const s = rr();
    const log: string[] = [];
    const threads = spawnLoggers(s, ['A', 'B', 'C'], 3, log);
    for (const t of threads) await s.join(t);
    expect(log).toEqual(['A0', 'B0', 'C0', 'A1', 'B1', 'C1', 'A2', 'B2', 'C2']);
  });

  it('includes main in the rotation when main passes points', async () => {
    const s = rr();
    const log: string[] = [];
    const switches: string[] = [];
    s.onSwitch = (from, to) => switches.push(`${from.name}>${to.name}`);
    const [a, b] = spawnLoggers(s, ['A', 'B'], 2, log);
    log.push('m0');
    await s.yield('main');
    log.push('m1');
    await s.yield('main');
    expect(await s.join(a!)).toBe('A');
    expect(await s.join(b!)).toBe('B');
    expect(log).toEqual(['m0', 'A0', 'B0', 'm1', 'A1', 'B1']);
    expect(switches).toEqual([
      'main>A',
      'A>B',
      'B>main',
      'main>A',
      'A>B',
      'B>main',
      'main>A',
      'A>B',
      'B>main',
    ]);
    expect(s.switches).toBe(9);
  });

  it('resumes the longest-waiting thread after a block, not the second one', async () => {
    const s = rr();
    const log: string[] = [];
    const wq = new WaitQueue(s, 'q');
    let go = false;
    const w = s.spawn('W', async () => {
      log.push('W waits');
      await wq.waitEvent(() => go);
      log.push('W woke');
    });
    const x = s.spawn('X', () => {
      log.push('X');
    });
    const y = s.spawn('Y', () => {
      log.push('Y');
    });
    // main blocks: W is the longest-waiting of [W, X, Y]; W blocks: X has waited longest.
    await s.join(x);
    go = true;
    wq.wakeUpAll();
    await s.join(y);
    await s.join(w);
    expect(log).toEqual(['W waits', 'X', 'Y', 'W woke']);
  });
  it('does not starve a runnable thread while two others hand the CPU back and forth by blocking', async () => {
    const s = rr();
    const wq = new WaitQueue(s, 'turn');
    const log: string[] = [];
    let turn = 'P';
    const x = s.spawn('X', async () => {
      for (let i = 0; i < 3; i++) {
        log.push(`X${i}`);
        await s.yield('X');
      }
    });
    const pingPong = (me: string, other: string) => async () => {
      for (let i = 0; i < 3; i++) {
        await wq.waitEvent(() => turn === me);
        log.push(`${me}${i}`);
        turn = other;
        wq.wakeUpAll();
      }
    };
    const p = s.spawn('P', pingPong('P', 'Q'));
    const q = s.spawn('Q', pingPong('Q', 'P'));
    await s.join(p);
    await s.join(q);
    await s.join(x);
    expect(log).toEqual(['X0', 'P0', 'Q0', 'X1', 'P1', 'X2', 'Q1', 'P2', 'Q2']);
  });
});

describe('Scheduler: RandomPolicy', () => {
  async function interleaving(seed: number): Promise<string> {
    const s = new Scheduler({ policy: new RandomPolicy(new Prng(seed)) });
    const log: string[] = [];
    const threads = spawnLoggers(s, ['A', 'B', 'C'], 4, log);
    for (const t of threads) await s.join(t);
    return log.join(' ');
  }

  it('gives the same interleaving for the same seed', async () => {
    for (const seed of [1, 7, 12345]) {
      expect(await interleaving(seed)).toBe(await interleaving(seed));
    }
  });

  it('gives different interleavings for different seeds', async () => {
    const runs = new Set<string>();
    for (let seed = 1; seed <= 10; seed++) runs.add(await interleaving(seed));
    expect(runs.size).toBeGreaterThanOrEqual(3);
    expect(await interleaving(1)).not.toBe(await interleaving(2));
  });

  it('keeps each thread in program order and runs every step once', async () => {
    for (let seed = 1; seed <= 10; seed++) {
      const log = (await interleaving(seed)).split(' ');
      expect(log).toHaveLength(12);
      for (const name of ['A', 'B', 'C']) {
        expect(log.filter((e) => e.startsWith(name))).toEqual([
          `${name}0`,
          `${name}1`,
          `${name}2`,
          `${name}3`,
        ]);
      }
    }
  });
});

describe('Scheduler: point', () => {
  it('returns undefined when no other thread exists', () => {
    const s = rr();
    expect(s.point('alone')).toBeUndefined();
    expect(s.steps).toBe(1);
    expect(s.main.steps).toBe(1);
    expect(s.main.at).toBe('alone');
  });

  it('returns undefined under a preemptive policy when every other thread is blocked', async () => {
    const s = rr();
    const wq = new WaitQueue(s, 'never');
    const t = s.spawn('t', () => wq.waitEvent(() => false));
    await s.yield('let t block');
    expect(t.state).toBe('blocked');
    expect(s.contended).toBe(false);
    expect(s.point('p')).toBeUndefined();
    expect(s.current).toBe(s.main);
  });

  it('returns undefined under run-to-block although another thread is runnable', () => {
    const s = new Scheduler();
    s.spawn('t', () => undefined);
    expect(s.contended).toBe(true);
    expect(s.point('p')).toBeUndefined();
    expect(s.switches).toBe(0);
  });

  it('keeps the current thread when the policy chooses index 0', () => {
    const stay: SchedulePolicy = { preemptive: true, choose: () => 0 };
    const s = new Scheduler({ policy: stay });
    s.spawn('t', () => undefined);
    expect(s.point('p')).toBeUndefined();
    expect(s.current).toBe(s.main);
  });

  it('passes the current thread first, then the runnable ones, and the label, to the policy', async () => {
    const seen: string[] = [];
    const spy: SchedulePolicy = {
      preemptive: true,
      choose: (candidates, point) => {
        seen.push(`${point}: ${candidates.map((c) => c.name).join(',')}`);
        return 0;
      },
    };
    const s = new Scheduler({ policy: spy });
    s.spawn('a', () => undefined);
    s.spawn('b', () => undefined);
    s.point('p1');
    expect(seen).toEqual(['p1: main,a,b']);
  });

  it('rejects an index out of range from the policy', () => {
    const bad: SchedulePolicy = { preemptive: true, choose: () => 5 };
    const s = new Scheduler({ policy: bad });
    s.spawn('t', () => undefined);
    expect(() => s.point('p')).toThrow(UsageError);
    expect(() => s.point('p')).toThrow('SchedulePolicy.choose: index 5 out of range');
  });
});

describe('Scheduler: sleep and the virtual clock', () => {
  it('advances the clock by the sleep of main alone', async () => {
    const s = new Scheduler();
    await s.sleep(1500);
    expect(s.clock.now).toBe(1500);
    await s.sleep(500);
    expect(s.clock.now).toBe(2000);
    expect(s.main.state).toBe('running');
  });

  it('wakes sleepers in order of wake-up time, with the clock at each wake-up time', async () => {
    const s = new Scheduler();
    const log: string[] = [];
    const threads = [
      ['A', 30],
      ['B', 10],
      ['C', 20],
      ['D', 10],
    ].map(([name, ns]) =>
      s.spawn(name as string, async () => {
        await s.sleep(ns as number);
        log.push(`${name}@${s.clock.now}`);
      }),
    );
    for (const t of threads) await s.join(t);
    expect(log).toEqual(['B@10', 'D@10', 'C@20', 'A@30']);
    expect(s.clock.now).toBe(30);
  });

  it('measures a sleep from the time it starts', async () => {
    const s = new Scheduler();
    const t = s.spawn('t', async () => {
      s.clock.advance(50);
      await s.sleep(10);
      const first = s.clock.now;
      await s.sleep(25);
      return [first, s.clock.now];
    });
    expect(await s.join(t)).toEqual([60, 85]);
  });

  it('does not advance time while another thread can run', async () => {
    const s = new Scheduler();
    const log: string[] = [];
    const sleeper = s.spawn('sleeper', async () => {
      await s.sleep(100);
      log.push(`sleeper@${s.clock.now}`);
    });
    const busy = s.spawn('busy', async () => {
      for (let i = 0; i < 3; i++) {
        log.push(`busy@${s.clock.now}`);
        await s.yield('busy');
      }
    });
    await s.join(sleeper);
    await s.join(busy);
    expect(log).toEqual(['busy@0', 'busy@0', 'busy@0', 'sleeper@100']);
  });

  it('treats a zero or negative sleep as a sleep until now', async () => {
    const s = new Scheduler();
    s.clock.advance(5);
    await s.sleep(0);
    expect(s.clock.now).toBe(5);
    await s.sleep(-10);
    expect(s.clock.now).toBe(5);
  });

  it('is not a deadlock while a thread sleeps', async () => {
    const s = new Scheduler();
    const wq = new WaitQueue(s, 'alarm');
    let rang = false;
    s.spawn('alarm', async () => {
      await s.sleep(1_000_000);
      rang = true;
      wq.wakeUpAll();
    });
    await wq.waitEvent(() => rang);
    expect(s.clock.now).toBe(1_000_000);
  });
});

describe('Scheduler: deadlock detection', () => {
  it('reports two threads locking two mutexes in opposite order (ABBA)', async () => {
    const s = rr();
    const m1 = new Mutex(s, 'm1');
    const m2 = new Mutex(s, 'm2');
    const a = s.spawn('A', async () => {
      await m1.lock();
      await m2.lock();
    });
    const b = s.spawn('B', async () => {
      await m2.lock();
      await m1.lock();
    });
    const err = await rejectionOf(s.join(a));
    expect(err).toBeInstanceOf(DeadlockError);
    expect(err.name).toBe('DeadlockError');
    expect(err.message).toBe(
      [
        'deadlock: every simulated thread is blocked',
        '#0 main blocked on join A (last point: join A)',
        '#1 A blocked on mutex m2 held by #2 B (last point: mutex m2 held by #2 B)',
        '#2 B blocked on mutex m1 held by #1 A (last point: mutex m1 held by #1 A)',
      ].join('\n'),
    );
    expect(m1.owner).toBe(a);
    expect(m2.owner).toBe(b);
    // main is running again and can go on using the machine.
    expect(s.current).toBe(s.main);
    expect(s.main.state).toBe('running');
    expect(s.main.waitingOn).toBeNull();
    const after = s.spawn('after', () => 'ok');
    expect(await s.join(after)).toBe('ok');
    expect([a.state, b.state]).toEqual(['blocked', 'blocked']);
  });

  it('reports main waiting on a queue that nobody will wake', async () => {
    const s = new Scheduler();
    const wq = new WaitQueue(s, 'never');
    const err = await rejectionOf(wq.waitEvent(() => false));
    expect(err).toBeInstanceOf(DeadlockError);
    expect(err.message).toBe(
      'deadlock: every simulated thread is blocked\n#0 main blocked on wait queue never (last point: wait queue never)',
    );
  });

  it('reports main waiting on a mutex held by a blocked thread', async () => {
    const s = new Scheduler();
    const m = new Mutex(s, 'big');
    const wq = new WaitQueue(s, 'never');
    s.spawn('holder', async () => {
      await m.lock();
      await wq.waitEvent(() => false);
    });
    await s.sleep(1); // the holder takes the mutex and blocks; main wakes at 1
    expect(m.owner?.name).toBe('holder');
    const err = await rejectionOf(m.lock());
    expect(err).toBeInstanceOf(DeadlockError);
    expect(err.message).toBe(
      [
        'deadlock: every simulated thread is blocked',
        '#0 main blocked on mutex big held by #1 holder (last point: mutex big held by #1 holder)',
        '#1 holder blocked on wait queue never (last point: wait queue never)',
      ].join('\n'),
    );
  });
});

describe('Scheduler: step budget', () => {
  it('stops a thread that spins on a point with StepBudgetError', async () => {
    const s = new Scheduler({ stepBudget: 100 });
    const spinner = s.spawn('spinner', async () => {
      for (;;) await s.yield('spin');
    });
    const err = await rejectionOf(s.join(spinner));
    expect(err).toBeInstanceOf(StepBudgetError);
    expect(err.name).toBe('StepBudgetError');
    expect(err.message).toBe(
      [
        'step budget of 100 preemption points exhausted at "spin" in #1 spinner (a livelock, or a run longer than allowed)',
        '#0 main blocked on join spinner (last point: join spinner)',
        '#1 spinner running (last point: spin)',
      ].join('\n'),
    );
    expect(s.steps).toBe(101);
    expect(spinner.steps).toBe(101);
    expect(spinner.failed).toBe(true);
  });

  it('lets a run use exactly its budget', async () => {
    const s = new Scheduler({ stepBudget: 100 });
    const t = s.spawn('t', async () => {
      for (let i = 0; i < 100; i++) await s.yield('step');
      return 'finished';
    });
    expect(await s.join(t)).toBe('finished');
    expect(s.steps).toBe(100);
  });

  it('counts the points of every thread, main and lock acquisitions included', async () => {
    const s = rr();
    s.stepBudget = 7;
    const m = new Mutex(s, 'm');
    const log: string[] = [];
    const a = s.spawn('A', async () => {
      for (;;) {
        await m.lock(); // a point
        m.unlock();
        log.push('A');
      }
    });
    await s.yield('main 1');
    await s.yield('main 2');
    const err = await rejectionOf(s.join(a));
    expect(err).toBeInstanceOf(StepBudgetError);
    expect(err.message.split('\n')[0]).toBe(
      'step budget of 7 preemption points exhausted at "mutex_lock m" in #1 A (a livelock, or a run longer than allowed)',
    );
    expect(log).toEqual(['A', 'A', 'A', 'A', 'A']);
    expect([s.main.steps, a.steps, s.steps]).toEqual([2, 6, 8]);
  });
});

describe('Scheduler: awaits outside the simulation', () => {
  // Detection runs when the host is idle, so it races the outside promise: the timers here are
  // long (10 s, unref'd) so that no event-loop stall on a loaded machine lets the timer win.
  it('reports a thread that awaits a host timer with ExternalAwaitError naming it', async () => {
    const s = new Scheduler({ host: nodeHost });
    const fetcher = s.spawn('fetcher', async () => {
      await s.yield('before fetch');
      await new Promise((r) => setTimeout(r, 10_000).unref());
      return 'late';
    });
    const err = await rejectionOf(s.join(fetcher));
    expect(err).toBeInstanceOf(ExternalAwaitError);
    expect(err.name).toBe('ExternalAwaitError');
    expect(err.message).toBe(
      [
        'simulated thread #1 fetcher awaited something outside the simulation after "before fetch" (only simulated points, locks and waits may be awaited)',
        '#0 main blocked on join fetcher (last point: join fetcher)',
        '#1 fetcher running (last point: before fetch)',
      ].join('\n'),
    );
    expect(s.current).toBe(s.main);
    expect(s.main.state).toBe('running');
    expect(fetcher.state).toBe('running'); // still waiting for its timer
  });

  it('reports a thread awaiting a promise that only the host settles, and survives its late finish', async () => {
    const s = new Scheduler({ host: nodeHost });
    let release: (v: string) => void = () => undefined;
    const outside = new Promise<string>((r) => {
      release = r;
    });
    const waiter = s.spawn('waiter', async () => {
      await s.sleep(7);
      return await outside;
    });
    const err = await rejectionOf(s.join(waiter));
    expect(err).toBeInstanceOf(ExternalAwaitError);
    expect(err.message.split('\n')[0]).toBe(
      'simulated thread #1 waiter awaited something outside the simulation after "sleep" (only simulated points, locks and waits may be awaited)',
    );
    expect(s.clock.now).toBe(7);
    // The stray thread finishing later does not take the CPU from main.
    release('late');
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    expect(waiter.state).toBe('done');
    expect(waiter.result).toBe('late');
    expect(s.current).toBe(s.main);
    expect(s.main.state).toBe('running');
  });

  it('reports it to main parked at a point under round-robin', async () => {
    const s = new Scheduler({ policy: new RoundRobinPolicy(), host: nodeHost });
    s.spawn('reader', async () => {
      await new Promise((r) => setTimeout(r, 10_000).unref());
    });
    const err = await rejectionOf(s.yield('main point'));
    expect(err).toBeInstanceOf(ExternalAwaitError);
    expect(err.message).toBe(
      [
        'simulated thread #1 reader awaited something outside the simulation after "start" (only simulated points, locks and waits may be awaited)',
        '#0 main runnable (last point: main point)',
        '#1 reader running (last point: start)',
      ].join('\n'),
    );
  });

  it('raises nothing when threads await only simulated points, locks, waits and sleeps', async () => {
    const s = new Scheduler({ policy: new RoundRobinPolicy(), host: nodeHost });
    const m = new Mutex(s, 'm');
    const wq = new WaitQueue(s, 'q');
    let counter = 0;
    const workers = ['A', 'B', 'C'].map((name, i) =>
      s.spawn(name, async () => {
        for (let k = 0; k < 50; k++) {
          await m.lock();
          const v = counter;
          await s.yield('cs');
          counter = v + 1;
          m.unlock();
          await s.sleep(10 * (i + 1));
        }
        wq.wakeUpAll();
        return name;
      }),
    );
    await wq.waitEvent(() => counter === 150);
    // Let idle checks armed during the run fire.
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    const results: string[] = [];
    for (const w of workers) results.push(await s.join(w));
    expect(results).toEqual(['A', 'B', 'C']);
    expect(counter).toBe(150);
    expect(s.clock.now).toBe(1500);
  });

  it('lets main itself await the host between simulated operations', async () => {
    const s = new Scheduler({ host: nodeHost });
    const t = s.spawn('t', async () => {
      await s.sleep(10);
      return s.clock.now;
    });
    await new Promise((r) => setTimeout(r, 2));
    expect(await s.join(t)).toBe(10);
  });
});

describe('Scheduler: describeThreads', () => {
  it('describes every unfinished thread, one per line, with state, wait and last point', async () => {
    const s = new Scheduler();
    const m = new Mutex(s, 'm');
    await m.lock();
    s.spawn('A', () => m.lock());
    s.spawn('C', () => s.sleep(100));
    const d = s.spawn('D', () => 'done');
    await s.sleep(1); // A blocks, C sleeps, D finishes, then main wakes at 1
    s.spawn('B', () => undefined);
    expect(d.state).toBe('done');
    expect(s.clock.now).toBe(1);
    expect(s.describeThreads()).toBe(
      [
        '#0 main running (last point: sleep)',
        '#1 A blocked on mutex m held by #0 main (last point: mutex m held by #0 main)',
        '#2 C sleeping (last point: sleep)',
        '#4 B runnable (last point: start)',
      ].join('\n'),
    );
  });

  it('lists only main once every other thread finished', async () => {
    const s = new Scheduler();
    const t = s.spawn('t', () => undefined);
    await s.join(t);
    expect(s.describeThreads()).toBe('#0 main running (last point: join t)');
  });
});

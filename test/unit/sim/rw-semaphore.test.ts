import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/sim/errors.ts';
import { RoundRobinPolicy } from '../../../src/sim/policy.ts';
import { RwSemaphore } from '../../../src/sim/rw-semaphore.ts';
import { Scheduler } from '../../../src/sim/scheduler.ts';
import type { SimThread } from '../../../src/sim/thread.ts';

async function rejectionOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

function thrownBy(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

const names = (threads: readonly SimThread[]): string[] => threads.map((t) => t.name);

/** A thread that takes `sem` for reading (`r`) or writing (`w`), logs `<name>@<time>`, holds it `hold` ns, releases. */
function user(s: Scheduler, sem: RwSemaphore, name: string, mode: 'r' | 'w', hold: number, log: string[]) {
  return s.spawn(name, async () => {
    if (mode === 'r') await sem.downRead();
    else await sem.downWrite();
    log.push(`${name}@${s.clock.now}`);
    await s.sleep(hold);
    if (mode === 'r') sem.upRead();
    else sem.upWrite();
  });
}

describe('RwSemaphore', () => {
  it('starts unlocked', () => {
    const s = new Scheduler();
    const sem = new RwSemaphore(s, 'mmap_lock');
    expect(sem.name).toBe('mmap_lock');
    expect(sem.isLocked()).toBe(false);
    expect(sem.readers).toEqual([]);
    expect(sem.writer).toBeNull();
    expect(sem.heldByCurrent()).toBe(false);
    expect(sem.writeHeldByCurrent()).toBe(false);
  });

  it('lets several readers hold it at the same time', async () => {
    const s = new Scheduler();
    const sem = new RwSemaphore(s, 'sem');
    const log: string[] = [];
    let most: string[] = [];
    const readers = ['R1', 'R2', 'R3'].map((name) =>
      s.spawn(name, async () => {
        await sem.downRead();
        log.push(`${name}@${s.clock.now}`);
        if (sem.readers.length > most.length) most = names(sem.readers);
        await s.sleep(10);
        sem.upRead();
      }),
    );
    for (const r of readers) await s.join(r);
    expect(log).toEqual(['R1@0', 'R2@0', 'R3@0']);
    expect(most).toEqual(['R1', 'R2', 'R3']);
    expect(s.clock.now).toBe(10); // the three holds overlapped
    expect(sem.isLocked()).toBe(false);
  });

  it('lets several readers interleave inside it under round-robin', async () => {
    const s = new Scheduler({ policy: new RoundRobinPolicy() });
    const sem = new RwSemaphore(s, 'sem');
    let inside = 0;
    let maxInside = 0;
    const readers = ['R1', 'R2', 'R3'].map((name) =>
      s.spawn(name, async () => {
        await sem.downRead();
        inside++;
        maxInside = Math.max(maxInside, inside);
        await s.yield(`${name} reading`);
        await s.yield(`${name} reading`);
        inside--;
        sem.upRead();
      }),
    );
    for (const r of readers) await s.join(r);
    expect(maxInside).toBe(3);
  });

  it('keeps readers out while a writer holds it, then admits them together', async () => {
    const s = new Scheduler();
    const sem = new RwSemaphore(s, 'sem');
    const log: string[] = [];
    const threads = [
      user(s, sem, 'W', 'w', 10, log),
      user(s, sem, 'R1', 'r', 5, log),
      user(s, sem, 'R2', 'r', 5, log),
    ];
    await s.sleep(1);
    expect(sem.writer?.name).toBe('W');
    expect(threads[1]!.waitingOn).toBe('down_read sem held by writer #1 W');
    for (const t of threads) await s.join(t);
    expect(log).toEqual(['W@0', 'R1@10', 'R2@10']);
    expect(s.clock.now).toBe(15);
  });

  it('keeps a writer out while readers hold it', async () => {
    const s = new Scheduler();
    const sem = new RwSemaphore(s, 'sem');
    const log: string[] = [];
    const threads = [
      user(s, sem, 'R1', 'r', 10, log),
      user(s, sem, 'R2', 'r', 20, log),
      user(s, sem, 'W', 'w', 1, log),
    ];
    await s.sleep(1);
    expect(threads[2]!.waitingOn).toBe('down_write sem held by 2 reader(s)');
    for (const t of threads) await s.join(t);
    expect(log).toEqual(['R1@0', 'R2@0', 'W@20']);
  });

  it('makes readers that come after a waiting writer wait behind it (no writer starvation)', async () => {
    const s = new Scheduler();
    const sem = new RwSemaphore(s, 'sem');
    const log: string[] = [];
    await sem.downRead();
    const threads = [
      user(s, sem, 'W1', 'w', 5, log),
      user(s, sem, 'R2', 'r', 5, log),
      user(s, sem, 'W3', 'w', 5, log),
      user(s, sem, 'R4', 'r', 5, log),
    ];
    await s.sleep(1);
    // Only main reads, yet R2 waits: W1 is queued ahead of it.
    expect(names(sem.readers)).toEqual(['main']);
    expect(threads.map((t) => t.state)).toEqual(['blocked', 'blocked', 'blocked', 'blocked']);
    expect(log).toEqual([]);
    expect(sem.downReadTrylock()).toBe(false);
    sem.upRead();
    expect(sem.writer?.name).toBe('W1');
    for (const t of threads) await s.join(t);
    expect(log).toEqual(['W1@1', 'R2@6', 'W3@11', 'R4@16']);
    expect(sem.isLocked()).toBe(false);
  });

  it('admits the readers queued together at the head of the queue at once', async () => {
    const s = new Scheduler();
    const sem = new RwSemaphore(s, 'sem');
    const log: string[] = [];
    await sem.downWrite();
    const threads = [
      user(s, sem, 'R1', 'r', 5, log),
      user(s, sem, 'R2', 'r', 7, log),
      user(s, sem, 'W3', 'w', 5, log),
      user(s, sem, 'R4', 'r', 5, log),
    ];
    await s.sleep(1);
    sem.upWrite();
    expect(sem.writer).toBeNull();
    expect(names(sem.readers)).toEqual(['R1', 'R2']);
    expect(threads.map((t) => t.state)).toEqual(['runnable', 'runnable', 'blocked', 'blocked']);
    for (const t of threads) await s.join(t);
    expect(log).toEqual(['R1@1', 'R2@1', 'W3@8', 'R4@13']);
  });

  it('downReadTrylock succeeds unless a writer holds it or waits', async () => {
    const s = new Scheduler();
    const sem = new RwSemaphore(s, 'sem');
    expect(sem.downReadTrylock()).toBe(true);
    const second = s.spawn('second reader', () => sem.downReadTrylock());
    expect(await s.join(second)).toBe(true);
    expect(names(sem.readers)).toEqual(['main', 'second reader']);
    const w = s.spawn('writer', () => sem.downWrite());
    await s.sleep(1); // the writer queues
    expect(w.state).toBe('blocked');
    expect(sem.downReadTrylock()).toBe(false);
    expect(names(sem.readers)).toEqual(['main', 'second reader']);
    sem.upRead();
    sem.upRead(); // the second reader finished without releasing: up_read_non_owner
    await s.join(w);
    expect(sem.writer).toBe(w);
    expect(sem.downReadTrylock()).toBe(false);
  });

  it('downWriteTrylock succeeds only when nobody holds it or waits', async () => {
    const s = new Scheduler();
    const sem = new RwSemaphore(s, 'sem');
    expect(sem.downWriteTrylock()).toBe(true);
    expect(sem.writer).toBe(s.main);
    expect(sem.downWriteTrylock()).toBe(false);
    sem.upWrite();
    expect(sem.downReadTrylock()).toBe(true);
    expect(sem.downWriteTrylock()).toBe(false);
    const reader = s.spawn('reader', () => sem.downRead());
    const writer = s.spawn('writer', () => sem.downWrite());
    await s.sleep(1);
    expect([reader.state, writer.state]).toEqual(['done', 'blocked']);
    sem.upRead(); // main's read; the reader still holds it
    expect(sem.downWriteTrylock()).toBe(false);
    expect(names(sem.readers)).toEqual(['reader']);
  });

  it('downgradeWrite turns the writer into a reader and admits the queued readers before the next writer', async () => {
    const s = new Scheduler();
    const sem = new RwSemaphore(s, 'sem');
    const log: string[] = [];
    await sem.downWrite();
    const threads = [
      user(s, sem, 'R1', 'r', 5, log),
      user(s, sem, 'R2', 'r', 5, log),
      user(s, sem, 'W3', 'w', 5, log),
      user(s, sem, 'R4', 'r', 5, log),
    ];
    await s.sleep(1);
    expect(log).toEqual([]);
    sem.downgradeWrite();
    expect(sem.writer).toBeNull();
    expect(names(sem.readers)).toEqual(['main', 'R1', 'R2']);
    expect(sem.heldByCurrent()).toBe(true);
    expect(sem.writeHeldByCurrent()).toBe(false);
    expect(threads.map((t) => t.state)).toEqual(['runnable', 'runnable', 'blocked', 'blocked']);
    await s.sleep(20); // main keeps reading after R1 and R2 are done: W3 still waits
    expect(log).toEqual(['R1@1', 'R2@1']);
    expect(threads[2]!.state).toBe('blocked');
    sem.upRead();
    for (const t of threads) await s.join(t);
    expect(log).toEqual(['R1@1', 'R2@1', 'W3@21', 'R4@26']);
  });

  it('refuses downgradeWrite without the write lock', async () => {
    const s = new Scheduler();
    const sem = new RwSemaphore(s, 'sem');
    const err = thrownBy(() => sem.downgradeWrite());
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe('rwsem sem: downgrade_write without holding it for writing');
    await sem.downRead();
    expect(() => sem.downgradeWrite()).toThrow(UsageError);
    expect(names(sem.readers)).toEqual(['main']);
  });

  it('answers heldByCurrent, writeHeldByCurrent and isLocked for the current thread', async () => {
    const s = new Scheduler();
    const sem = new RwSemaphore(s, 'sem');
    const probe = () => [sem.isLocked(), sem.heldByCurrent(), sem.writeHeldByCurrent()];
    await sem.downRead();
    expect(probe()).toEqual([true, true, false]);
    expect(await s.join(s.spawn('other', probe))).toEqual([true, false, false]);
    sem.upRead();
    expect(probe()).toEqual([false, false, false]);
    await sem.downWrite();
    expect(probe()).toEqual([true, true, true]);
    expect(await s.join(s.spawn('other', probe))).toEqual([true, false, false]);
    sem.upWrite();
    expect(probe()).toEqual([false, false, false]);
    const holder = s.spawn('holder', () => sem.downWrite());
    await s.join(holder);
    expect(probe()).toEqual([true, false, false]);
  });

  it('throws UsageError on upWrite by a thread that does not hold it for writing', async () => {
    const s = new Scheduler();
    const sem = new RwSemaphore(s, 'sem');
    const holder = s.spawn('holder', () => sem.downWrite());
    await s.join(holder);
    const err = thrownBy(() => sem.upWrite());
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).what).toBe('rwsem sem');
    expect(err.message).toBe('rwsem sem: up_write by #0 main, which does not hold it for writing');
    expect(sem.writer).toBe(holder);
    const reading = new RwSemaphore(s, 'r');
    await reading.downRead();
    expect(() => reading.upWrite()).toThrow(
      'rwsem r: up_write by #0 main, which does not hold it for writing',
    );
    expect(names(reading.readers)).toEqual(['main']);
  });

  it('throws UsageError on upRead when no reader holds it', async () => {
    const s = new Scheduler();
    const sem = new RwSemaphore(s, 'sem');
    expect(() => sem.upRead()).toThrow(UsageError);
    expect(() => sem.upRead()).toThrow('rwsem sem: up_read by #0 main with no reader holding it');
    await sem.downWrite();
    expect(() => sem.upRead()).toThrow(UsageError);
    expect(sem.writer).toBe(s.main);
  });

  it('releases one read acquisition per upRead, the current thread’s own first', async () => {
    const s = new Scheduler();
    const sem = new RwSemaphore(s, 'sem');
    const other = s.spawn('other', () => sem.downRead());
    await s.join(other);
    await sem.downRead();
    await sem.downRead();
    expect(names(sem.readers)).toEqual(['other', 'main', 'main']);
    sem.upRead();
    expect(names(sem.readers)).toEqual(['other', 'main']);
    sem.upRead();
    expect(names(sem.readers)).toEqual(['other']);
    sem.upRead(); // up_read_non_owner of other's acquisition
    expect(sem.isLocked()).toBe(false);
  });

  it('throws UsageError on downWrite by a thread that already holds it', async () => {
    const s = new Scheduler();
    const sem = new RwSemaphore(s, 'sem');
    await sem.downRead();
    const err = await rejectionOf(sem.downWrite());
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe(
      'rwsem sem: #0 main takes it for writing while already holding it (self-deadlock)',
    );
    sem.upRead();
    await sem.downWrite();
    const err2 = await rejectionOf(sem.downWrite());
    expect(err2.message).toBe(
      'rwsem sem: #0 main takes it for writing while already holding it (self-deadlock)',
    );
    expect(sem.writer).toBe(s.main);
  });

  it('makes downRead and downWrite preemption points', async () => {
    const s = new Scheduler({ policy: new RoundRobinPolicy() });
    const sem = new RwSemaphore(s, 'sem');
    const log: string[] = [];
    s.spawn('t', async () => {
      log.push('t1');
      await s.yield('t');
      log.push('t2');
    });
    await sem.downRead();
    log.push('main read');
    sem.upRead();
    await sem.downWrite();
    log.push('main write');
    expect(log).toEqual(['t1', 'main read', 't2', 'main write']);
    expect([s.main.at, s.steps]).toEqual(['down_write sem', 3]);
  });
});

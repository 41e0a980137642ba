import { describe, expect, it } from 'vitest';
import type { Oracle } from '../../../src/explore/oracle.ts';
import { defaultTeardown, runSchedule, ScenarioError } from '../../../src/explore/runner.ts';
import { ListChooser } from '../../../src/explore/strategies/list.ts';
import type { Scenario } from '../../../src/explore/types.ts';
import { Machine } from '../../../src/machine.ts';
import { kernelBug, UsageError } from '../../../src/sim/errors.ts';
import { Mutex } from '../../../src/sim/mutex.ts';
import { type Counter, counterScenario, readVersusMunmap, SMALL_MACHINE } from './scenarios.ts';

const noChoices = (): ListChooser => new ListChooser([], true);
const run = <S>(
  s: Scenario<S>,
  choices: number[] = [],
  extra: { record?: boolean; oracles?: Oracle[] } = {},
) => runSchedule(s, new ListChooser(choices, true), { seed: 1, oracles: [], ...extra });

/** A scenario of one or more threads with a given body. */
function threadsDoing(
  name: string,
  threads: Record<string, (s: Counter, m: Machine) => Promise<void>>,
  extra: Partial<Scenario<Counter>> = {},
): Scenario<Counter> {
  return { name, machine: SMALL_MACHINE, setup: () => ({ n: 0 }), threads, ...extra };
}

describe('runSchedule: phases', () => {
  it('runs setup, the threads, check and teardown in order, and records the choices', async () => {
    const log: string[] = [];
    const s: Scenario<Counter> = {
      name: 'phases',
      machine: SMALL_MACHINE,
      setup: () => {
        log.push('setup');
        return { n: 0 };
      },
      threads: {
        async a(_s, m) {
          log.push('a1');
          await m.sched.yield('a');
          log.push('a2');
        },
        async b(_s, m) {
          log.push('b1');
          await m.sched.yield('b');
          log.push('b2');
        },
      },
      check: () => {
        log.push('check');
      },
      teardown: () => {
        log.push('teardown');
      },
    };
    // b first, then at b's point switch to a, then a continues.
    const r = await run(s, [1, 1, 0]);
    expect(log).toEqual(['setup', 'b1', 'a1', 'a2', 'b2', 'check', 'teardown']);
    expect(r.choices).toEqual([1, 1, 0]);
    expect(r.violation).toBeNull();
    expect(r.account).toEqual([]);
    expect(r.steps).toBe(2);
  });

  it('calls the oracles: made before setup, started, atSwitch while racing, atEnd, detach', async () => {
    const calls: string[] = [];
    const oracle: Oracle = () => {
      calls.push('made');
      return {
        started: () => calls.push('started'),
        atSwitch: () => calls.push('switch'),
        atEnd: () => calls.push('end'),
        detach: () => calls.push('detach'),
      };
    };
    const s = counterScenario({ atomic: true });
    const setup = () => {
      calls.push('setup');
      return { n: 0 };
    };
    await runSchedule({ ...s, setup }, noChoices(), {
      seed: 1,
      oracles: [oracle],
    });
    expect(calls[0]).toBe('made');
    expect(calls[1]).toBe('setup');
    expect(calls[2]).toBe('started');
    expect(calls.filter((c) => c === 'switch').length).toBeGreaterThan(1);
    expect(calls.slice(-2)).toEqual(['end', 'detach']);
  });

  it('default teardown closes every open dmirror file and exits every process', async () => {
    const m = new Machine(SMALL_MACHINE);
    const state = await readVersusMunmap.setup(m, { seed: 1, mutant: null });
    await defaultTeardown(m);
    expect(state.file.isReleased).toBe(true);
    expect(state.process.exited).toBe(true);
    expect(m.dmirrorDevices[0]!.mirrors.size).toBe(0);
  });

  it('a violation before the race skips it', async () => {
    const early: Oracle = (ctx) => ({ started: () => ctx.violate('early', 'seen in setup') });
    let ran = false;
    const r = await runSchedule(
      threadsDoing('early', {
        async a() {
          ran = true;
        },
      }),
      noChoices(),
      { seed: 1, oracles: [early] },
    );
    expect(r.violation?.oracle).toBe('early');
    expect(ran).toBe(false);
  });
});

describe('runSchedule: violations', () => {
  it('a deadlock is a liveness violation', async () => {
    const s: Scenario<{ a: Mutex; b: Mutex }> = {
      name: 'abba',
      machine: SMALL_MACHINE,
      setup: (m) => ({ a: new Mutex(m.sched, 'A'), b: new Mutex(m.sched, 'B') }),
      threads: {
        async ab(s, m) {
          await s.a.lock();
          await m.sched.yield('holding A');
          await s.b.lock();
          s.b.unlock();
          s.a.unlock();
        },
        async ba(s, m) {
          await s.b.lock();
          await m.sched.yield('holding B');
          await s.a.lock();
          s.a.unlock();
          s.b.unlock();
        },
      },
    };
    // ab runs first, passes mutex_lock A's point, takes A and is preempted at its yield; ba then
    // takes B and both block.
    const r = await run(s, [0, 0, 1]);
    expect(r.violation?.oracle).toBe('liveness');
    expect(r.violation?.message).toContain('deadlock');
    // Without the preemption both finish.
    expect((await run(s, [0, 0, 0])).violation).toBeNull();
  });

  it('a spent step budget is a liveness violation', async () => {
    const s = threadsDoing(
      'spin',
      {
        async spin(_s, m) {
          for (;;) await m.sched.yield('spin');
        },
      },
      { stepBudget: 100 },
    );
    const r = await run(s);
    expect(r.violation?.oracle).toBe('liveness');
    expect(r.violation?.message).toContain('step budget of');
    expect(r.steps).toBe(101);
  });

  it('virtual time beyond maxVirtualTime is a liveness violation', async () => {
    const s = threadsDoing(
      'sleeper',
      {
        async sleeper(_s, m) {
          await m.sched.sleep(2e6);
        },
      },
      { maxVirtualTime: 1e6 },
    );
    const r = await run(s);
    expect(r.violation?.oracle).toBe('liveness');
    expect(r.violation?.message).toContain('2.000 ms of virtual time');
  });

  it('an error in a thread is an assertion violation; a UsageError is a scenario one', async () => {
    const broken = threadsDoing('broken', {
      async a() {
        throw new Error('invariant broken');
      },
    });
    const r = await run(broken);
    expect(r.violation).toMatchObject({ oracle: 'assertion', thread: '#1 a' });
    expect(r.violation?.message).toBe('Error: invariant broken');
    const misuse = threadsDoing('misuse', {
      async a() {
        throw new UsageError('file.read', 'descriptor 3 is not open');
      },
    });
    expect((await run(misuse)).violation?.oracle).toBe('scenario');
  });

  it('check throwing is a scenario violation; teardown and end-of-run oracles are then skipped', async () => {
    let torn = false;
    const r = await run(counterScenario({ atomic: false }), [0, 1], {});
    expect(r.violation).toMatchObject({ oracle: 'scenario', thread: '#0 main' });
    const teardown = () => {
      torn = true;
    };
    const s = { ...counterScenario({ atomic: false }), teardown };
    await run(s, [0, 1]);
    expect(torn).toBe(false);
  });

  it('the first violation wins, and the threads are stopped at their next point', async () => {
    let switches = 0;
    const second: Oracle = (ctx) => ({
      atSwitch: () => {
        switches++;
        if (switches === 2) ctx.violate('first', 'one');
        if (switches === 3) ctx.violate('second', 'two');
      },
    });
    let rounds = 0;
    const s = threadsDoing('long', {
      async a(_s, m) {
        for (let i = 0; i < 1000; i++) {
          rounds++;
          await m.sched.yield('a');
        }
      },
      async b(_s, m) {
        for (let i = 0; i < 1000; i++) await m.sched.yield('b');
      },
    });
    const r = await runSchedule(s, new ListChooser(new Array(100).fill(1), false), {
      seed: 1,
      oracles: [second],
    });
    expect(r.violation?.oracle).toBe('first');
    expect(rounds).toBeLessThan(10);
  });

  it('a failing setup and an await outside the simulation are errors of the scenario', async () => {
    const bad = {
      ...counterScenario({ atomic: true }),
      setup: () => {
        throw new Error('no');
      },
    };
    await expect(run(bad)).rejects.toThrow(ScenarioError);
    const external = threadsDoing('external', {
      async a() {
        await new Promise((resolve) => setTimeout(resolve, 20));
      },
    });
    await expect(
      runSchedule(external, noChoices(), { seed: 1, oracles: [], host: { idle: (cb) => setImmediate(cb) } }),
    ).rejects.toThrow(/outside the simulation/);
  });
});

describe('runSchedule: account', () => {
  it('records switches, decisions and bus events only when asked', async () => {
    const fast = await run(readVersusMunmap, [1]);
    expect(fast.account).toEqual([]);
    const r = await run(readVersusMunmap, [1], { record: true });
    const whats = r.account.map((a) => a.what);
    expect(whats[0]).toBe('threads start');
    expect(whats.some((w) => w.startsWith('decision 0 at '))).toBe(true);
    expect(whats.some((w) => w.startsWith('switch from #0 main'))).toBe(true);
    expect(whats.some((w) => w.startsWith('munmap(0x'))).toBe(true);
    expect(whats.some((w) => w.startsWith('invalidate_start mm 1'))).toBe(true);
    expect(whats).toContain('teardown');
    expect(r.account.find((a) => a.what.startsWith('munmap('))?.thread).toBe('#2 munmap');
  });
});

describe('cheap machines: the dmirror chunkSize knob', () => {
  it('makes chunks of the size asked, 256 MiB by default', () => {
    const m = new Machine(SMALL_MACHINE);
    const small = m.addDmirrorDevice({ chunkSize: 4 * 1024 * 1024 });
    expect(small.devmemChunks[0]!.nrPages).toBe(1024);
    const big = m.addDmirrorDevice({ coherent: true });
    expect(big.devmemChunks[0]!.nrPages).toBe(65536);
  });

  it.each([0, -2097152, 1024 * 1024, 3 * 1024 * 1024, 2.5, '2M'])('rejects chunkSize %o', (chunkSize) => {
    const m = new Machine(SMALL_MACHINE);
    expect(() => m.addDmirrorDevice({ chunkSize: chunkSize as number })).toThrow(
      /addDmirrorDevice\(options.chunkSize\): must be a positive multiple of 2 MiB/,
    );
  });
});

describe('runSchedule: broken kernel invariants', () => {
  it('reports a KernelBug as an assertion violation, in a racing thread and in check', async () => {
    const inThread = await run(
      threadsDoing('bug in a thread', {
        async a() {
          kernelBug('refcount underflow on pfn 7');
        },
      }),
    );
    expect(inThread.violation).toMatchObject({
      oracle: 'assertion',
      message: expect.stringContaining('KernelBug: refcount underflow on pfn 7'),
    });
    const inCheck = await run(
      threadsDoing('bug in check', { async a() {} }, { check: () => kernelBug('stale interval tree') }),
    );
    expect(inCheck.violation).toMatchObject({
      oracle: 'assertion',
      message: expect.stringContaining('KernelBug: stale interval tree'),
    });
  });
});

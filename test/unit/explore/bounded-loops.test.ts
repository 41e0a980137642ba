/**
 * Liveness in virtual time: a retry loop bounded by HMM_RANGE_DEFAULT_TIMEOUT (a RetryDeadline)
 * gives up at its deadline even when its attempts cost far less virtual time than the kernel's
 * spinning would take — the explorer moves the clock to the deadline when the step budget runs
 * out inside it — while a loop that ignores its deadline is a liveness violation.
 */
import { describe, expect, it } from 'vitest';
import {
  condResched,
  EBUSY,
  explore,
  folioPut,
  folioUnlock,
  HMM_RANGE_DEFAULT_TIMEOUT,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  type Machine,
  MmuIntervalNotifier,
  Mutex,
  makeDeviceExclusive,
  mmapReadLock,
  mmapReadUnlock,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  type Process,
  RetryDeadline,
  type Scenario,
} from '../../../src/index.ts';

interface SpinState {
  ret: number | null;
  endedAt: number;
}

/** One thread retrying something that never succeeds, with or without honouring its deadline. */
function spinner(honoursDeadline: boolean): Scenario<SpinState> {
  return {
    name: `spin${honoursDeadline ? '' : ' (deadline ignored)'}`,
    machine: { memory: 16 * 1024 * 1024, hugetlbPages: 0 },
    stepBudget: 5000,
    setup: () => ({ ret: null, endedAt: 0 }),
    threads: {
      async retrier(s, machine) {
        const deadline = new RetryDeadline(machine, 'spin');
        for (;;) {
          if (honoursDeadline) {
            if (deadline.expired()) {
              s.ret = -EBUSY;
              s.endedAt = machine.sched.clock.now;
              return;
            }
          } else deadline.attempt();
          await condResched(machine, 'attempt');
        }
      },
      async other() {},
    },
  };
}

describe('bounded retry loops in virtual time', () => {
  it('a loop that gives up at its deadline is no livelock, though its attempts cost no time', async () => {
    let state: SpinState | null = null;
    const scenario = spinner(true);
    const report = await explore({
      ...scenario,
      check: (s) => {
        state = s;
      },
      strategy: 'random',
      schedules: 3,
    });
    expect(report.failure).toBeNull();
    expect(state!.ret).toBe(-EBUSY);
    expect(state!.endedAt).toBeGreaterThan(HMM_RANGE_DEFAULT_TIMEOUT * 1e6);
  });

  it('a loop that never gives up is reported at its first attempt past the deadline', async () => {
    const report = await explore({ ...spinner(false), strategy: 'random', schedules: 3 });
    expect(report.failure?.violation.oracle).toBe('liveness');
    expect(report.failure?.violation.message).toMatch(
      /^spin: still retrying 1000\.\d+ ms after its first attempt/,
    );
    expect(report.failure?.text).toMatch(/virtual time moved [\d.]+ ms forward to its deadline/);
  });

  it('a loop without a deadline spends the step budget: a livelock', async () => {
    const report = await explore({
      name: 'unannounced spin',
      machine: { memory: 16 * 1024 * 1024, hugetlbPages: 0 },
      stepBudget: 5000,
      setup: () => null,
      threads: {
        async retrier(_s, machine) {
          for (;;) await condResched(machine, 'attempt');
        },
      },
      strategy: 'random',
      schedules: 1,
    });
    expect(report.failure?.violation.oracle).toBe('liveness');
    expect(report.failure?.violation.message).toMatch(/step budget of \d+ preemption points exhausted/);
  });
});

interface ExclusiveState {
  process: Process;
  addr: number;
  lock: Mutex;
  sub: MmuIntervalNotifier;
  ret: number | null;
  attempts: number;
}

/**
 * A driver taking exclusive access whose invalidate callback forgets the owner check: its own
 * make_device_exclusive invalidates its interval every time, so mmu_interval_read_retry never
 * lets it finish. Only make_device_exclusive charges time in the loop.
 */
const exclusiveWithoutOwnerCheck: Scenario<ExclusiveState> = {
  name: 'exclusive without owner check',
  machine: { memory: 16 * 1024 * 1024, hugetlbPages: 0 },
  async setup(machine: Machine) {
    const process = await machine.createProcess();
    const addr = await process.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    await process.store32(addr, 7);
    const lock = new Mutex(machine.sched, 'driver lock');
    const sub = new MmuIntervalNotifier();
    await mmuIntervalNotifierInsert(sub, process.mm, addr, PAGE_SIZE, {
      invalidate: async (mni, _range, seq) => {
        await lock.lock();
        mmuIntervalSetSeq(mni, seq);
        lock.unlock();
        return true;
      },
    });
    return { process, addr, lock, sub, ret: null, attempts: 0 };
  },
  threads: {
    async device(s, machine) {
      const mm = s.process.mm;
      const deadline = new RetryDeadline(machine, 'exclusive loop');
      for (;;) {
        if (deadline.expired()) {
          s.ret = -EBUSY;
          return;
        }
        s.attempts++;
        const seq = await mmuIntervalReadBegin(s.sub);
        await mmapReadLock(mm);
        const pfn = await makeDeviceExclusive(mm, s.addr, s);
        mmapReadUnlock(mm);
        if (pfn < 0) {
          s.ret = pfn;
          return;
        }
        await s.lock.lock();
        const retry = mmuIntervalReadRetry(s.sub, seq);
        s.lock.unlock();
        folioUnlock(machine, pfn);
        folioPut(machine, pfn);
        if (!retry) {
          s.ret = 0;
          return;
        }
      }
    },
  },
  async teardown(s) {
    await mmuIntervalNotifierRemove(s.sub);
    await s.process.exit();
  },
};

describe('make_device_exclusive in a retry loop', () => {
  it('charges virtual time, and the bounded loop gives up with -EBUSY instead of a livelock', async () => {
    let state: ExclusiveState | null = null;
    const report = await explore({
      ...exclusiveWithoutOwnerCheck,
      check: (s) => {
        state = s;
      },
      strategy: 'random',
      schedules: 2,
    });
    expect(report.failure?.violation ?? null).toBeNull();
    expect(state!.ret).toBe(-EBUSY);
    expect(state!.attempts).toBeGreaterThan(100);
  });
});

/**
 * Runs one schedule of a scenario: a fresh machine, the oracles attached, `setup` without
 * preemption, the threads racing under a {@link Chooser}, then `check`, `teardown` and the
 * end-of-run oracles without preemption. Returns the choices made (enough to replay the run),
 * the first violation, and on request the account of the interleaving.
 *
 * Classification of what goes wrong (the first violation of a schedule wins):
 * - an oracle calling `violate` → that oracle's violation;
 * - every thread blocked ({@link DeadlockError}), the step budget spent ({@link StepBudgetError}),
 *   or the threads' virtual time beyond `maxVirtualTime` → 'liveness';
 * - a thread throwing a {@link UsageError} (the scenario misused the API, e.g. a file closed by
 *   another thread) → 'scenario'; anything else thrown by a thread (a kernel assertion, an
 *   unexpected signal, a broken invariant) → 'assertion';
 * - `check` or `teardown` throwing → 'scenario' ('assertion' for a kernel assertion).
 * After a violation during the race the remaining threads are stopped at their next preemption
 * point, and `check`, `teardown` and the end-of-run oracles are skipped: the machine is in no
 * state to be judged further, and the first violation wins anyway.
 *
 * Errors that are not violations reach the caller: a scenario whose setup throws, a thread that
 * awaits something outside the simulation ({@link ExternalAwaitError}), a bad chooser.
 * @module
 */
import { Machine } from '../machine.ts';
import type { BufferPool } from '../mm/buffer-pool.ts';
import type { MmEvent } from '../mm/events.ts';
import type { MutantId } from '../mm/mutant.ts';
import { DeadlockError, ExternalAwaitError, KernelBug, StepBudgetError, UsageError } from '../sim/errors.ts';
import type { SchedulePolicy } from '../sim/policy.ts';
import type { SchedulerHost, SwitchObserver } from '../sim/scheduler.ts';
import type { SimThread } from '../sim/thread.ts';
import { BoundedLoops } from './bounded-loops.ts';
import type { InterleavingCoverage } from './coverage.ts';
import { describeEvent } from './describe-event.ts';
import type { Oracle, OracleContext, OracleInstance } from './oracle.ts';
import { defaultOracles } from './oracles/index.ts';
import { attachObserver } from './oracles/observer-hub.ts';
import { type Chooser, isPreemption } from './strategies/strategy.ts';
import type { AccountStep, Scenario, ScheduleResult, Violation } from './types.ts';

/** Default preemption points per schedule, counted from the start of the threads. */
export const DEFAULT_STEP_BUDGET = 200_000;
/** Default virtual time the threads may take, ns (500 ms). */
export const DEFAULT_MAX_VIRTUAL_TIME = 500e6;

/** Options of {@link runSchedule}. */
export interface RunOptions {
  /** Seed of the machine. */
  readonly seed: number;
  /** The mistake switched on, or null (default). */
  readonly mutant?: MutantId | null;
  /** Oracles to attach (default `defaultOracles()`, made once per call). */
  readonly oracles?: readonly Oracle[];
  /** Record the account of the interleaving (default false: only the choices are kept). */
  readonly record?: boolean;
  /** Host hooks of the machine's scheduler (e.g. `idle`, to catch awaits outside the simulation). */
  readonly host?: SchedulerHost;
  /** Collects the ordered pairs of preemption points at the schedule's switches (default none). */
  readonly coverage?: InterleavingCoverage;
  /** Typed arrays of earlier schedules' machines, for this one's (default none; see buffer-pool.ts). */
  readonly bufferPool?: BufferPool;
}

/** A scenario bug found while running a schedule (not a violation of the system under test). */
export class ScenarioError extends Error {
  /** `'ScenarioError'`. */
  override name = 'ScenarioError';
}

/** The exploring policy: asks the chooser and remembers every choice. */
class ExploringPolicy implements SchedulePolicy {
  readonly preemptive = true;
  readonly choices: number[] = [];
  /** Choices that preempted the running thread. */
  preemptions = 0;
  /** Called at every decision when recording the account. */
  onDecision: ((candidates: readonly SimThread[], chosen: number, point: string) => void) | null = null;
  private readonly chooser: Chooser;

  constructor(chooser: Chooser) {
    this.chooser = chooser;
  }

  choose(candidates: readonly SimThread[], point: string): number {
    const i = this.chooser.choose(candidates, point);
    if (!Number.isInteger(i) || i < 0 || i >= candidates.length) {
      throw new UsageError('Chooser.choose', `returned ${i} for ${candidates.length} candidates`);
    }
    this.choices.push(i);
    if (i !== 0 && isPreemption(candidates)) this.preemptions++;
    if (this.onDecision !== null) this.onDecision(candidates, i, point);
    return i;
  }
}

/** `#2 reader`: how accounts name a thread. */
export function threadName(t: SimThread): string {
  return `#${t.id} ${t.name}`;
}

/** Runs one schedule of `scenario` with the choices of `chooser`. */
export async function runSchedule<S>(
  scenario: Scenario<S>,
  chooser: Chooser,
  options: RunOptions,
): Promise<ScheduleResult> {
  const seed = options.seed;
  const mutant = options.mutant ?? null;
  const machineOptions = scenario.machine ?? {};
  const host = options.host ?? machineOptions.scheduler?.host;
  // The scenario's own policy is not used: setup runs to block, the race is the chooser's.
  const machine = new Machine({
    ...machineOptions,
    seed,
    mutant,
    scheduler: host ? { host } : {},
    bufferPool: options.bufferPool ?? machineOptions.bufferPool ?? null,
  });
  const sched = machine.sched;
  const clock = sched.clock;

  const policy = new ExploringPolicy(chooser);
  const account: AccountStep[] | null = options.record === true ? [] : null;
  let violation: Violation | null = null;
  /** True while the threads race: a violation then stops them. */
  let racing = false;
  /** True once the threads are being stopped after a violation: their errors are consequences. */
  let aborting = false;

  const note = (what: string): void => {
    if (account !== null) account.push({ time: clock.now, thread: threadName(sched.current), what });
  };
  const violate = (oracle: string, message: string): void => {
    if (violation !== null) return;
    violation = { oracle, message, thread: threadName(sched.current), time: clock.now };
    note(`violation (${oracle})`);
    if (racing) {
      // Every thread dies with a StepBudgetError at its next preemption point (ignored below).
      aborting = true;
      sched.stepBudget = sched.steps;
    }
  };
  const ctx: OracleContext = { machine, violate };
  const oracles = options.oracles ?? defaultOracles();
  const instances: OracleInstance[] = [];
  let unsubscribe: (() => void) | null = null;
  try {
    for (const oracle of oracles) instances.push(oracle(ctx));

    let state: S;
    try {
      state = await scenario.setup(machine, { seed, mutant });
    } catch (err) {
      throw new ScenarioError(`scenario "${scenario.name}": setup failed: ${describeError(err)}`, {
        cause: err,
      });
    }
    for (const o of instances) o.started?.();
    if (violation !== null) return result(policy, violation, account, 0, 0, clock.now);

    // The race.
    const atSwitch: (() => void)[] = [];
    for (const o of instances) if (o.atSwitch) atSwitch.push(o.atSwitch.bind(o));
    const atPoint: (() => void)[] = [];
    for (const o of instances) if (o.atPoint) atPoint.push(o.atPoint.bind(o));
    const maxTime = scenario.maxVirtualTime ?? DEFAULT_MAX_VIRTUAL_TIME;
    const t0 = clock.now;
    const steps0 = sched.steps;
    const switches0 = sched.switches;
    const previousPolicy = sched.policy;
    const previousBudget = sched.stepBudget;
    const previousOnSwitch = sched.onSwitch;
    const previousOnPoint = sched.onPoint;
    const onPoint = (): void => {
      if (aborting) return;
      for (let i = 0; i < atPoint.length; i++) atPoint[i]!();
    };
    const loops = new BoundedLoops(sched);
    const detachLoops = attachObserver(machine, loops);
    const budget = scenario.stepBudget ?? DEFAULT_STEP_BUDGET;
    const previousOnBudgetSpent = sched.onBudgetSpent;
    const onBudgetSpent = (): boolean => {
      if (aborting) return false;
      const what = loops.warp(budget);
      if (what === null) return false;
      note(what);
      return true;
    };
    /** Virtual time the threads took, without the time moved forward for bounded loops. */
    const elapsed = (): number => clock.now - t0 - loops.warped;
    const overTime = (): void => {
      violate(
        'liveness',
        `the threads ran ${formatNs(elapsed())} of virtual time, more than the ${formatNs(maxTime)} allowed (a livelock or a lost wake-up)\n${sched.describeThreads()}`,
      );
    };
    const coverage = options.coverage ?? null;
    const onSwitch: SwitchObserver = (from, to, label) => {
      if (previousOnSwitch !== null) previousOnSwitch(from, to, label);
      if (coverage !== null) coverage.add(label, to.at);
      if (account !== null)
        account.push({
          time: clock.now,
          thread: threadName(to),
          what: `switch from ${threadName(from)} (${from.state} at "${label}")`,
        });
      if (aborting) return;
      for (let i = 0; i < atSwitch.length; i++) atSwitch[i]!();
      if (elapsed() > maxTime) overTime();
    };
    sched.policy = policy;
    if (account !== null) {
      unsubscribe = machine.bus.subscribe((e) => account.push(accountStep(e, sched)));
      policy.onDecision = (candidates, chosen, point) => {
        const kind = isPreemption(candidates) ? (chosen === 0 ? 'no preemption' : 'PREEMPT') : 'pick';
        note(
          `decision ${policy.choices.length - 1} at "${point}": ${kind} → ${threadName(candidates[chosen]!)} of [${candidates.map(threadName).join(', ')}]`,
        );
      };
    }
    sched.stepBudget = steps0 + budget;
    sched.onSwitch = onSwitch;
    sched.onBudgetSpent = onBudgetSpent;
    if (atPoint.length > 0) sched.onPoint = onPoint;
    racing = true;
    note('threads start');

    const names = Object.keys(scenario.threads);
    const main = sched.main;
    let remaining = names.length;
    const threadFailed = (err: unknown): void => {
      if (aborting) return;
      if (err instanceof StepBudgetError) violate('liveness', err.message);
      else if (err instanceof UsageError) violate('scenario', `the scenario misused the API: ${err.message}`);
      else violate('assertion', describeError(err));
    };
    for (const name of names) {
      const fn = scenario.threads[name]!;
      sched.spawn(name, async () => {
        try {
          await fn(state, machine);
        } catch (err) {
          threadFailed(err);
        } finally {
          if (--remaining === 0) sched.wake(main);
        }
      });
    }
    try {
      while (remaining > 0) await sched.block('explorer: waiting for the threads');
    } catch (err) {
      if (err instanceof ExternalAwaitError) {
        throw new ScenarioError(`scenario "${scenario.name}": ${err.message}`, { cause: err });
      }
      if (!(err instanceof DeadlockError)) throw err;
      if (!aborting) violate('liveness', err.message);
    }
    racing = false;
    if (violation === null && elapsed() > maxTime) overTime();
    const steps = sched.steps - steps0;
    const switches = sched.switches - switches0;
    sched.policy = previousPolicy;
    sched.stepBudget = previousBudget;
    sched.onSwitch = previousOnSwitch;
    sched.onPoint = previousOnPoint;
    sched.onBudgetSpent = previousOnBudgetSpent;
    detachLoops();

    if (violation === null && scenario.check) {
      note('check');
      try {
        await scenario.check(state, machine);
      } catch (err) {
        afterRaceFailed('check', err, violate);
      }
    }
    if (violation === null) {
      note('teardown');
      try {
        if (scenario.teardown) await scenario.teardown(state, machine);
        else await defaultTeardown(machine);
      } catch (err) {
        afterRaceFailed('teardown', err, violate);
      }
    }
    if (violation === null) {
      note('end-of-run checks');
      for (const o of instances) o.atEnd?.();
    }
    return result(policy, violation, account, steps, switches, clock.now);
  } finally {
    unsubscribe?.();
    for (const o of instances) o.detach?.();
    // The schedule's machine is finished: its arrays serve the next schedule's machine (kept
    // when a thread is still parked, e.g. after an await outside the simulation).
    machine.dispose();
  }
}

const NO_STEPS: readonly AccountStep[] = Object.freeze([]);

function result(
  policy: ExploringPolicy,
  violation: Violation | null,
  account: readonly AccountStep[] | null,
  steps: number,
  switches: number,
  time: number,
): ScheduleResult {
  return {
    choices: policy.choices,
    violation,
    account: account ?? NO_STEPS,
    steps,
    switches,
    preemptions: policy.preemptions,
    time,
  };
}

/** `check` or `teardown` threw: a kernel assertion, a deadlock, or the scenario's own failure. */
function afterRaceFailed(
  phase: string,
  err: unknown,
  violate: (oracle: string, message: string) => void,
): void {
  if (err instanceof DeadlockError) violate('liveness', `${phase}: ${err.message}`);
  else if (isKernelAssertion(err)) violate('assertion', `${phase}: ${describeError(err)}`);
  else violate('scenario', `${phase}: ${describeError(err)}`);
}

/** True for the error a broken kernel invariant throws (`BUG()`, `VM_BUG_ON`: a {@link KernelBug}). */
function isKernelAssertion(err: unknown): boolean {
  return err instanceof KernelBug;
}

/** `Name: message`, for an error of any kind. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/**
 * The default teardown: every dmirror file still open in its process is closed (devices in the
 * order they were added, files in the order they were opened), then every live process exits
 * (in creation order).
 */
export async function defaultTeardown(machine: Machine): Promise<void> {
  for (const device of machine.dmirrorDevices) {
    for (const file of [...device.mirrors.values()]) {
      if (file.isReleased || file.process.exited) continue;
      const open = file.process.fds.get(file.fd);
      if (open !== undefined && open.fops === file.fops) await file.close();
    }
  }
  for (const p of machine.processes) if (!p.exited) await p.exit();
}

/** A bus event as a step of the account. */
function accountStep(e: MmEvent, sched: Machine['sched']): AccountStep {
  const thread = threadName(sched.current);
  return { time: e.time, thread, what: describeEvent(e) };
}

/** Virtual nanoseconds, readable. */
export function formatNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(3)} ms`;
  return `${(ns / 1e3).toFixed(3)} µs`;
}

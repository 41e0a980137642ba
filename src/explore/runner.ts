/**
 * Runs schedules of a scenario: a fresh machine, the oracles attached, `setup` without
 * preemption (or, for `explore`'s later schedules, that machine restored as setup left it: see
 * {@link ScheduleRunner}), the threads racing under a {@link Chooser}, then `check`, `teardown` and the
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
import { GraphSnapshot, SnapshotRefused } from './snapshot.ts';
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

/** Runs one schedule of `scenario` with the choices of `chooser`, on a fresh machine. */
export async function runSchedule<S>(
  scenario: Scenario<S>,
  chooser: Chooser,
  options: RunOptions,
): Promise<ScheduleResult> {
  return new ScheduleRunner(scenario, options, false).run(chooser);
}

/**
 * Runs schedules of one scenario with the same options, one after the other. Without `reuse`
 * every schedule builds a fresh machine, attaches the oracles and runs `setup` ({@link
 * runSchedule}). With `reuse`, the first schedule does so and then takes a {@link GraphSnapshot}
 * of the machine, the state `setup` returned and the oracles; every later schedule restores it
 * instead — the same machine, oracles and state, put back to what they were after setup, so
 * each schedule sees exactly what a fresh one would (docs/architecture.md, _The explorer's
 * post-setup snapshot_). When the graph cannot be recorded (see snapshot.ts) or a schedule
 * leaves a simulated thread unfinished, it falls back to fresh machines. {@link dispose} ends it.
 *
 * The per-schedule callbacks (violations, switches, points, the step budget) are methods bound
 * once, not closures made for every schedule.
 */
export class ScheduleRunner<S> {
  private readonly scenario: Scenario<S>;
  private readonly options: RunOptions;
  private readonly seed: number;
  private readonly mutant: MutantId | null;
  private readonly host: SchedulerHost | undefined;
  /** Keep the machine between schedules (snapshot and restore). */
  private reuse: boolean;
  /** Why no snapshot could be taken (null while none was refused). */
  refused: string | null = null;
  private machine: Machine | null = null;
  private instances: OracleInstance[] = [];
  private atSwitch: (() => void)[] = [];
  private atPoint: (() => void)[] = [];
  private state: S | undefined = undefined;
  private snapshot: GraphSnapshot | null = null;
  /** Counts schedules: an idle check armed by an earlier schedule is dropped (reuse only). */
  private generation = 0;
  private readonly ctx: OracleContext;

  // The schedule running.
  private policy: ExploringPolicy | null = null;
  private account: AccountStep[] | null = null;
  private violation: Violation | null = null;
  /** True while the threads race: a violation then stops them. */
  private racing = false;
  /** True once the threads are being stopped after a violation: their errors are consequences. */
  private aborting = false;
  private t0 = 0;
  private maxTime = 0;
  private budget = 0;
  private loops: BoundedLoops | null = null;
  private coverage: InterleavingCoverage | null = null;
  private previousOnSwitch: SwitchObserver | null = null;
  private remaining = 0;

  /** @param reuse restore a post-setup snapshot instead of a fresh machine for every schedule but the first */
  constructor(scenario: Scenario<S>, options: RunOptions, reuse: boolean) {
    this.scenario = scenario;
    this.options = options;
    this.seed = options.seed;
    this.mutant = options.mutant ?? null;
    this.reuse = reuse;
    const host = options.host ?? scenario.machine?.scheduler?.host;
    this.host = host && reuse ? this.droppingStaleIdle(host) : host;
    this.violate = this.violate.bind(this);
    this.onSwitch = this.onSwitch.bind(this);
    this.onPoint = this.onPoint.bind(this);
    this.onBudgetSpent = this.onBudgetSpent.bind(this);
    this.threadFailed = this.threadFailed.bind(this);
    this.ctx = { machine: null as unknown as Machine, violate: this.violate };
  }

  /**
   * The host with an idle check that does nothing once its schedule is over: a restored
   * scheduler may arm a new check while an earlier schedule's is still pending.
   */
  private droppingStaleIdle(host: SchedulerHost): SchedulerHost {
    const idle = host.idle;
    if (idle === undefined) return host;
    return {
      idle: (callback) => {
        const generation = this.generation;
        idle(() => {
          if (generation === this.generation) callback();
        });
      },
    };
  }

  /** Runs one schedule with the choices of `chooser`. */
  async run(chooser: Chooser): Promise<ScheduleResult> {
    this.generation++;
    const policy = new ExploringPolicy(chooser);
    this.policy = policy;
    this.account = this.options.record === true ? [] : null;
    this.violation = null;
    this.racing = false;
    this.aborting = false;
    let failed = true;
    try {
      let machine: Machine;
      if (this.snapshot === null) {
        machine = this.build();
        const clock = machine.sched.clock;
        try {
          this.state = await this.scenario.setup(machine, { seed: this.seed, mutant: this.mutant });
        } catch (err) {
          throw new ScenarioError(`scenario "${this.scenario.name}": setup failed: ${describeError(err)}`, {
            cause: err,
          });
        }
        for (const o of this.instances) o.started?.();
        if (this.violation !== null) {
          failed = false;
          return result(policy, this.violation, this.account, 0, 0, clock.now);
        }
        if (this.reuse) this.take();
      } else {
        machine = this.machine!;
        this.snapshot!.restore();
      }
      const r = await this.race(machine, this.state as S);
      failed = false;
      return r;
    } finally {
      if (failed || !this.keep()) this.release();
    }
  }

  /** Builds the machine of a schedule and attaches the oracles. */
  private build(): Machine {
    const machineOptions = this.scenario.machine ?? {};
    // The scenario's own policy is not used: setup runs to block, the race is the chooser's.
    const machine = new Machine({
      ...machineOptions,
      seed: this.seed,
      mutant: this.mutant,
      scheduler: this.host ? { host: this.host } : {},
      bufferPool: this.options.bufferPool ?? machineOptions.bufferPool ?? null,
    });
    this.machine = machine;
    (this.ctx as { machine: Machine }).machine = machine;
    const oracles = this.options.oracles ?? defaultOracles();
    const instances: OracleInstance[] = [];
    this.instances = instances;
    for (const oracle of oracles) instances.push(oracle(this.ctx));
    const atSwitch: (() => void)[] = [];
    for (const o of instances) if (o.atSwitch) atSwitch.push(o.atSwitch.bind(o));
    const atPoint: (() => void)[] = [];
    for (const o of instances) if (o.atPoint) atPoint.push(o.atPoint.bind(o));
    this.atSwitch = atSwitch;
    this.atPoint = atPoint;
    return machine;
  }

  /** Takes the post-setup snapshot, or notes why it cannot be taken (then stays fresh). */
  private take(): void {
    const pool = this.options.bufferPool ?? this.scenario.machine?.bufferPool ?? null;
    try {
      this.snapshot = new GraphSnapshot(
        [this.machine, this.state, this.instances, this.atSwitch, this.atPoint, this.ctx],
        pool === null ? undefined : new Set([pool]),
      );
    } catch (err) {
      if (!(err instanceof SnapshotRefused)) throw err;
      this.refused = err.message;
      this.reuse = false;
    }
  }

  /** True when the machine can serve the next schedule: every simulated thread but main finished. */
  private keep(): boolean {
    if (this.snapshot === null) return false;
    const threads = this.machine!.sched.threads;
    for (let i = 1; i < threads.length; i++) {
      if (threads[i]!.state !== 'done') {
        this.snapshot = null;
        this.reuse = false;
        return false;
      }
    }
    return true;
  }

  /** Detaches the oracles and disposes the machine (its arrays serve later machines). */
  private release(): void {
    const machine = this.machine;
    if (machine === null) return;
    for (const o of this.instances) o.detach?.();
    // The schedule's machine is finished: its arrays serve the next schedule's machine (kept
    // when a thread is still parked, e.g. after an await outside the simulation).
    machine.dispose();
    this.machine = null;
    this.instances = [];
    this.snapshot = null;
    this.state = undefined;
  }

  /** Ends the runner: its machine goes (call once no more schedules will run). */
  dispose(): void {
    this.release();
  }

  private note(what: string): void {
    const account = this.account;
    if (account === null) return;
    const sched = this.machine!.sched;
    account.push({ time: sched.clock.now, thread: threadName(sched.current), what });
  }

  private violate(oracle: string, message: string): void {
    if (this.violation !== null) return;
    const sched = this.machine!.sched;
    this.violation = { oracle, message, thread: threadName(sched.current), time: sched.clock.now };
    this.note(`violation (${oracle})`);
    if (this.racing) {
      // Every thread dies with a StepBudgetError at its next preemption point (ignored below).
      this.aborting = true;
      sched.stepBudget = sched.steps;
    }
  }

  private onPoint(): void {
    if (this.aborting) return;
    const atPoint = this.atPoint;
    for (let i = 0; i < atPoint.length; i++) atPoint[i]!();
  }

  private onBudgetSpent(): boolean {
    if (this.aborting) return false;
    const what = this.loops!.warp(this.budget);
    if (what === null) return false;
    this.note(what);
    return true;
  }

  /** Virtual time the threads took, without the time moved forward for bounded loops. */
  private elapsed(): number {
    return this.machine!.sched.clock.now - this.t0 - this.loops!.warped;
  }

  private overTime(): void {
    this.violate(
      'liveness',
      `the threads ran ${formatNs(this.elapsed())} of virtual time, more than the ${formatNs(this.maxTime)} allowed (a livelock or a lost wake-up)\n${this.machine!.sched.describeThreads()}`,
    );
  }

  private onSwitch(from: SimThread, to: SimThread, label: string): void {
    const previous = this.previousOnSwitch;
    if (previous !== null) previous(from, to, label);
    const coverage = this.coverage;
    if (coverage !== null) coverage.add(label, to.at);
    const account = this.account;
    if (account !== null)
      account.push({
        time: this.machine!.sched.clock.now,
        thread: threadName(to),
        what: `switch from ${threadName(from)} (${from.state} at "${label}")`,
      });
    if (this.aborting) return;
    const atSwitch = this.atSwitch;
    for (let i = 0; i < atSwitch.length; i++) atSwitch[i]!();
    if (this.elapsed() > this.maxTime) this.overTime();
  }

  private threadFailed(err: unknown): void {
    if (this.aborting) return;
    if (err instanceof StepBudgetError) this.violate('liveness', err.message);
    else if (err instanceof UsageError)
      this.violate('scenario', `the scenario misused the API: ${err.message}`);
    else this.violate('assertion', describeError(err));
  }

  /** The race, `check`, `teardown` and the end-of-run oracles, on the set-up machine. */
  private async race(machine: Machine, state: S): Promise<ScheduleResult> {
    const scenario = this.scenario;
    const sched = machine.sched;
    const clock = sched.clock;
    const policy = this.policy!;
    const account = this.account;
    const maxTime = scenario.maxVirtualTime ?? DEFAULT_MAX_VIRTUAL_TIME;
    this.maxTime = maxTime;
    this.t0 = clock.now;
    const steps0 = sched.steps;
    const switches0 = sched.switches;
    const previousPolicy = sched.policy;
    const previousBudget = sched.stepBudget;
    const previousOnSwitch = sched.onSwitch;
    this.previousOnSwitch = previousOnSwitch;
    const previousOnPoint = sched.onPoint;
    const loops = new BoundedLoops(sched);
    this.loops = loops;
    const detachLoops = attachObserver(machine, loops);
    const budget = scenario.stepBudget ?? DEFAULT_STEP_BUDGET;
    this.budget = budget;
    const previousOnBudgetSpent = sched.onBudgetSpent;
    this.coverage = this.options.coverage ?? null;
    let unsubscribe: (() => void) | null = null;
    try {
      sched.policy = policy;
      if (account !== null) {
        unsubscribe = machine.bus.subscribe((e) => account.push(accountStep(e, sched)));
        policy.onDecision = (candidates, chosen, point) => {
          const kind = isPreemption(candidates) ? (chosen === 0 ? 'no preemption' : 'PREEMPT') : 'pick';
          this.note(
            `decision ${policy.choices.length - 1} at "${point}": ${kind} → ${threadName(candidates[chosen]!)} of [${candidates.map(threadName).join(', ')}]`,
          );
        };
      }
      sched.stepBudget = steps0 + budget;
      sched.onSwitch = this.onSwitch;
      sched.onBudgetSpent = this.onBudgetSpent;
      if (this.atPoint.length > 0) sched.onPoint = this.onPoint;
      this.racing = true;
      this.note('threads start');

      const names = Object.keys(scenario.threads);
      const main = sched.main;
      this.remaining = names.length;
      const threadFailed = this.threadFailed;
      for (const name of names) {
        const fn = scenario.threads[name]!;
        sched.spawn(name, async () => {
          try {
            await fn(state, machine);
          } catch (err) {
            threadFailed(err);
          } finally {
            if (--this.remaining === 0) sched.wake(main);
          }
        });
      }
      try {
        while (this.remaining > 0) await sched.block('explorer: waiting for the threads');
      } catch (err) {
        if (err instanceof ExternalAwaitError) {
          throw new ScenarioError(`scenario "${scenario.name}": ${err.message}`, { cause: err });
        }
        if (!(err instanceof DeadlockError)) throw err;
        if (!this.aborting) this.violate('liveness', err.message);
      }
      this.racing = false;
      if (this.violation === null && this.elapsed() > maxTime) this.overTime();
      const steps = sched.steps - steps0;
      const switches = sched.switches - switches0;
      sched.policy = previousPolicy;
      sched.stepBudget = previousBudget;
      sched.onSwitch = previousOnSwitch;
      sched.onPoint = previousOnPoint;
      sched.onBudgetSpent = previousOnBudgetSpent;
      detachLoops();

      if (this.violation === null && scenario.check) {
        this.note('check');
        try {
          await scenario.check(state, machine);
        } catch (err) {
          afterRaceFailed('check', err, this.violate);
        }
      }
      if (this.violation === null) {
        this.note('teardown');
        try {
          if (scenario.teardown) await scenario.teardown(state, machine);
          else await defaultTeardown(machine);
        } catch (err) {
          afterRaceFailed('teardown', err, this.violate);
        }
      }
      if (this.violation === null) {
        this.note('end-of-run checks');
        for (const o of this.instances) o.atEnd?.();
      }
      return result(policy, this.violation, account, steps, switches, clock.now);
    } finally {
      unsubscribe?.();
    }
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

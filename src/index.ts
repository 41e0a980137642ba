/**
 * hmmsim: Linux's Heterogeneous Memory Management, executable. The public surface.
 * @module
 */

export * from './hmm/index.ts';
export { Machine, type MachineOptions } from './machine.ts';
export * from './mm/index.ts';
export * from './notifier/index.ts';
export * from './sim/errno.ts';
export {
  DeadlockError,
  ExternalAwaitError,
  SimulationError,
  StepBudgetError,
  UsageError,
} from './sim/errors.ts';
export { Mutex } from './sim/mutex.ts';
export { RandomPolicy, RoundRobinPolicy, RunToBlockPolicy, type SchedulePolicy } from './sim/policy.ts';
export { Prng } from './sim/prng.ts';
export { RwSemaphore } from './sim/rw-semaphore.ts';
export { Scheduler, type SchedulerHost, type SchedulerOptions } from './sim/scheduler.ts';
export { SimThread } from './sim/thread.ts';
export { Completion, WaitQueue } from './sim/wait-queue.ts';

/**
 * The simulation substrate: scheduler, virtual clock, PRNG, locks, wait queues, errno, events.
 * @module
 */
export { NSEC_PER_MSEC, VirtualClock } from './clock.ts';
export * from './errno.ts';
export {
  DeadlockError,
  ExternalAwaitError,
  KernelBug,
  kernelBug,
  SimulationError,
  StepBudgetError,
  UsageError,
} from './errors.ts';
export { EventBus, type EventListener } from './event-bus.ts';
export { Mutex } from './mutex.ts';
export { RandomPolicy, RoundRobinPolicy, RunToBlockPolicy, type SchedulePolicy } from './policy.ts';
export { Prng } from './prng.ts';
export { RwSemaphore } from './rw-semaphore.ts';
export { Scheduler, type SchedulerHost, type SchedulerOptions, type SwitchObserver } from './scheduler.ts';
export { SimThread, type ThreadState } from './thread.ts';
export { Completion, WaitQueue } from './wait-queue.ts';

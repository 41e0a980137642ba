/**
 * Errors the simulation raises about itself (not errno results of simulated kernel calls).
 * @module
 */

/** Base class of every error hmmsim throws for misuse or for a broken simulation. */
export class SimulationError extends Error {
  /** `'SimulationError'`, for messages and `instanceof`-free checks. */
  override name = 'SimulationError';
}

/**
 * A programming error in the use of the TypeScript API: a wrong type, a missing field, a call
 * without the lock the kernel would require. `what` names the offending argument or rule.
 */
export class UsageError extends SimulationError {
  /** `'UsageError'`, for messages and `instanceof`-free checks. */
  override name = 'UsageError';
  /** The argument, field or rule that was violated. */
  readonly what: string;
  /** @param what the argument or rule; @param message what was wrong with it */
  constructor(what: string, message: string) {
    super(`${what}: ${message}`);
    this.what = what;
  }
}

/** Every simulated thread is blocked and nothing can wake any of them. */
export class DeadlockError extends SimulationError {
  /** `'DeadlockError'`, for messages and `instanceof`-free checks. */
  override name = 'DeadlockError';
}

/** A simulated thread awaited a promise that does not belong to the simulation. */
export class ExternalAwaitError extends SimulationError {
  /** `'ExternalAwaitError'`, for messages and `instanceof`-free checks. */
  override name = 'ExternalAwaitError';
}

/** The scheduler's step budget ran out: a livelock, or a run longer than allowed. */
export class StepBudgetError extends SimulationError {
  /** `'StepBudgetError'`, for messages and `instanceof`-free checks. */
  override name = 'StepBudgetError';
}

/**
 * A system call whose API shape cannot return a negative errno failed (e.g. `fork()`, which
 * returns a Process): `errno` is the positive value Linux would have returned negated.
 */
export class SyscallError extends SimulationError {
  /** `'SyscallError'`, for messages and `instanceof`-free checks. */
  override name = 'SyscallError';
  /** The positive errno value. */
  readonly errno: number;
  /** @param call the system call; @param errno positive errno; @param why what failed */
  constructor(call: string, errno: number, why: string) {
    super(`${call}: ${why} (errno ${errno})`);
    this.errno = errno;
  }
}

/**
 * A broken kernel invariant: what `BUG()` / `VM_BUG_ON()` stop a real kernel for (a page-table
 * entry of a kind that cannot be there, a refcount going below zero, a corrupt allocator list). It
 * is never the caller's fault (that is a {@link UsageError}) and never an errno result: the
 * simulation itself is wrong. The race explorer reports it as an `assertion` violation wherever
 * it is thrown (a racing thread, the scenario's check or teardown).
 */
export class KernelBug extends SimulationError {
  /** `'KernelBug'`, for messages and `instanceof`-free checks. */
  override name = 'KernelBug';
}

/** `BUG()`: throws a {@link KernelBug} saying which invariant broke. */
export function kernelBug(message: string): never {
  throw new KernelBug(message);
}

/**
 * The contract between the explorer's runner and its oracles. An oracle is attached to every
 * machine the runner builds, before the scenario's setup, and watches the run through
 * `Kernel.observer` hooks and the runner's calls below; it reports what is wrong with
 * `ctx.violate`. The runner keeps the first violation of a schedule.
 * @module
 */
import type { Machine } from '../machine.ts';

/** What the runner gives an oracle for one schedule. */
export interface OracleContext {
  /** The machine of this schedule. */
  readonly machine: Machine;
  /** Reports a violation (the runner stamps the current thread and virtual time). */
  violate(oracle: string, message: string): void;
}

/** An oracle watching one schedule. */
export interface OracleInstance {
  /** After setup, before the threads start (e.g. take the balance baseline… or not: see atEnd). */
  started?(): void;
  /** At every preemption point while the threads race (before the scheduler picks who runs). */
  atPoint?(): void;
  /** At every context switch while the threads race. */
  atSwitch?(): void;
  /** After the threads, `check` and `teardown`: the end-of-run checks (balance). */
  atEnd?(): void;
  /** Removes the oracle's hooks. */
  detach?(): void;
}

/** Makes an oracle for one schedule's machine. */
export type Oracle = (ctx: OracleContext) => OracleInstance;

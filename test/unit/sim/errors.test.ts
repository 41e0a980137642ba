import { describe, expect, it } from 'vitest';
import {
  DeadlockError,
  ExternalAwaitError,
  SimulationError,
  StepBudgetError,
  UsageError,
} from '../../../src/sim/errors.ts';

describe('simulation errors', () => {
  it('are Errors and SimulationErrors with their own names', () => {
    const cases: [Error, string][] = [
      [new SimulationError('s'), 'SimulationError'],
      [new UsageError('what', 'msg'), 'UsageError'],
      [new DeadlockError('d'), 'DeadlockError'],
      [new ExternalAwaitError('e'), 'ExternalAwaitError'],
      [new StepBudgetError('b'), 'StepBudgetError'],
    ];
    for (const [err, name] of cases) {
      expect(err).toBeInstanceOf(Error);
      expect(err).toBeInstanceOf(SimulationError);
      expect(err.name).toBe(name);
    }
    expect(new DeadlockError('d')).not.toBeInstanceOf(UsageError);
  });

  it('UsageError names what was violated and prefixes the message with it', () => {
    const err = new UsageError('spawn(fn)', 'fn must be a function');
    expect(err.what).toBe('spawn(fn)');
    expect(err.message).toBe('spawn(fn): fn must be a function');
    expect(String(err)).toBe('UsageError: spawn(fn): fn must be a function');
  });
});

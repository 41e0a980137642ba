/**
 * The race explorer's oracles: what must hold in every schedule. Each is an {@link Oracle}
 * factory attached to a schedule's machine before the scenario's setup; they share the machine's
 * one observer slot through {@link ObserverHub}.
 * @module
 */
import type { Oracle } from '../oracle.ts';
import { assertionOracle } from './assertion.ts';
import { balanceOracle } from './balance.ts';
import { livenessOracle } from './liveness.ts';
import { pooledLostDataOracle } from './lost-data.ts';
import { mirrorOracle } from './mirror.ts';
import { useAfterFreeOracle } from './use-after-free.ts';

export { assertionOracle } from './assertion.ts';
export { balanceOracle, balanceProblems } from './balance.ts';
export { livenessOracle } from './liveness.ts';
export { lostDataOracle, pooledLostDataOracle } from './lost-data.ts';
export { mirrorEntryMismatch, mirrorOracle } from './mirror.ts';
export { attachObserver, OBSERVER_HOOKS, ObserverHub } from './observer-hub.ts';
export { useAfterFreeOracle } from './use-after-free.ts';

/**
 * The oracles attached to every schedule unless the caller chooses others: mirror,
 * use-after-free, lost-data, balance, assertion and liveness.
 */
export function defaultOracles(): Oracle[] {
  return [
    mirrorOracle,
    useAfterFreeOracle,
    pooledLostDataOracle(),
    balanceOracle,
    assertionOracle,
    livenessOracle,
  ];
}

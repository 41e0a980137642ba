/**
 * "Did you mean …?" for the CLI: the simulation's own helper, shared with the API's checks.
 * @module
 */
export { editDistance, suggest } from '../sim/suggest.ts';

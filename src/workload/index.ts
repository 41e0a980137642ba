/**
 * The unified-memory workload model: a GPU with fault batching, prefetching and eviction, driver
 * policies, a cost model with platform presets, generators and the engine on virtual time.
 * @module
 */
export * from './cost/calibration-data.ts';
export * from './cost/cost-model.ts';
export * from './cost/link.ts';
export * from './cost/platform.ts';
export * from './engine/backend.ts';
export * from './functional/functional-backend.ts';
export * from './functional/lockstep.ts';
export * from './functional/machine-costs.ts';
export * from './params.ts';
export * from './units.ts';
export * from './validate/registry.ts';
export * from './validate/target.ts';
export * from './validate/v2-link.ts';
export * from './validate/v6-thp-migration.ts';

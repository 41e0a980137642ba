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
export * from './engine/engine.ts';
export * from './engine/observer.ts';
export * from './engine/run.ts';
export * from './functional/functional-backend.ts';
export * from './functional/lockstep.ts';
export * from './functional/machine-costs.ts';
export * from './functional/run-functional.ts';
export * from './generators/generators.ts';
export * from './generators/trace.ts';
export * from './params.ts';
export * from './policy/advice.ts';
export * from './policy/eviction.ts';
export * from './policy/prefetch.ts';
export * from './policy/presets.ts';
export * from './residency/fast-backend.ts';
export * from './spec.ts';
export * from './units.ts';
export * from './validate/registry.ts';
export * from './validate/target.ts';
export * from './validate/v1-prefetch.ts';
export * from './validate/v2-link.ts';
export * from './validate/v3-batch-anatomy.ts';
export * from './validate/v6-thp-migration.ts';

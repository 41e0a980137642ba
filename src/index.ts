/**
 * hmmsim: Linux's Heterogeneous Memory Management, executable. The public surface.
 * @module
 */

export {
  DEFAULT_DMIRROR_COSTS,
  DEVMEM_CHUNK_SIZE,
  DMIRROR_ALLOC_NS,
  DMIRROR_COPY_PAGE_NS,
  DMIRROR_NDEVICES,
  DmirrorChunk,
  type DmirrorCosts,
  type DmirrorDataResult,
  DmirrorDevice,
  DmirrorFile,
  type DmirrorResult,
  type DmirrorSnapshotResult,
  HMM_DMIRROR_FLAG_FAIL_ALLOC,
  HMM_DMIRROR_MEMORY_DEVICE_COHERENT,
  HMM_DMIRROR_MEMORY_DEVICE_PRIVATE,
  HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,
  HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE,
  HMM_DMIRROR_PROT_ERROR,
  HMM_DMIRROR_PROT_NONE,
  HMM_DMIRROR_PROT_PMD,
  HMM_DMIRROR_PROT_PUD,
  HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_PROT_ZERO,
} from './devices/dmirror/index.ts';
export {
  GPUSVM_CHUNK_SIZES,
  GPUSVM_COPY_NS_PER_PAGE,
  GPUSVM_EVICT_TRIES,
  GPUSVM_MIGRATE_TRIES,
  GPUSVM_NOTIFIER_SIZE,
  GPUSVM_PTE_WRITE_NS,
  GpuSvm,
  GpuSvmAllocation,
  type GpuSvmMistake,
  GpuSvmNotifier,
  type GpuSvmOptions,
  GpuSvmRange,
  GpuSvmVram,
} from './devices/gpusvm/index.ts';
export * from './devmem/index.ts';
export * from './explore/index.ts';
export * from './hmm/index.ts';
export { type DmirrorDeviceOptions, Machine, type MachineOptions } from './machine.ts';
export { BufferPool } from './mm/buffer-pool.ts';
export * from './mm/index.ts';
export { isMutantId, MUTANT_IDS, type MutantId } from './mm/mutant.ts';
export type { MmObserver } from './mm/observer.ts';
export * from './notifier/index.ts';
export {
  type CowCase,
  type CowOutcome,
  type CowResult,
  type CowRunOptions,
  CowTap,
  cowNotModelled,
  listCowCases,
} from './selftest/cow/index.ts';
export {
  KselftestTap,
  listSelftests,
  runSelftest,
  type SelftestCase,
  type SelftestResult,
  type SelftestRunOptions,
} from './selftest/index.ts';
export * from './sim/errno.ts';
export {
  DeadlockError,
  ExternalAwaitError,
  KernelBug,
  kernelBug,
  SimulationError,
  StepBudgetError,
  SyscallError,
  UsageError,
} from './sim/errors.ts';
export { Mutex } from './sim/mutex.ts';
export { RandomPolicy, RoundRobinPolicy, RunToBlockPolicy, type SchedulePolicy } from './sim/policy.ts';
export { Prng } from './sim/prng.ts';
export { RwSemaphore } from './sim/rw-semaphore.ts';
export { Scheduler, type SchedulerHost, type SchedulerOptions } from './sim/scheduler.ts';
export { SimThread } from './sim/thread.ts';
export { Completion, WaitQueue } from './sim/wait-queue.ts';
export * from './trace/index.ts';
export {
  type Breakdown,
  COST_COMPONENTS,
  type CostComponent,
  CostModel,
  type Expectations,
  findPlatform,
  type KernelCosts,
  kernelCosts,
  type LinkModel,
  type MachineCosts,
  machineCosts,
  type Param,
  PLATFORMS,
  type Platform,
  type PlatformParams,
  type ResidencyBackend,
  runThpMigrationBenchmark,
  type ThpBenchmarkOptions,
  type ThpBenchmarkResults,
  type ThpBenchmarkSize,
  type ThpBenchmarkSizeSpec,
  transferNs,
  V6_THP_MIGRATION,
  VALIDATION_TARGETS,
  type ValidationPoint,
  type ValidationResult,
  type ValidationTarget,
} from './workload/index.ts';

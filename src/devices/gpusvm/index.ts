/**
 * A reference SVM driver in the style of `drm_gpusvm` (see gpusvm.ts).
 * @module
 */

export {
  GPUSVM_CHUNK_SIZES,
  GPUSVM_MIGRATE_TRIES,
  GPUSVM_NOTIFIER_SIZE,
  GPUSVM_PTE_WRITE_NS,
  GpuSvm,
  type GpuSvmMistake,
  GpuSvmNotifier,
  type GpuSvmOptions,
  GpuSvmRange,
} from './gpusvm.ts';
export { GPUSVM_COPY_NS_PER_PAGE, GPUSVM_EVICT_TRIES } from './migrate.ts';
export { GpuSvmAllocation, GpuSvmVram } from './vram.ts';

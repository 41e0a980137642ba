/**
 * A reference SVM driver in the style of `drm_gpusvm` (see gpusvm.ts).
 * @module
 */
export {
  GPUSVM_CHUNK_SIZES,
  GPUSVM_NOTIFIER_SIZE,
  GPUSVM_PTE_WRITE_NS,
  GpuSvm,
  type GpuSvmMistake,
  GpuSvmNotifier,
  type GpuSvmOptions,
  GpuSvmRange,
} from './gpusvm.ts';

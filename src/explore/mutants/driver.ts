/**
 * Driver-side mutants (variants of dmirror, src/devices/dmirror) and their scenarios. Each is a
 * mistake a real HMM driver made (docs/mutants.md), switched on by
 * a flag of the device's `quirks` (src/devices/dmirror/quirks.ts) at one place in dmirror, and the race that exposes it (`./scenarios-driver`).
 * @module
 */
import {
  cpuFaultVersusDeviceRead,
  deviceMappedVersusMunmap,
  deviceReadVersusEndlessInvalidation,
  deviceReadVersusMunmap,
  deviceReadVersusUnrelatedMunmap,
  deviceVersusCowChild,
  oomReaperVersusDevice,
} from './scenarios-driver/index.ts';
import type { MutantSpec } from './spec.ts';

/** The driver-side mutants. */
export const DRIVER_MUTANTS: readonly MutantSpec[] = [
  {
    id: 'D1',
    title: '`mmu_interval_read_begin()` hoisted out of the retry loop',
    source:
      'amdgpu "fix amdgpu_hmm_range_get_pages" (c08972f55594) and "drop retry loop in amdgpu_hmm_range_get_pages" (342981fff328); ROCm #6523, #5952',
    side: 'driver',
    site: 'src/devices/dmirror/fault.ts rangeFault (dmirror_range_fault)',
    oracle: 'scenario',
    scenario: deviceReadVersusUnrelatedMunmap,
    strategy: 'random',
    schedules: 50,
  },
  {
    id: 'D2',
    title: 'device PTEs committed without `mmu_interval_read_retry`',
    source: 'Documentation/mm/hmm.rst: the same lock in invalidate() and around read_retry',
    side: 'driver',
    site: 'src/devices/dmirror/fault.ts rangeFault (dmirror_range_fault)',
    oracle: 'mirror',
    scenario: deviceReadVersusMunmap,
    strategy: 'random',
    schedules: 300,
  },
  {
    id: 'D3',
    title: '`invalidate()` forgets `mmu_interval_set_seq()`',
    source:
      'lib/test_hmm.c dmirror_interval_invalidate, drivers/gpu/drm/drm_gpusvm.c: set_seq under the lock',
    side: 'driver',
    site: 'src/devices/dmirror/invalidate.ts update (dmirror_interval_invalidate)',
    oracle: 'mirror',
    scenario: deviceReadVersusMunmap,
    strategy: 'random',
    schedules: 300,
  },
  {
    id: 'D4',
    title: '`invalidate()` returns before the device TLB flush completes',
    source:
      'Documentation/mm/hmm.rst: the device must complete the update before the callback returns; two-pass notifiers (2025) only split start and wait',
    side: 'driver',
    site: 'src/devices/dmirror/invalidate.ts update (dmirror_do_update deferred to a device worker)',
    oracle: 'mirror',
    scenario: deviceMappedVersusMunmap,
    strategy: 'random',
    schedules: 20,
  },
  {
    id: 'D5',
    title: '`invalidate()` blocks when `!mmu_notifier_range_blockable(range)`',
    source: 'lib/test_hmm.c (trylock, else return false), uvm_hmm.c, drm_gpusvm.c (return false)',
    side: 'driver',
    site: 'src/devices/dmirror/invalidate.ts dmirrorIntervalInvalidate',
    oracle: 'assertion',
    scenario: oomReaperVersusDevice,
    strategy: 'random',
    schedules: 10,
  },
  {
    id: 'D6',
    title: 'pages of the hmm pfns used outside the notifier-lock critical section',
    source:
      'Jason Gunthorpe / Jérôme Glisse, linux-mm, Aug 2019: "the collision-retry scheme doesn\'t protect anything here"',
    side: 'driver',
    site: 'src/devices/dmirror/fault.ts rangeFault (dmirror_do_fault after mutex_unlock)',
    oracle: 'mirror',
    scenario: deviceReadVersusMunmap,
    strategy: 'random',
    schedules: 100,
  },
  {
    id: 'D11',
    title: 'device PTE permission taken from the VMA (VM_WRITE), not from HMM_PFN_WRITE',
    source: 'ROCm #6523 (COW broken for read-only copies; request write only when the device writes)',
    side: 'driver',
    site: 'src/devices/dmirror/fault.ts dmirrorDoFault (dmirror_do_fault)',
    oracle: 'mirror',
    scenario: deviceVersusCowChild,
    strategy: 'random',
    schedules: 10,
  },
  {
    id: 'M9',
    title: 'driver-private lock in `migrate_to_ram`',
    source:
      'Documentation/gpu/rfc/gpusvm.rst: "a driver-exclusive lock in migrate_to_ram produced a stable livelock"; rely on the core-MM page lock only',
    side: 'driver',
    site: 'src/devices/dmirror/devmem-fault.ts dmirrorDevmemFault (dmirror_devmem_fault); src/devices/dmirror/fault.ts dmirrorRangeFault (dmirror_range_fault)',
    oracle: 'liveness',
    scenario: cpuFaultVersusDeviceRead,
    strategy: 'random',
    schedules: 100,
  },
  {
    id: 'L1',
    title: 'unbounded retry: the fault loop without its HMM_RANGE_DEFAULT_TIMEOUT deadline',
    source: 'Documentation/mm/hmm.rst caller pattern: the retry loop bounded by HMM_RANGE_DEFAULT_TIMEOUT',
    side: 'driver',
    site: 'src/devices/dmirror/fault.ts rangeFault (dmirror_range_fault)',
    oracle: 'liveness',
    scenario: deviceReadVersusEndlessInvalidation,
    strategy: 'pct',
    schedules: 50,
  },
];

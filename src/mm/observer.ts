/**
 * What the race explorer's oracles watch on a machine: hooks called by the core and the drivers
 * at the places where a mistake would show (a CPU or device access, a mirror update, a page
 * freed). `Kernel.observer` is null unless an explorer run attached one, so unobserved machines
 * pay one branch per site. Every hook is optional and must not change simulated state.
 *
 * Producers call a hook as `const o = k.observer; if (o?.hook) o.hook(…)`, so a hook that nobody
 * provides costs nothing more. The oracles are in `src/explore/oracles`; one
 * `ObserverHub` there fans every call out to all of them.
 * @module
 */
import type { DeviceMirror } from './device-mirror.ts';
import type { MmStruct } from './mm-struct.ts';
import type { MmuNotifierRange } from './mmu-notifier.ts';

/** Observer of a machine's memory events (see `Kernel.observer`). */
export interface MmObserver {
  /**
   * A CPU read at `addr` in `mm` returned `data` (called once per page touched, right where the
   * bytes were copied out of the frame, before any other thread can run).
   */
  userRead?(mm: MmStruct, addr: number, data: Uint8Array): void;
  /** A CPU write of `data` at `addr` in `mm` reached its frame (once per page, where it was stored). */
  userWrite?(mm: MmStruct, addr: number, data: Uint8Array): void;
  /** A CPU 32-bit load at `addr` in `mm` returned `value` (a page-crossing load reports as {@link userRead}). */
  userRead32?(mm: MmStruct, addr: number, value: number): void;
  /** A CPU 32-bit store of `value` at `addr` in `mm` reached its frame. */
  userWrite32?(mm: MmStruct, addr: number, value: number): void;
  /**
   * A device accessed memory through its page table: `mirror`'s device read (`write` false) or
   * wrote `data` (bytes within one page) at `addr` of `mm` through its translation naming frame
   * `pfn`.
   */
  deviceAccess?(
    mirror: DeviceMirror,
    mm: MmStruct,
    addr: number,
    pfn: number,
    write: boolean,
    data: Uint8Array,
  ): void;
  /** A device driver changed `mirror`'s translations (a commit of device page-table entries). */
  mirrorUpdate?(mirror: DeviceMirror): void;
  /**
   * `mmu_notifier_invalidate_range_start` began for `range` (before any callback). Every start is
   * matched by exactly one {@link invalidateEnd}, also when a non-blockable start failed.
   */
  invalidateStart?(range: MmuNotifierRange): void;
  /** The invalidation `range` ended (`mmu_notifier_invalidate_range_end`, or its failed start). */
  invalidateEnd?(range: MmuNotifierRange): void;
  /** The folio headed by `head` lost its last reference and went back to its allocator. */
  pageFreed?(head: number): void;
  /**
   * A system call of `mm`'s process begins: `name` (`mmap`, `munmap`, `madvise`, `mremap`,
   * `fork`, `exit`, …) with its arguments, in the order of the Process method.
   */
  syscallBegin?(mm: MmStruct, name: string, args: readonly number[]): void;
  /** The system call `name` of `mm` returned `result` (for `fork`: the child's pid, see {@link forked}). */
  syscallEnd?(mm: MmStruct, name: string, args: readonly number[], result: number): void;
  /** `fork` built `child` as a copy of `parent` (called before `syscallEnd`). */
  forked?(parent: MmStruct, child: MmStruct): void;
  /** A kernel-internal invariant failed (`VM_BUG_ON`, `lockdep_assert_held`…): `what` says which. */
  kernelAssert?(what: string): void;
  /** A bounded retry loop gave up after its timeout (e.g. HMM_RANGE_DEFAULT_TIMEOUT): `where` says which. */
  retryTimeout?(where: string): void;
  /**
   * A bounded retry loop begins another attempt; it began its first at `startedAt` (virtual ns)
   * and promised to give up `timeoutNs` later. An attempt begun after that deadline is a loop
   * running past its timeout.
   */
  retryAttempt?(where: string, startedAt: number, timeoutNs: number): void;
}

/**
 * Trace events of the memory manager, delivered on the machine's event bus when someone listens.
 * @module
 */
import type { MmuNotifierRange } from './mmu-notifier.ts';

/** Fields every event carries. */
export interface MmEventBase {
  /** Virtual time of the event, ns. */
  time: number;
}

/** A CPU page fault handled (`handle_mm_fault` returned). */
export interface FaultEvent extends MmEventBase {
  /** Discriminant. */
  type: 'fault';
  /** The faulting simulated thread. */
  thread: string;
  /** Id of the address space. */
  mm: number;
  /** Faulting address. */
  addr: number;
  /** A write fault. */
  write: boolean;
  /** 0 or the VM_FAULT_* bits. */
  result: number;
}

/** An mmu-notifier invalidation began (`invalidate_range_start`) or ended (`_end`). */
export interface InvalidateEvent extends MmEventBase {
  /** Discriminant. */
  type: 'invalidate_start' | 'invalidate_end';
  /** The invalidating simulated thread. */
  thread: string;
  /** The range, its event (MMU_NOTIFY_*) and owner. */
  range: MmuNotifierRange;
}

/** A system call returned. */
export interface SyscallEvent extends MmEventBase {
  /** Discriminant. */
  type: 'syscall';
  /** The calling simulated thread. */
  thread: string;
  /** Id of the address space. */
  mm: number;
  /** System call name (`munmap`, `madvise`, …). */
  name: string;
  /** Its arguments, as numbers. */
  args: readonly number[];
  /** Its result: a value or a negative errno. */
  result: number;
}

/** A counter's new value. */
export interface CounterEvent extends MmEventBase {
  /** Discriminant. */
  type: 'counter';
  /** Counter name. */
  name: string;
  /** Its value. */
  value: number;
}

/**
 * A span of work on `thread`: B opens it, E closes the innermost span the thread opened with
 * the same `name` (or, when the E's `name` is empty, the innermost one on that track). Args of
 * both phases are merged.
 */
export interface SpanEvent extends MmEventBase {
  /** Discriminant. */
  type: 'span';
  /** The simulated thread doing the work. */
  thread: string;
  /** B opens, E closes. */
  phase: 'B' | 'E';
  /** What the work is (`migrate_vma`, `hmm_range_fault`, `READ`…). */
  name: string;
  /** Details (page counts, results). */
  args?: Record<string, unknown>;
  /** The track the work belongs on when it is not the thread's own, e.g. a device (`hmm_dmirror0`). */
  track?: string;
}

/** Something that happened at one instant. */
export interface InstantEvent extends MmEventBase {
  /** Discriminant. */
  type: 'instant';
  /** The simulated thread it happened on. */
  thread: string;
  /** What happened. */
  name: string;
  /** Details. */
  args?: Record<string, unknown>;
  /** The track it belongs on when it is not the thread's own. */
  track?: string;
}

/** Every event the mm and the layers above emit. Times are virtual ns. */
export type MmEvent = FaultEvent | InvalidateEvent | SyscallEvent | CounterEvent | SpanEvent | InstantEvent;

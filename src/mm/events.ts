/**
 * Trace events of the memory manager, delivered on the machine's event bus when someone listens.
 * @module
 */
import type { MmuNotifierRange } from './mmu-notifier.ts';

/** Every event the mm and the layers above emit. Times are virtual ns. */
export type MmEvent =
  | { type: 'fault'; time: number; thread: string; mm: number; addr: number; write: boolean; result: number }
  | { type: 'invalidate_start'; time: number; thread: string; range: MmuNotifierRange }
  | { type: 'invalidate_end'; time: number; thread: string; range: MmuNotifierRange }
  | {
      type: 'syscall';
      time: number;
      thread: string;
      mm: number;
      name: string;
      args: readonly number[];
      result: number;
    }
  | { type: 'counter'; time: number; name: string; value: number }
  /**
   * A span of work on `thread`: B opens it, E closes the innermost span the thread opened with
   * the same `name` (or, when the E's `name` is empty, the innermost one on that track). Args of
   * both phases are merged. `track` names the track the work belongs on when it is not the
   * thread's own, e.g. a device (`hmm_dmirror0`) for its commands.
   */
  | {
      type: 'span';
      time: number;
      thread: string;
      phase: 'B' | 'E';
      name: string;
      args?: Record<string, unknown>;
      track?: string;
    }
  | {
      type: 'instant';
      time: number;
      thread: string;
      name: string;
      args?: Record<string, unknown>;
      track?: string;
    };

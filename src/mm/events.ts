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
  | {
      type: 'span';
      time: number;
      thread: string;
      phase: 'B' | 'E';
      name: string;
      args?: Record<string, unknown>;
    }
  | { type: 'instant'; time: number; thread: string; name: string; args?: Record<string, unknown> };

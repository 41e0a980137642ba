/** Shared fixtures of the notifier unit tests. */
import { Kernel } from '../../../src/mm/kernel.ts';
import type { MmStruct } from '../../../src/mm/mm-struct.ts';
import {
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_EVENT_NAMES,
  type MmuNotifierRange,
  mmuNotifierRangeInit,
} from '../../../src/mm/mmu-notifier.ts';
import {
  type MmuIntervalNotifier,
  type MmuIntervalNotifierOps,
  mmuIntervalSetSeq,
} from '../../../src/notifier/interval-notifier.ts';
import { MmuNotifierSubscriptions } from '../../../src/notifier/subscriptions.ts';
import { RoundRobinPolicy } from '../../../src/sim/policy.ts';

/** A machine and one live mm; round-robin scheduling when asked (threads interleave at points). */
export function setup(roundRobin = false): { kernel: Kernel; mm: MmStruct } {
  const kernel = new Kernel({ memory: 16 * 1024 * 1024, hugetlbPages: 0 });
  if (roundRobin) kernel.sched.policy = new RoundRobinPolicy();
  return { kernel, mm: kernel.newMm() };
}

/** The record installed on `mm` (fails the test if there is none). */
export function subsOf(mm: MmStruct): MmuNotifierSubscriptions {
  const s = mm.notifierSubscriptions;
  if (!(s instanceof MmuNotifierSubscriptions)) throw new Error('no MmuNotifierSubscriptions on the mm');
  return s;
}

/** A CLEAR range over [start, end). */
export function clearRange(mm: MmStruct, start: number, end: number, blockable = true): MmuNotifierRange {
  return mmuNotifierRangeInit(mm, MMU_NOTIFY_CLEAR, start, end, null, blockable);
}

/** How a recording callback behaves. */
export interface RecordingBehaviour {
  /** What it returns (default true). */
  result?: boolean;
  /** Whether it stores curSeq with mmuIntervalSetSeq (default true). */
  setSeq?: boolean;
}

/**
 * Ops whose callback appends `"<name> <EVENT> [start,end) cur=<n>"` to `log` (hex addresses), calls
 * set_seq and returns true unless told otherwise.
 */
export function recordingOps(
  name: string,
  log: string[],
  behaviour: RecordingBehaviour = {},
): MmuIntervalNotifierOps {
  return {
    invalidate(sub: MmuIntervalNotifier, range: MmuNotifierRange, cur: number): boolean {
      log.push(
        `${name} ${MMU_NOTIFY_EVENT_NAMES[range.event]} [${hex(range.start)},${hex(range.end)}) cur=${cur}`,
      );
      if (behaviour.setSeq ?? true) mmuIntervalSetSeq(sub, cur);
      return behaviour.result ?? true;
    },
  };
}

/** Hex form of an address. */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/**
 * The account of an interleaving as readable text: one numbered line per step with its virtual
 * time and thread, context switches marked, and the violation with its message at the end.
 *
 *      12 [     1.234 µs] #2 unmapper  » switch from #1 reader (runnable at "hmm_range_fault walk")
 *      13 [     1.234 µs] #2 unmapper    munmap(0x7f0000000000, 16384) mm 1 → 0
 * @module
 */
import type { AccountStep, Violation } from './types.ts';

/** Lines of the account that mark a context switch start with this (see the runner). */
const SWITCH_PREFIX = 'switch from ';

/** Formats virtual nanoseconds as fixed-width microseconds. */
function time(ns: number): string {
  return `${(ns / 1000).toFixed(3).padStart(10)} µs`;
}

/** Options of {@link formatAccount}. */
export interface AccountTextOptions {
  /** Lines printed before the steps (scenario, token…). */
  readonly header?: readonly string[];
}

/**
 * The account as text. Switches are marked `»`; the violation, if any, closes the text with the
 * oracle, the thread, the time and the message (indented, as many lines as it has).
 */
export function formatAccount(
  steps: readonly AccountStep[],
  violation: Violation | null,
  options: AccountTextOptions = {},
): string {
  const lines: string[] = [...(options.header ?? [])];
  let width = 0;
  for (const s of steps) if (s.thread.length > width) width = s.thread.length;
  const numberWidth = String(steps.length).length;
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i]!;
    const mark = s.what.startsWith(SWITCH_PREFIX) ? '» ' : '  ';
    lines.push(
      `${String(i + 1).padStart(numberWidth)} [${time(s.time)}] ${s.thread.padEnd(width)} ${mark}${s.what}`,
    );
  }
  if (violation === null) lines.push('no violation');
  else {
    lines.push(
      `VIOLATION (${violation.oracle}) in ${violation.thread} at ${(violation.time / 1000).toFixed(3)} µs:`,
    );
    for (const l of violation.message.split('\n')) lines.push(`    ${l}`);
  }
  return `${lines.join('\n')}\n`;
}

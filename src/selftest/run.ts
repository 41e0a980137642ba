/**
 * Running one case of the self-test port and reporting it in the kselftest harness's words
 * (what `hmmsim selftest`, the TAP writer and the kernel-oracle comparison consume).
 * @module
 */
import type { Machine } from '../machine.ts';
import { SelftestAssertionError } from './expect.ts';
import type { SelftestCase, SelftestRunOptions } from './harness.ts';

/** The outcome of one case, as {@link runSelftest} reports it. */
export interface SelftestResult {
  /** The case's name, `hmm.hmm_device_private.anon_read`. */
  name: string;
  /** Whether the case passed. */
  ok: boolean;
  /**
   * Why it failed, in the kselftest harness's words, one report per line: for a failed
   * assertion `anon.ts:44:anon_read:Expected -14 == 0` (where, which test, what) then
   * `anon_read: Test terminated by assertion`; for a simulated SIGSEGV or SIGBUS the error then
   * `… Test terminated unexpectedly by signal 11` (or 7); for anything else the error then
   * `… Test failed`. Undefined when the case passed.
   */
  error?: string;
  /** Virtual time the case's machines ran, in nanoseconds (summed over its machines). */
  virtualNs: number;
}

/** Signal numbers of the access errors the simulation throws for what the kernel would signal. */
const SIGNALS: Record<string, number> = { SegmentationFault: 11, BusError: 7 };

/**
 * The failure report of `test` that threw `error`, in the kselftest harness's words (see
 * {@link SelftestResult.error}).
 */
export function describeSelftestFailure(test: string, error: unknown): string {
  if (error instanceof SelftestAssertionError) {
    const where = error.location === undefined ? '' : `${error.location}:`;
    return `${where}${test}:${error.message}\n${test}: Test terminated by assertion`;
  }
  const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const signal = error instanceof Error ? SIGNALS[error.name] : undefined;
  const end = signal === undefined ? 'Test failed' : `Test terminated unexpectedly by signal ${signal}`;
  return `${test}: ${what}\n${test}: ${end}`;
}

/**
 * Runs one case and reports how it went, never throwing for the case's failure: a failed
 * assertion or any error the body throws makes `ok` false with the report in `error`.
 * `options.onMachine` is called with every machine the case creates, as by
 * {@link SelftestCase.run}.
 */
export async function runSelftest(
  selftest: SelftestCase,
  options?: SelftestRunOptions,
): Promise<SelftestResult> {
  const machines: Machine[] = [];
  const onMachine = (machine: Machine): void => {
    machines.push(machine);
    options?.onMachine?.(machine);
  };
  let error: string | undefined;
  try {
    await selftest.run({ ...options, onMachine });
  } catch (e) {
    error = describeSelftestFailure(selftest.test, e);
  }
  const virtualNs = machines.reduce((sum, m) => sum + m.sched.clock.now, 0);
  return error === undefined
    ? { name: selftest.name, ok: true, virtualNs }
    : { name: selftest.name, ok: false, error, virtualNs };
}

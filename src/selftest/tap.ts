/**
 * The kselftest harness's TAP output (tools/testing/selftests/kselftest_harness.h and
 * kselftest.h), line for line, for the self-test port's results.
 * @module
 */
import type { SelftestCase } from './harness/registry.ts';
import type { SelftestResult } from './run.ts';

/**
 * Writes a run's report as the kselftest harness prints it:
 *
 * ```text
 * TAP version 13
 * 1..76
 * # Starting 76 tests from 4 test cases.
 * #  RUN           hmm.hmm_device_private.open_close ...
 * #            OK  hmm.hmm_device_private.open_close
 * ok 1 hmm.hmm_device_private.open_close
 * …
 * # PASSED: 76 / 76 tests passed.
 * # Totals: pass:76 fail:0 xfail:0 xpass:0 skip:0 error:0
 * ```
 *
 * Each line goes to `write` without its newline. A failed case's report (its `error`, line by
 * line) is written as `# ` comments between its RUN and FAIL lines, where the harness's
 * assertion messages appear.
 */
export class KselftestTap {
  /** Where the lines go, one call per line, without the newline. */
  readonly write: (line: string) => void;
  private planned = 0;
  private pass = 0;
  private fail = 0;

  /** @param write See {@link KselftestTap.write}. */
  constructor(write: (line: string) => void) {
    this.write = write;
  }

  /**
   * The header: `TAP version 13`, the plan `1..N`, and `# Starting N tests from M test cases.`,
   * where a test case is a fixture variant (`hmm.hmm_device_private`…) with tests to run.
   */
  plan(cases: readonly Pick<SelftestCase, 'fixture' | 'variant'>[]): void {
    this.planned = cases.length;
    const testCases = new Set(cases.map((c) => `${c.fixture}.${c.variant}`)).size;
    this.write('TAP version 13');
    this.write(`1..${cases.length}`);
    this.write(`# Starting ${cases.length} tests from ${testCases} test cases.`);
  }

  /**
   * One case's lines: `#  RUN           <name> ...`, the failure report if any, `#            OK  <name>`
   * or `#          FAIL  <name>`, then `ok <n> <name>` or `not ok <n> <name>`.
   * @param index The case's position in the plan, from 0; TAP numbers it `index + 1`.
   * @param result What {@link runSelftest} reported.
   */
  result(index: number, result: SelftestResult): void {
    this.write(`#  RUN           ${result.name} ...`);
    if (!result.ok && result.error !== undefined)
      for (const line of result.error.split('\n')) this.write(`# ${line}`);
    this.write(`#          ${result.ok ? '  OK' : 'FAIL'}  ${result.name}`);
    this.write(`${result.ok ? 'ok' : 'not ok'} ${index + 1} ${result.name}`);
    if (result.ok) this.pass++;
    else this.fail++;
  }

  /**
   * The summary: `# PASSED: p / n tests passed.` (or `# FAILED: …` if any failed), a
   * `# Planned tests != run tests (…)` line if fewer or more ran than planned, and
   * `# Totals: pass:p fail:f xfail:0 xpass:0 skip:0 error:0`.
   * @returns Whether every case passed and as many ran as were planned (the kselftest exit status 0).
   */
  finish(): boolean {
    const ran = this.pass + this.fail;
    this.write(`# ${this.fail === 0 ? 'PASSED' : 'FAILED'}: ${this.pass} / ${ran} tests passed.`);
    if (ran !== this.planned) this.write(`# Planned tests != run tests (${this.planned} != ${ran})`);
    this.write(`# Totals: pass:${this.pass} fail:${this.fail} xfail:0 xpass:0 skip:0 error:0`);
    return this.fail === 0 && ran === this.planned;
  }
}

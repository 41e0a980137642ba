/**
 * cow.c's TAP output (kselftest.h: `ksft_print_header`, `ksft_set_plan`, `ksft_print_msg`,
 * `ksft_test_result_*`, `ksft_finished`), line for line, for the port's results.
 * @module
 */
import type { CowResult } from './runtime.ts';

/**
 * Writes a run's report as cow.c prints it: `TAP version 13`, the plan, then per case its
 * `# [RUN] <name>` line, its `# ` messages and `ok N msg`, `not ok N msg`, `ok N # SKIP msg` or
 * `ok N # XFAIL msg`, and at the end `# Totals: pass:… fail:… xfail:… xpass:0 skip:… error:0`.
 */
export class CowTap {
  /** Where the lines go, one call per line, without the newline. */
  readonly write: (line: string) => void;
  private planned = 0;
  private n = 0;
  private readonly counts = { pass: 0, fail: 0, xfail: 0, skip: 0 };

  /** @param write See {@link CowTap.write}. */
  constructor(write: (line: string) => void) {
    this.write = write;
  }

  /** The header and the plan (`1..670`). */
  plan(count: number): void {
    this.planned = count;
    this.write('TAP version 13');
    this.write(`1..${count}`);
  }

  /** One case. */
  result(r: CowResult): void {
    this.write(`# [RUN] ${r.name}`);
    for (const note of r.notes) this.write(`# ${note}`);
    const n = ++this.n;
    this.counts[r.outcome]++;
    if (r.outcome === 'pass') this.write(`ok ${n} ${r.message}`);
    else if (r.outcome === 'fail') this.write(`not ok ${n} ${r.message}`);
    else this.write(`ok ${n} # ${r.outcome === 'skip' ? 'SKIP' : 'XFAIL'} ${r.message}`);
  }

  /**
   * The totals line (and `# Planned tests != run tests` if they differ).
   * @returns Whether no case failed and all planned ran (the kselftest exit status 0).
   */
  finish(): boolean {
    const c = this.counts;
    if (this.n !== this.planned) this.write(`# Planned tests != run tests (${this.planned} != ${this.n})`);
    this.write(`# Totals: pass:${c.pass} fail:${c.fail} xfail:${c.xfail} xpass:0 skip:${c.skip} error:0`);
    return c.fail === 0 && this.n === this.planned;
  }
}

/**
 * Interleaving coverage of an exploration: the distinct ordered pairs (a, b) of preemption points
 * such that a thread gave up the CPU at point a and the thread that ran next resumed at point b.
 * Every new pair is an interleaving of two code sites not tried before; when schedules stop
 * adding pairs, more of the same strategy stop paying. Labels are interned, pairs kept as numbers.
 * @module
 */

/** The coverage of one exploration (see the module comment). */
export class InterleavingCoverage {
  private readonly labels = new Map<string, number>();
  private readonly pairs = new Set<number>();
  /** Pairs seen in the schedule being run, before it is counted. */
  private added = 0;
  /** Schedules counted so far. */
  schedules = 0;
  /** The schedule (1-based count) that added the last new pair; 0 when none did. */
  lastNewAt = 0;

  private id(label: string): number {
    let i = this.labels.get(label);
    if (i === undefined) {
      i = this.labels.size;
      this.labels.set(label, i);
    }
    return i;
  }

  /** A switch: the running thread stopped at `from`, the next one resumes at `to`. */
  add(from: string, to: string): void {
    const key = this.id(from) * 0x100000 + this.id(to);
    if (this.pairs.has(key)) return;
    this.pairs.add(key);
    this.added++;
  }

  /** The schedule being run is over. */
  endSchedule(): void {
    this.schedules++;
    if (this.added > 0) this.lastNewAt = this.schedules;
    this.added = 0;
  }

  /** Distinct ordered pairs seen. */
  get size(): number {
    return this.pairs.size;
  }

  /** Distinct preemption-point labels seen. */
  get points(): number {
    return this.labels.size;
  }
}

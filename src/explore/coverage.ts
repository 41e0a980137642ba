/**
 * Interleaving coverage of an exploration: the distinct ordered pairs (a, b) of preemption points
 * such that a thread gave up the CPU at point a and the thread that ran next resumed at point b.
 * Every new pair is an interleaving of two code sites not tried before; when schedules stop
 * adding pairs, more of the same strategy stop paying. Labels are interned, pairs kept as numbers
 * with the schedule that first saw them, so that the pairs of several explorations (workers,
 * shards) can be united exactly, and a run cut short after its n-th schedule still knows which
 * pairs its first n schedules saw.
 * @module
 */
import type { CoveragePair, ExploreCoverage } from './types.ts';

/** The coverage of one exploration (see the module comment). */
export class InterleavingCoverage {
  private readonly labels = new Map<string, number>();
  /** Pair key → the schedule (1-based count) that first saw it. */
  private readonly pairs = new Map<number, number>();
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
    this.pairs.set(key, this.schedules + 1);
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

  /** The report's form: counts plus every pair with the schedule that first saw it. */
  report(): ExploreCoverage {
    const names: string[] = [];
    for (const [label, i] of this.labels) names[i] = label;
    const seen: CoveragePair[] = [];
    for (const [key, at] of this.pairs)
      seen.push([names[Math.floor(key / 0x100000)]!, names[key % 0x100000]!, at]);
    return { pairs: this.pairs.size, points: this.labels.size, lastNewAt: this.lastNewAt, seen };
  }
}

/**
 * The exact union of several explorations' coverage, each optionally cut after its first
 * `upTo[i]` schedules (pairs first seen later are left out). A pair's schedule in the union is the
 * earliest at which any of them saw it (schedules of different explorations are counted in
 * parallel: each from 1). Null when some coverage lacks its pairs (a report older than them).
 */
export function uniteCoverage(
  parts: readonly (ExploreCoverage | undefined)[],
  upTo: readonly number[] = [],
): ExploreCoverage | null {
  const first = new Map<string, { from: string; to: string; at: number }>();
  for (let i = 0; i < parts.length; i++) {
    const seen = parts[i]?.seen;
    if (seen === undefined) return null;
    const limit = upTo[i] ?? Number.POSITIVE_INFINITY;
    for (const [from, to, at] of seen) {
      if (at > limit) continue;
      const key = `${from}\u0000${to}`;
      const known = first.get(key);
      if (known === undefined || at < known.at) first.set(key, { from, to, at });
    }
  }
  const points = new Set<string>();
  let lastNewAt = 0;
  const seen: CoveragePair[] = [];
  for (const { from, to, at } of first.values()) {
    points.add(from);
    points.add(to);
    lastNewAt = Math.max(lastNewAt, at);
    seen.push([from, to, at]);
  }
  return { pairs: seen.length, points: points.size, lastNewAt, seen };
}

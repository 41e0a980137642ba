/**
 * Seeking in a recording: the page states after any row, reached by applying the rows' changes
 * forwards (new values) or backwards (old values) from the current position, or from the nearest
 * step end when that is closer. Cost: the changes between the two positions.
 * @module
 */
import { Pc } from './pages.ts';
import { COUNTS, type PageSnapshot, type Recording } from './recorder.ts';

/** The `#state` summary the page publishes (the contract). */
export interface StateSummary {
  readonly scenario: string;
  readonly step: number;
  readonly steps: number;
  readonly cpu: { readonly ram: number; readonly device: number; readonly swapped: number };
}

/** A cursor over a recording: `at` rows have happened (0 … rows.length). */
export class SeekState {
  /** Rows applied. */
  at = 0;
  readonly codes: Uint8Array;
  readonly pfns: Float64Array;
  readonly dev: Uint8Array;
  readonly dpfn: Float64Array;
  /** Keyframes at the step ends: `at` → states. */
  private readonly keys: { at: number; snap: PageSnapshot }[] = [];
  /** Flat indices changed by the last seek (for the views' "changed now" pulse). */
  changed: Int32Array = new Int32Array(0);

  constructor(readonly rec: Recording) {
    const n = rec.pages;
    this.codes = new Uint8Array(n).fill(Pc.NoVma);
    this.pfns = new Float64Array(n);
    this.dev = new Uint8Array(n);
    this.dpfn = new Float64Array(n);
    this.keys.push({ at: 0, snap: this.copy() });
    for (const m of rec.marks) {
      this.apply(this.at, m.row + 1);
      this.at = m.row + 1;
      this.keys.push({ at: this.at, snap: this.copy() });
    }
    this.seek(0);
  }

  private copy(): PageSnapshot {
    return {
      codes: this.codes.slice(),
      pfns: this.pfns.slice(),
      dev: this.dev.slice(),
      dpfn: this.dpfn.slice(),
    };
  }

  /** Moves to `at` rows (clamped); returns the number of changes applied. */
  seek(at: number): number {
    const rec = this.rec;
    at = Math.max(0, Math.min(rec.rows.length, Math.floor(at)));
    const ds = rec.deltaStart;
    const cost = (a: number, b: number): number => Math.abs(ds[b]! - ds[a]!);
    let from = this.at;
    let best = cost(from, at);
    let key: { at: number; snap: PageSnapshot } | null = null;
    for (const k of this.keys) {
      const c = cost(k.at, at);
      if (c + (rec.pages >> 3) < best) {
        best = c;
        key = k;
      }
    }
    if (key) {
      this.codes.set(key.snap.codes);
      this.pfns.set(key.snap.pfns);
      this.dev.set(key.snap.dev);
      this.dpfn.set(key.snap.dpfn);
      from = key.at;
    }
    const n = this.apply(from, at);
    this.at = at;
    return n;
  }

  /** Applies the changes of rows [from, to) forwards, or of rows [to, from) backwards. */
  private apply(from: number, to: number): number {
    const r = this.rec;
    const ds = r.deltaStart;
    const changed: number[] = [];
    if (to >= from) {
      for (let d = ds[from]!; d < ds[to]!; d++)
        this.set(r.dIndex[d]!, r.dNewCode[d]!, r.dNewPfn[d]!, changed);
    } else {
      for (let d = ds[from]! - 1; d >= ds[to]!; d--)
        this.set(r.dIndex[d]!, r.dOldCode[d]!, r.dOldPfn[d]!, changed);
    }
    this.changed = Int32Array.from(changed.length > 65_536 ? [] : changed);
    return changed.length;
  }

  private set(i: number, code: number, pfn: number, changed: number[]): void {
    if (i >= 0) {
      this.codes[i] = code;
      this.pfns[i] = pfn;
      if (changed.length <= 65_536) changed.push(i);
    } else {
      this.dev[-i - 1] = code;
      this.dpfn[-i - 1] = pfn;
      if (changed.length <= 65_536) changed.push(-i - 1);
    }
  }

  /** The first row after which some device entry is stale, or -1. */
  firstStale(): number {
    const c = this.rec.counts;
    for (let r = 0; r < this.rec.rows.length; r++) if (c[r * COUNTS + 4]! > 0) return r;
    return -1;
  }

  /** Scenario steps completed at the cursor. */
  step(): number {
    const marks = this.rec.marks;
    // Step k has ended once its mark row (the (k+1)-th mark, index k; mark 0 is setup) is applied.
    let done = 0;
    for (let k = 1; k < marks.length; k++) if (marks[k]!.row < this.at) done = k;
    return done;
  }

  /** The page states after step `k` (0: after the set-up), from its keyframe; null past the last. */
  stepFrame(k: number): PageSnapshot | null {
    return this.keys[k + 1]?.snap ?? null;
  }

  /** The cursor of the state after `step` steps (`end` for all of them). */
  atStep(step: number | 'end'): number {
    const marks = this.rec.marks;
    const k = step === 'end' ? marks.length - 1 : Math.max(0, Math.min(marks.length - 1, step));
    return marks.length === 0 ? 0 : marks[k]!.row + 1;
  }

  /** The `#state` summary at the cursor. */
  summary(): StateSummary {
    const c = this.rec.counts;
    const i = this.at - 1;
    return {
      scenario: this.rec.scenario,
      step: this.step(),
      steps: this.rec.steps,
      cpu:
        i < 0
          ? { ram: 0, device: 0, swapped: 0 }
          : { ram: c[i * COUNTS]!, device: c[i * COUNTS + 1]!, swapped: c[i * COUNTS + 2]! },
    };
  }
}

/**
 * Migrations as the recording shows them: a page whose CPU entry became a migration entry and
 * then a present or device-private entry naming a frame on the other side (RAM ↔ device memory).
 * That is `migrate_vma`'s sequence — `migrate_vma_setup` installs migration entries over the
 * source frames, `migrate_vma_finalize` replaces them with entries for the destination — and
 * `migrate_to_ram`'s in the other direction. A migration entry restored to its own frame (the
 * page was not migrated) is not a move.
 *
 * Found once per recording from its page changes; the frame map draws the moves of the step
 * under the cursor as arrows, bundled into runs of consecutive pages and frames.
 * @module
 */
import { Pc } from './pages.ts';
import type { Recording } from './recorder.ts';

/** Every move of a recording, in the order they completed (columns). */
export interface MoveLog {
  /** Flat page index. */
  readonly page: Int32Array;
  readonly from: Float64Array;
  readonly to: Float64Array;
  /** Row that installed the migration entry, and row that replaced it with the destination. */
  readonly start: Int32Array;
  readonly end: Int32Array;
}

/** A bundle of moves shown together: consecutive pages, frames stepping by ±1 on each side. */
export interface MoveRun {
  readonly firstPage: number;
  readonly pages: number;
  /** First source and destination frames, and their step from page to page (±1). */
  readonly from: number;
  readonly to: number;
  readonly dFrom: number;
  readonly dTo: number;
  /** RAM → device memory, or back. */
  readonly toDevice: boolean;
  /** Done at the cursor (the destination is mapped), or still in progress (migration entries). */
  readonly done: boolean;
}

/** Finds every RAM ↔ device move of a recording. */
export function findMoves(rec: Recording): MoveLog {
  const n = rec.pages;
  const pendStart = new Int32Array(n).fill(-1);
  const pendFrom = new Float64Array(n);
  const page: number[] = [];
  const from: number[] = [];
  const to: number[] = [];
  const start: number[] = [];
  const end: number[] = [];
  const { deltaStart: ds, dIndex, dOldCode, dNewCode, dOldPfn, dNewPfn, ramFrames } = rec;
  for (let r = 0; r < rec.rows.length; r++) {
    for (let d = ds[r]!; d < ds[r + 1]!; d++) {
      const i = dIndex[d]!;
      if (i < 0) continue;
      const o = dOldCode[d]!;
      const c = dNewCode[d]!;
      if (c === Pc.Migration && o !== Pc.Migration) {
        pendStart[i] = r;
        pendFrom[i] = dOldPfn[d]!;
      } else if (o === Pc.Migration && c !== Pc.Migration && pendStart[i]! >= 0) {
        const a = pendFrom[i]!;
        const b = dNewPfn[d]!;
        if (c !== Pc.None && c !== Pc.NoVma && c !== Pc.Swap && a >= ramFrames !== b >= ramFrames) {
          page.push(i);
          from.push(a);
          to.push(b);
          start.push(pendStart[i]!);
          end.push(r);
        }
        pendStart[i] = -1;
      }
    }
  }
  return {
    page: Int32Array.from(page),
    from: Float64Array.from(from),
    to: Float64Array.from(to),
    start: Int32Array.from(start),
    end: Int32Array.from(end),
  };
}

/** Rows `[first, last]` of the scenario step the cursor (`at` rows applied) is in. */
export function stepRows(rec: Recording, at: number): [number, number] {
  const row = at - 1;
  let first = 0;
  for (const m of rec.marks) {
    if (m.row >= row) return [first, m.row];
    first = m.row + 1;
  }
  return [first, rec.rows.length - 1];
}

/**
 * The moves to draw at the cursor: those of its step that have begun (their migration entry is
 * installed), bundled into runs; a run is done once every one of its destinations is mapped.
 */
export function movesAt(rec: Recording, log: MoveLog, at: number): MoveRun[] {
  if (at <= 0) return [];
  const [first, last] = stepRows(rec, at);
  const row = at - 1;
  const picked: number[] = [];
  for (let k = 0; k < log.page.length; k++) {
    const s = log.start[k]!;
    if (s >= first && s <= last && s <= row) picked.push(k);
  }
  picked.sort((x, y) => log.page[x]! - log.page[y]!);
  const runs: MoveRun[] = [];
  let cur: {
    firstPage: number;
    pages: number;
    from: number;
    to: number;
    dFrom: number;
    dTo: number;
    toDevice: boolean;
    done: boolean;
  } | null = null;
  for (const k of picked) {
    const p = log.page[k]!;
    const a = log.from[k]!;
    const b = log.to[k]!;
    const toDevice = b >= rec.ramFrames;
    const done = log.end[k]! <= row;
    if (cur !== null && cur.toDevice === toDevice && cur.done === done && p === cur.firstPage + cur.pages) {
      const lastFrom = cur.from + cur.dFrom * (cur.pages - 1);
      const lastTo = cur.to + cur.dTo * (cur.pages - 1);
      const dA = a - lastFrom;
      const dB = b - lastTo;
      const fits =
        cur.pages === 1 ? Math.abs(dA) === 1 && Math.abs(dB) === 1 : dA === cur.dFrom && dB === cur.dTo;
      if (fits) {
        if (cur.pages === 1) {
          cur.dFrom = dA;
          cur.dTo = dB;
        }
        cur.pages++;
        continue;
      }
    }
    if (cur !== null) runs.push(cur);
    cur = { firstPage: p, pages: 1, from: a, to: b, dFrom: 1, dTo: 1, toDevice, done };
  }
  if (cur !== null) runs.push(cur);
  return runs;
}

/**
 * The recorder: watches one simulated run and keeps what the page needs to show any moment of it
 * — a row per bus event (plus a row at the end of each scenario step), the per-page changes each
 * row made to the CPU page tables and the device mirrors (old and new values, so a seek runs both
 * ways), keyframes at step ends, the invalidations open and the notifier sequence numbers after
 * each row. Changes are found by reading the page states after every row and comparing them with
 * the previous reading, never by trusting which range a notifier named: a mutant that skips an
 * invalidation changes the tables all the same, and the recording shows it.
 *
 * DOM-free and Node-free: it runs in the page's worker and in the Node tests.
 * @module
 */

import type { ScenarioState } from '../../../src/cli/scenario/run.ts';
import type { DmirrorFile } from '../../../src/devices/dmirror/file.ts';
import type { Machine } from '../../../src/machine.ts';
import { PAGE_SIZE } from '../../../src/mm/constants.ts';
import type { MmEvent } from '../../../src/mm/events.ts';
import type { MmStruct } from '../../../src/mm/mm-struct.ts';
import { MMU_NOTIFY_EVENT_NAMES } from '../../../src/mm/mmu-notifier.ts';
import type { Process } from '../../../src/mm/process.ts';
import { DC_STALE, Dc, Pc, readDeviceStates, readPageStates } from './pages.ts';
import { RawWords, type Stretch, stretches, type TableWrites, watchMapWrites } from './table-watch.ts';

/** A stretch of one process's address space the maps show: a named mapping or an unnamed VMA. */
export interface Region {
  /** Label: the mapping's name, or `[vma 0x…]`. */
  readonly name: string;
  /** Process name (the scenario's), or `pid N`. */
  readonly process: string;
  readonly pid: number;
  /** The pid of the process that forked this one, or null (a process the scenario created). */
  readonly parent: number | null;
  readonly addr: number;
  readonly pages: number;
  /** Index of the region's first page in the flat state arrays. */
  readonly at: number;
  /** Id of the address space (the pid that created it). */
  readonly mm: number;
  /** Row at which the region appeared. */
  readonly since: number;
  /** The device file mirroring this process (`device:file`), or null. */
  file: string | null;
}

/** An invalidation open at some moment. */
export interface OpenRange {
  readonly mm: number;
  readonly start: number;
  readonly end: number;
  /** MMU_NOTIFY_* name. */
  readonly event: string;
  readonly thread: string;
}

/** The notifier state of one address space. */
export interface NotifierInfo {
  readonly mm: number;
  /** `mmu_notifier_subscriptions.invalidate_seq`: odd while an invalidation is in progress. */
  readonly seq: number;
  /** `active_invalidate_ranges`. */
  readonly active: number;
  /** Interval subscriptions (dmirror files): their range and `invalidate_seq`. */
  readonly subs: readonly {
    readonly file: string;
    readonly start: number;
    readonly last: number;
    readonly seq: number;
  }[];
}

/** One row of the event log. */
export interface Row {
  /** `fault`, `invalidate_start`, `invalidate_end`, `syscall`, `span`, `instant`, `counter`, `step`. */
  readonly type: string;
  /** Virtual time, ns. */
  readonly time: number;
  readonly thread: string;
  /** One line saying what happened. */
  readonly text: string;
  /** Span phase (`B`/`E`) for spans. */
  readonly phase?: 'B' | 'E';
  /** Span or instant name. */
  readonly name?: string;
  /** Device track of a span, when not the thread's. */
  readonly track?: string;
  /** Scenario steps completed when the row happened. */
  readonly step: number;
  /** Pages (first, count) the row concerns, when it names some (fault address, range). */
  readonly addr?: number;
  readonly len?: number;
}

/** One scenario step end. */
export interface StepMark {
  /** The row that closes the step (its `step` row). */
  readonly row: number;
  readonly op: string;
  readonly line: number;
  readonly text: string;
}

/** A finished recording, structured-clone friendly (it crosses from the worker to the page). */
export interface Recording {
  readonly scenario: string;
  /** Top-level steps of the scenario. */
  readonly steps: number;
  /** Step ends (index 0: the end of setup — devices, processes, initial mappings). */
  readonly marks: StepMark[];
  readonly rows: Row[];
  readonly regions: Region[];
  /** Total pages over the regions (length of the flat arrays at the end). */
  readonly pages: number;
  /** Row r's changes are `[deltaStart[r], deltaStart[r + 1])` of the delta columns. */
  readonly deltaStart: Int32Array;
  /** Flat page index of a change; negative (−index − 1) for a device entry (code with its stale bit). */
  readonly dIndex: Int32Array;
  readonly dOldCode: Uint8Array;
  readonly dNewCode: Uint8Array;
  readonly dOldPfn: Float64Array;
  readonly dNewPfn: Float64Array;
  /** Invalidations open after each row (shared arrays: they change only at start/end rows). */
  readonly open: OpenRange[][];
  /** Notifier state after each row (shared arrays: they change rarely). */
  readonly notifiers: NotifierInfo[][];
  /** Per row ({@link COUNTS} numbers each): pages present, device-private, swapped, device-mirrored, stale device entries. */
  readonly counts: Int32Array;
  /** Whether row r's page state was read exactly after it (false: sampled, shown as of a later row). */
  readonly exact: Uint8Array;
  /** Machine facts for the frame map and the inspector. */
  readonly ramFrames: number;
  /** Frames of RAM and device memory together, the most the run had (every pfn is below it). */
  readonly nrFrames: number;
  readonly threads: string[];
  readonly devices: string[];
  /** The first failure (failed expectation or error), or null. */
  readonly failure: string | null;
  readonly ok: boolean;
  /** Wall-clock ms the run took with recording. */
  readonly elapsedMs: number;
}

/** Numbers per row in {@link Recording.counts}. */
export const COUNTS = 5;

/** Options of a {@link Recorder}. */
export interface RecorderOptions {
  /**
   * Read every row exactly while the regions hold at most this many pages (default 65,536); above
   * it, rows are sampled (invalidations, system calls, spans' ends, step ends, every Nth row).
   */
  readonly exactPages?: number;
  /** Stop recording rows after this many (default 2,000,000): a runaway run stays bounded. */
  readonly maxRows?: number;
  /** Called after each row is recorded, with its index (a probe reads the machine then). */
  readonly onRow?: (row: number) => void;
  /**
   * Rows only at step ends (and {@link Recorder.moment}s), no row per bus event: the page's first
   * answer, which shows a step end before the full recording is done. The bus is still followed
   * for what a step end's state depends on (regions appearing, forks, invalidations open), so
   * the regions, their labels and the states at every step end are those of the full recording.
   */
  readonly stepsOnly?: boolean;
}

/** Growable typed column. */
class Col<T extends Int32Array | Uint8Array | Float64Array> {
  a: T;
  n = 0;
  constructor(private readonly make: (n: number) => T) {
    this.a = make(1024);
  }
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = this.make(this.a.length * 2);
      b.set(this.a as never);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  done(): T {
    return this.a.slice(0, this.n) as T;
  }
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** Records one run: attach it to the machine before the scenario's setup, call {@link mark} at step ends. */
export class Recorder {
  readonly rows: Row[] = [];
  readonly regions: Region[] = [];
  readonly marks: StepMark[] = [];
  private pages = 0;
  /** The state after the last read row. */
  private codes = new Uint8Array(0);
  private pfns = new Float64Array(0);
  private dev = new Uint8Array(0);
  private dpfn = new Float64Array(0);
  /** Scratch for a fresh read. */
  private sCodes = new Uint8Array(0);
  private sPfns = new Float64Array(0);
  private sDev = new Uint8Array(0);
  private sDpfn = new Float64Array(0);
  private readonly deltaStart = new Col((n) => new Int32Array(n));
  private readonly dIndex = new Col((n) => new Int32Array(n));
  private readonly dOldCode = new Col((n) => new Uint8Array(n));
  private readonly dNewCode = new Col((n) => new Uint8Array(n));
  private readonly dOldPfn = new Col((n) => new Float64Array(n));
  private readonly dNewPfn = new Col((n) => new Float64Array(n));
  private readonly countsCol = new Col((n) => new Int32Array(n));
  private readonly exactCol = new Col((n) => new Uint8Array(n));
  private readonly open: OpenRange[][] = [];
  private readonly notifiers: NotifierInfo[][] = [];
  private curOpen: OpenRange[] = [];
  private curNotif: NotifierInfo[] = [];
  /** The numbers the notifier state was last built from (rebuilt when one differs). */
  private readonly notifKey = new KeyList();
  private count = [0, 0, 0, 0, 0];
  private readonly threads = new Set<string>();
  private readonly devices = new Set<string>();
  private sinceRead = 0;
  /** The numbers the regions were last discovered from (processes, VMAs, files). */
  private readonly structKey = new KeyList();
  /** Address spaces by pid and device files by name, refreshed with the regions. */
  private mmByPid = new Map<number, MmStruct>();
  private fileByName = new Map<string, DmirrorFile>();
  /** {@link processes} and {@link files} as of the last structure change (they follow it). */
  private procList: { name: string; p: Process }[] = [];
  private fileList: { name: string; f: DmirrorFile }[] = [];
  /** The raw page-table words last decoded, and each region's 2 MiB stretches. */
  private readonly raw = new RawWords();
  private regionStretches: Stretch[][] = [];
  /** Writes to each file's device table since the last read. */
  private readonly ptWatch = new Map<DmirrorFile, TableWrites>();
  /** Flat indices of the pages whose CPU state changed at this read. */
  private readonly cpuChanged: number[] = [];
  /** The open invalidations at the last read (device staleness depends on them). */
  private readOpen: OpenRange[] = [];
  /** Set when the structure changed: the next read decodes everything. */
  private fullRead = true;
  private readonly exactPages: number;
  private readonly maxRows: number;
  private readonly onRow: ((row: number) => void) | undefined;
  private readonly stepsOnly: boolean;
  private unsubscribe: (() => void) | null = null;
  private step = 0;
  /** Child pid → the pid that forked it (from each successful fork's system call). */
  private readonly parentOf = new Map<number, number>();
  /** The scenario state once setup made it (names of processes, mappings, files). */
  state: ScenarioState | null = null;
  private readonly t0 = performance.now();
  /** Frames of RAM and device memory, the most seen so far. */
  private nrFrames = 0;
  /** Set when reading stopped at {@link RecorderOptions.maxRows}. */
  truncated = false;

  constructor(
    readonly machine: Machine,
    options: RecorderOptions = {},
  ) {
    this.exactPages = options.exactPages ?? 65_536;
    this.maxRows = options.maxRows ?? 2_000_000;
    this.onRow = options.onRow;
    this.stepsOnly = options.stepsOnly ?? false;
    this.unsubscribe = machine.bus.subscribe((e) => (this.stepsOnly ? this.follow(e) : this.onEvent(e)));
  }

  /** Stops listening. */
  detach(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    for (const w of this.ptWatch.values()) w.unwatch();
    this.ptWatch.clear();
  }

  /** Closes scenario step `index` (0 = setup) with a `step` row, read exactly. */
  mark(op: string, line: number, text: string): void {
    const row = this.rows.length;
    this.addRow(
      { type: 'step', time: this.machine.sched.clock.now, thread: 'main', text, step: this.step },
      true,
    );
    this.marks.push({ row, op, line, text });
    this.step++;
  }

  /**
   * Adds a row that is no bus event, read exactly: a moment the page must show although nothing
   * was emitted then (an oracle finding a violation at a preemption point).
   */
  moment(thread: string, name: string, text: string): void {
    this.addRow(
      { type: 'instant', time: this.machine.sched.clock.now, thread, name, text, step: this.step },
      true,
    );
  }

  /**
   * A bus event in {@link RecorderOptions.stepsOnly} mode: no row, but what the full recording
   * learns from it — the regions present after it (found at the same events, so in the same
   * order), a fork's parent, the invalidations open, the threads and device tracks.
   */
  private follow(e: MmEvent): void {
    if (e.type !== 'counter' && e.thread) this.threads.add(e.thread);
    if (e.type === 'invalidate_start') {
      const r = e.range;
      const ev = MMU_NOTIFY_EVENT_NAMES[r.event] ?? String(r.event);
      this.curOpen = [
        ...this.curOpen,
        { mm: r.mm.id, start: r.start, end: r.end, event: ev, thread: e.thread },
      ];
    } else if (e.type === 'invalidate_end') this.closeRange(e.range);
    else if (e.type === 'syscall' && e.name === 'fork' && e.result > 0) this.parentOf.set(e.result, e.mm);
    else if (e.type === 'span' && e.track) this.devices.add(e.track);
    if (this.machine.pm.nrFrames > this.nrFrames) this.nrFrames = this.machine.pm.nrFrames;
    if (this.structureChanged()) {
      this.discoverRegions(this.rows.length);
      this.fullRead = true;
    }
  }

  private closeRange(r: {
    readonly mm: { readonly id: number };
    readonly start: number;
    readonly end: number;
  }): void {
    const i = this.curOpen.findIndex((o) => o.mm === r.mm.id && o.start === r.start && o.end === r.end);
    if (i >= 0) this.curOpen = this.curOpen.filter((_, j) => j !== i);
  }

  private onEvent(e: MmEvent): void {
    if (this.rows.length >= this.maxRows) {
      this.truncated = true;
      return;
    }
    let row: Row;
    const step = this.step;
    switch (e.type) {
      case 'fault':
        row = {
          type: 'fault',
          time: e.time,
          thread: e.thread,
          text: `${e.write ? 'write' : 'read'} fault ${hex(e.addr)} mm ${e.mm}${e.result ? ` → VM_FAULT ${hex(e.result)}` : ''}`,
          step,
          addr: Math.floor(e.addr / PAGE_SIZE) * PAGE_SIZE,
          len: 1,
        };
        break;
      case 'invalidate_start':
      case 'invalidate_end': {
        const r = e.range;
        const ev = MMU_NOTIFY_EVENT_NAMES[r.event] ?? String(r.event);
        const pages = (r.end - r.start) / PAGE_SIZE;
        row = {
          type: e.type,
          time: e.time,
          thread: e.thread,
          text: `${e.type === 'invalidate_start' ? 'invalidate_range_start' : 'invalidate_range_end'} ${ev} [${hex(r.start)}, ${hex(r.end)}) ${pages} pages mm ${r.mm.id}${r.blockable ? '' : ' non-blockable'}`,
          step,
          addr: r.start,
          len: pages,
        };
        if (e.type === 'invalidate_start') {
          this.curOpen = [
            ...this.curOpen,
            { mm: r.mm.id, start: r.start, end: r.end, event: ev, thread: e.thread },
          ];
        } else this.closeRange(r);
        break;
      }
      case 'syscall':
        // fork() returns the child's pid in the parent, whose pid is its mm's id.
        if (e.name === 'fork' && e.result > 0) this.parentOf.set(e.result, e.mm);
        row = {
          type: 'syscall',
          time: e.time,
          thread: e.thread,
          text: `${e.name}(${e.args.map((a) => (a > 4096 ? hex(a) : String(a))).join(', ')}) = ${e.result > 4096 ? hex(e.result) : e.result}`,
          step,
        };
        break;
      case 'span':
        row = {
          type: 'span',
          time: e.time,
          thread: e.thread,
          phase: e.phase,
          name: e.name,
          ...(e.track ? { track: e.track } : {}),
          text: `${e.phase === 'B' ? '▸' : '◂'} ${e.name}${e.args ? ` ${compactArgs(e.args)}` : ''}`,
          step,
        };
        if (e.track) this.devices.add(e.track);
        break;
      case 'instant':
        row = {
          type: 'instant',
          time: e.time,
          thread: e.thread,
          name: e.name,
          ...(e.track ? { track: e.track } : {}),
          text: `${e.name}${e.args ? ` ${compactArgs(e.args)}` : ''}`,
          step,
        };
        break;
      case 'counter':
        row = { type: 'counter', time: e.time, thread: '', text: `${e.name} = ${e.value}`, step };
        break;
    }
    if (row.thread) this.threads.add(row.thread);
    const significant =
      e.type === 'invalidate_start' ||
      e.type === 'invalidate_end' ||
      e.type === 'syscall' ||
      e.type === 'instant' ||
      (e.type === 'span' && e.phase === 'E');
    this.addRow(row, significant);
  }

  private addRow(row: Row, significant: boolean): void {
    const r = this.rows.length;
    // The largest the frame space got (device memory is added as it is used; an explorer run
    // releases all of it at its end).
    if (this.machine.pm.nrFrames > this.nrFrames) this.nrFrames = this.machine.pm.nrFrames;
    this.rows.push(row);
    this.deltaStart.push(this.dIndex.n);
    if (this.structureChanged()) {
      this.discoverRegions(r);
      this.fullRead = true;
    }
    const every = Math.max(1, Math.ceil(this.pages / this.exactPages));
    this.sinceRead++;
    const read =
      this.pages <= this.exactPages || significant || row.type === 'step' || this.sinceRead >= every * 64;
    if (read) {
      this.readAndDiff();
      this.sinceRead = 0;
    }
    this.exactCol.push(read ? 1 : 0);
    for (const c of this.count) this.countsCol.push(c);
    this.open.push(this.curOpen);
    if (row.type !== 'fault' && row.type !== 'counter') this.readNotifiers();
    // A fault changes no notifier state, and the tables only at the fault's own row.
    this.notifiers.push(this.curNotif);
    this.onRow?.(r);
  }

  /** The machine's processes and the scenario's (forked children are only in the latter). */
  private processes(): { name: string; p: Process }[] {
    const named = new Map<Process, string>();
    if (this.state) for (const [n, p] of this.state.processes) named.set(p, n);
    const all = new Set<Process>([...this.machine.processes, ...named.keys()]);
    return [...all].map((p) => ({ name: named.get(p) ?? `pid ${p.pid}`, p }));
  }

  /** Whether the structure the regions follow (processes, their VMAs, device files) changed. */
  private structureChanged(): boolean {
    const k = this.structKey;
    k.begin();
    // Both lists, duplicates and all: the key only has to change when the structure does.
    for (const p of this.machine.processes) this.addStructure(p);
    if (this.state) for (const p of this.state.processes.values()) this.addStructure(p);
    for (const d of this.machine.dmirrorDevices) k.add(d.mirrors.size);
    k.add(this.state ? this.state.mappings.size : -1);
    return k.end();
  }

  private addStructure(p: Process): void {
    const k = this.structKey;
    k.add(p.pid);
    k.add(p.mm.exited ? 1 : 0);
    k.add(p.mm.vmas.length);
    for (const v of p.mm.vmas) {
      k.add(v.start);
      k.add(v.end);
    }
  }

  private files(): { name: string; f: DmirrorFile }[] {
    const named = new Map<DmirrorFile, string>();
    if (this.state) for (const [n, f] of this.state.files) named.set(f, n);
    const out: { name: string; f: DmirrorFile }[] = [];
    for (const d of this.machine.dmirrorDevices) {
      for (const f of d.mirrors.values())
        out.push({ name: `${d.name}:${named.get(f) ?? `file ${f.id}`}`, f });
    }
    return out;
  }

  /** Adds regions for mappings and VMAs no region covers yet, and device files to regions. */
  private discoverRegions(row: number): void {
    const procs = this.processes();
    const names: { name: string; process: string; addr: number; pages: number }[] = [];
    if (this.state)
      for (const [n, m] of this.state.mappings)
        names.push({ name: n, process: m.process, addr: m.addr, pages: m.pages });
    let added = false;
    for (const { name: pname, p } of procs) {
      const mm = p.mm;
      if (mm.exited) continue;
      for (const v of mm.vmas) {
        // Prefer a named mapping's range for the label; cover what is left by the VMA itself.
        const wanted: { name: string; a: number; b: number }[] = [];
        // The process's own mappings first, then those it inherited by fork (same addresses).
        const ordered = [
          ...names.filter((n) => n.process === pname),
          ...names.filter((n) => n.process !== pname),
        ];
        for (const n of ordered) {
          const a = Math.max(n.addr, v.start);
          const b = Math.min(n.addr + n.pages * PAGE_SIZE, v.end);
          if (a < b) wanted.push({ name: n.name, a: n.addr, b: n.addr + n.pages * PAGE_SIZE });
        }
        wanted.push({ name: `[vma ${hex(v.start)}]`, a: v.start, b: v.end });
        for (const w of wanted) {
          for (const [a, b] of this.uncovered(p.pid, w.a, w.b)) {
            this.addRegion(
              { name: w.name, process: pname, pid: p.pid, addr: a, pages: (b - a) / PAGE_SIZE },
              row,
            );
            added = true;
          }
        }
      }
    }
    for (const r of this.regions) {
      if (r.file !== null) continue;
      const proc = procs.find((x) => x.p.pid === r.pid)?.p;
      const f = this.files().find((x) => x.f.process.mm === proc?.mm);
      if (f) {
        r.file = f.name;
        this.devices.add(f.name.split(':')[0]!);
      }
    }
    if (added) this.grow();
    this.mmByPid = new Map(procs.map((x) => [x.p.pid, x.p.mm]));
    this.procList = procs;
    this.fileList = this.files();
    this.fileByName = new Map(this.fileList.map((x) => [x.name, x.f]));
    for (const { f } of this.fileList) if (!this.ptWatch.has(f)) this.ptWatch.set(f, watchMapWrites(f.pt));
    this.regionStretches = this.regions.map((r) => stretches(r.addr, r.pages, r.at));
  }

  /**
   * Names regions after the scenario's mappings and processes, and links forked children to
   * their parent: a mapping gets its name only once its mmap returned, and a forked child its
   * scenario name only once fork returned, both after the rows that made its regions.
   */
  private relabel(): void {
    const names = new Map<number, string>();
    if (this.state) for (const [n, p] of this.state.processes) names.set(p.pid, n);
    for (const [i, r] of this.regions.entries())
      this.regions[i] = {
        ...r,
        process: names.get(r.pid) ?? r.process,
        parent: this.parentOf.get(r.pid) ?? null,
      };
    if (!this.state) return;
    const maps = [...this.state.mappings];
    for (const [i, r] of this.regions.entries()) {
      if (!r.name.startsWith('[vma')) continue;
      const overlaps = ([, m]: (typeof maps)[number]): boolean =>
        m.addr < r.addr + r.pages * PAGE_SIZE && r.addr < m.addr + m.pages * PAGE_SIZE;
      const m = maps.find((x) => x[1].process === r.process && overlaps(x)) ?? maps.find(overlaps);
      if (m) this.regions[i] = { ...r, name: m[0] };
    }
  }

  /** Parts of `[a, b)` of process `pid` no region covers. */
  private uncovered(pid: number, a: number, b: number): [number, number][] {
    let parts: [number, number][] = [[a, b]];
    for (const r of this.regions) {
      if (r.pid !== pid) continue;
      const ra = r.addr;
      const rb = r.addr + r.pages * PAGE_SIZE;
      const next: [number, number][] = [];
      for (const [x, y] of parts) {
        if (rb <= x || ra >= y) next.push([x, y]);
        else {
          if (x < ra) next.push([x, ra]);
          if (rb < y) next.push([rb, y]);
        }
      }
      parts = next;
      if (parts.length === 0) break;
    }
    return parts;
  }

  private addRegion(r: Omit<Region, 'at' | 'since' | 'file' | 'mm' | 'parent'>, row: number): void {
    const mm =
      this.mmByPid.get(r.pid)?.id ?? this.processes().find((x) => x.p.pid === r.pid)?.p.mm.id ?? r.pid;
    this.regions.push({ ...r, mm, at: this.pages, since: row, file: null, parent: null });
    this.pages += r.pages;
  }

  private grow(): void {
    const n = this.pages;
    const old = this.codes.length;
    const c = new Uint8Array(n).fill(Pc.NoVma);
    c.set(this.codes);
    this.codes = c;
    const p = new Float64Array(n);
    p.set(this.pfns);
    this.pfns = p;
    const d = new Uint8Array(n);
    d.set(this.dev);
    this.dev = d;
    const dp = new Float64Array(n);
    dp.set(this.dpfn);
    this.dpfn = dp;
    this.sCodes = new Uint8Array(n);
    this.sPfns = new Float64Array(n);
    this.sDev = new Uint8Array(n);
    this.sDpfn = new Float64Array(n);
    this.raw.reset(n);
    void old;
  }

  /** Reads the regions' current states into the scratch arrays. */
  readNow(): void {
    const mms = this.mmByPid;
    const files = this.fileByName;
    for (const r of this.regions) {
      readPageStates(mms.get(r.pid)!, r.addr, r.pages, this.sCodes, this.sPfns, r.at);
      const f = r.file === null ? undefined : files.get(r.file);
      if (f) {
        const open: number[] = [];
        for (const o of this.curOpen) if (o.mm === r.mm) open.push(o.start, o.end);
        readDeviceStates(f, r.addr, r.pages, this.sDev, this.sDpfn, r.at, this.sCodes, this.sPfns, open);
      } else {
        this.sDev.fill(Dc.None, r.at, r.at + r.pages);
        this.sDpfn.fill(0, r.at, r.at + r.pages);
      }
    }
  }

  /**
   * The states as recorded so far (after the last read row): live views, valid until the next
   * row. A test compares them with {@link snapshot} to check that reading only what changed
   * misses nothing.
   */
  recorded(): PageSnapshot {
    return { codes: this.codes, pfns: this.pfns, dev: this.dev, dpfn: this.dpfn };
  }

  /** The regions' states read directly from the machine now (what a seek must reproduce). */
  snapshot(): PageSnapshot {
    this.readNow();
    return {
      codes: this.sCodes.slice(),
      pfns: this.sPfns.slice(),
      dev: this.sDev.slice(),
      dpfn: this.sDpfn.slice(),
    };
  }

  /**
   * Reads what changed since the last read and records it as this row's changes. A 2 MiB
   * stretch's CPU states are decoded again only when its raw page-table words differ; its device
   * entries only when its CPU states changed, its part of the file's table was written, or an
   * invalidation over it opened or closed (the stale rule reads all three). After a structure
   * change (processes, VMAs, files) everything is decoded.
   */
  private readAndDiff(): void {
    const full = this.fullRead;
    this.fullRead = false;
    if (full) this.raw.forget();
    // Invalidations that opened or closed since the last read (by identity: the lists share them).
    const toggled: OpenRange[] = [];
    if (this.readOpen !== this.curOpen) {
      for (const o of this.curOpen) if (!this.readOpen.includes(o)) toggled.push(o);
      for (const o of this.readOpen) if (!this.curOpen.includes(o)) toggled.push(o);
      this.readOpen = this.curOpen;
    }
    for (const w of this.ptWatch.values()) w.take();
    const regions = this.regions;
    for (let ri = 0; ri < regions.length; ri++) {
      const r = regions[ri]!;
      const mm = this.mmByPid.get(r.pid)!;
      const sts = this.regionStretches[ri]!;
      const raw = this.raw;
      for (const st of sts) {
        let lo = 0;
        let hi = st.n;
        if (!mm.exited) {
          if (!raw.changed(mm, st) && !full) continue;
          // Only the pages whose words changed (all of them on a full read).
          if (!full) {
            lo = raw.lo;
            hi = raw.hi;
          }
        } else if (!full) continue;
        readPageStates(mm, (st.vpn + lo) * PAGE_SIZE, hi - lo, this.sCodes, this.sPfns, st.o + lo);
        this.diffCpu(st.o + lo, st.o + hi);
      }
      const f = r.file === null ? undefined : this.fileByName.get(r.file);
      if (!f) {
        if (full) {
          this.sDev.fill(Dc.None, r.at, r.at + r.pages);
          this.sDpfn.fill(0, r.at, r.at + r.pages);
          this.diffDev(r.at, r.at + r.pages);
        }
        continue;
      }
      const w = this.ptWatch.get(f)!;
      const open: number[] = [];
      for (const o of this.curOpen) if (o.mm === r.mm) open.push(o.start, o.end);
      if (full) {
        this.readDevice(f, r, 0, r.pages, open);
        continue;
      }
      // The pages whose CPU state changed, the part of the table written, the ranges toggled.
      const ch = this.cpuChanged;
      for (let j = 0; j < ch.length; j++) {
        const k = ch[j]! - r.at;
        if (k >= 0 && k < r.pages) this.readDevice(f, r, k, k + 1, open);
      }
      const vpn0 = r.addr / PAGE_SIZE;
      if (w.lo <= w.hi) this.readDevice(f, r, w.lo - vpn0, w.hi + 1 - vpn0, open);
      for (const o of toggled)
        if (o.mm === r.mm)
          this.readDevice(f, r, (o.start - r.addr) / PAGE_SIZE, (o.end - r.addr) / PAGE_SIZE, open);
    }
    this.cpuChanged.length = 0;
  }

  /** Reads and records the device entries of region pages `[k0, k1)` (clamped to the region). */
  private readDevice(f: DmirrorFile, r: Region, k0: number, k1: number, open: readonly number[]): void {
    const a = Math.max(0, Math.floor(k0));
    const b = Math.min(r.pages, Math.ceil(k1));
    if (a >= b) return;
    readDeviceStates(
      f,
      r.addr + a * PAGE_SIZE,
      b - a,
      this.sDev,
      this.sDpfn,
      r.at + a,
      this.codes,
      this.pfns,
      open,
    );
    this.diffDev(r.at + a, r.at + b);
  }

  /** Records the CPU changes of flat pages `[a, b)` read into the scratch. */
  private diffCpu(a: number, b: number): void {
    const { codes, pfns, sCodes, sPfns, count } = this;
    for (let i = a; i < b; i++) {
      if (codes[i] !== sCodes[i] || pfns[i] !== sPfns[i]) {
        this.dIndex.push(i);
        this.dOldCode.push(codes[i]!);
        this.dNewCode.push(sCodes[i]!);
        this.dOldPfn.push(pfns[i]!);
        this.dNewPfn.push(sPfns[i]!);
        countCode(count, codes[i]!, -1);
        countCode(count, sCodes[i]!, 1);
        codes[i] = sCodes[i]!;
        pfns[i] = sPfns[i]!;
        this.cpuChanged.push(i);
      }
    }
  }

  /** Records the device changes of flat pages `[a, b)` read into the scratch. */
  private diffDev(a: number, b: number): void {
    const { dev, dpfn, sDev, sDpfn, count } = this;
    for (let i = a; i < b; i++) {
      if (dev[i] !== sDev[i] || dpfn[i] !== sDpfn[i]) {
        this.dIndex.push(-i - 1);
        this.dOldCode.push(dev[i]!);
        this.dNewCode.push(sDev[i]!);
        this.dOldPfn.push(dpfn[i]!);
        this.dNewPfn.push(sDpfn[i]!);
        if (dev[i] !== Dc.None) count[3]!--;
        if (sDev[i] !== Dc.None) count[3]!++;
        if ((dev[i]! & DC_STALE) !== 0) count[4]!--;
        if ((sDev[i]! & DC_STALE) !== 0) count[4]!++;
        dev[i] = sDev[i]!;
        dpfn[i] = sDpfn[i]!;
      }
    }
  }

  private readNotifiers(): void {
    // Compare the numbers first, from the live objects; build the arrays only when one differs.
    const k = this.notifKey;
    k.begin();
    for (const { p } of this.procList) {
      const subs = notifierCounters(p);
      if (subs === null) continue;
      k.add(p.mm.id);
      k.add(subs.invalidateSeq ?? 0);
      k.add(subs.activeInvalidateRanges ?? 0);
      for (const { f } of this.fileList) {
        if (f.process.mm !== p.mm || f.notifier.mm === null) continue;
        k.add(f.id);
        k.add(f.notifier.start);
        k.add(f.notifier.last);
        k.add(f.notifier.invalidateSeq);
      }
    }
    if (!k.end()) return;
    const out: NotifierInfo[] = [];
    for (const { p } of this.procList) {
      const subs = notifierCounters(p);
      if (subs === null) continue;
      out.push({
        mm: p.mm.id,
        seq: subs.invalidateSeq ?? 0,
        active: subs.activeInvalidateRanges ?? 0,
        subs: this.fileList
          .filter((f) => f.f.process.mm === p.mm && f.f.notifier.mm !== null)
          .map((f) => ({
            file: f.name,
            start: f.f.notifier.start,
            last: f.f.notifier.last,
            seq: f.f.notifier.invalidateSeq,
          })),
      });
    }
    this.curNotif = out;
  }

  /** The finished recording. */
  finish(scenario: string, steps: number, failure: string | null): Recording {
    this.detach();
    this.relabel();
    this.deltaStart.push(this.dIndex.n);
    return {
      scenario,
      steps,
      marks: this.marks,
      rows: this.rows,
      regions: this.regions,
      pages: this.pages,
      deltaStart: this.deltaStart.done(),
      dIndex: this.dIndex.done(),
      dOldCode: this.dOldCode.done(),
      dNewCode: this.dNewCode.done(),
      dOldPfn: this.dOldPfn.done(),
      dNewPfn: this.dNewPfn.done(),
      open: this.open,
      notifiers: this.notifiers,
      counts: this.countsCol.done(),
      exact: this.exactCol.done(),
      ramFrames: this.machine.pm.ramFrames,
      nrFrames: Math.max(this.nrFrames, this.machine.pm.nrFrames),
      threads: [...this.threads],
      devices: [...this.devices],
      failure,
      ok: failure === null,
      elapsedMs: performance.now() - this.t0,
    };
  }
}

/** Page states of every region at one moment (flat, indexed like {@link Region.at}). */
export interface PageSnapshot {
  readonly codes: Uint8Array;
  readonly pfns: Float64Array;
  readonly dev: Uint8Array;
  readonly dpfn: Float64Array;
}

/**
 * A list of numbers compared with the previous list as it is rebuilt, without allocating: the
 * recorder's cheap "did this change?" over structures it reads after every row.
 */
class KeyList {
  private xs: number[] = [];
  private n = 0;
  private differs = false;

  begin(): void {
    this.n = 0;
    this.differs = false;
  }

  add(x: number): void {
    if (this.n < this.xs.length) {
      if (this.xs[this.n] !== x) {
        this.xs[this.n] = x;
        this.differs = true;
      }
    } else {
      this.xs.push(x);
      this.differs = true;
    }
    this.n++;
  }

  /** Whether the list built since {@link begin} differs from the one before (the first always does). */
  end(): boolean {
    if (this.n !== this.xs.length) {
      this.xs.length = this.n;
      this.differs = true;
    }
    return this.differs;
  }
}

/** The notifier counters of a process's mm, or null when nothing subscribed. */
function notifierCounters(p: Process): { invalidateSeq?: number; activeInvalidateRanges?: number } | null {
  return p.mm.notifierSubscriptions as unknown as {
    invalidateSeq?: number;
    activeInvalidateRanges?: number;
  } | null;
}

/** Adds `d` to the summary count `code` belongs to (present, device-private, swap). */
export function countCode(count: number[], code: number, d: number): void {
  if (
    code === Pc.PresentRo ||
    code === Pc.PresentRw ||
    code === Pc.Zero ||
    code === Pc.Huge ||
    code === Pc.Coherent
  )
    count[0]! += d;
  else if (code === Pc.DevicePrivateRo || code === Pc.DevicePrivateRw) count[1]! += d;
  else if (code === Pc.Swap) count[2]! += d;
}

function compactArgs(args: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(args)) {
    if (v === undefined) continue;
    let s: string;
    if (typeof v === 'number') s = k.includes('addr') || k === 'start' || k === 'end' ? hex(v) : String(v);
    else if (typeof v === 'string' || typeof v === 'boolean') s = String(v);
    else if (ArrayBuffer.isView(v)) s = `[${(v as unknown as { length: number }).length}]`;
    else s = JSON.stringify(v);
    if (s.length > 60) s = `${s.slice(0, 57)}…`;
    parts.push(`${k}=${s}`);
  }
  return parts.join(' ');
}

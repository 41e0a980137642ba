/**
 * Traces a simulated machine into a {@link ChromeTraceWriter}: listens to the machine's event bus
 * and scheduler and maps the simulation onto the Perfetto / `chrome://tracing` model — one
 * process per machine, one track per simulated thread, one track per device (more "lanes" when
 * several threads drive the same device at once), slices for faults, `hmm_range_fault`, the
 * phases of migrations and device commands, instants for notifier invalidations and system
 * calls, and counters for resident, swapped, device and free pages. See docs/trace.md.
 * @module
 */
import type { DmirrorDevice } from '../devices/dmirror/device.ts';
import {
  MM_ANONPAGES,
  MM_FILEPAGES,
  MM_SHMEMPAGES,
  PAGE_SIZE,
  VM_FAULT_HWPOISON,
  VM_FAULT_OOM,
  VM_FAULT_RETRY,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
} from '../mm/constants.ts';
import type { MmEvent } from '../mm/events.ts';
import type { Kernel } from '../mm/kernel.ts';
import { MMU_NOTIFY_EVENT_NAMES } from '../mm/mmu-notifier.ts';
import { errnoName } from '../sim/errno.ts';
import { UsageError } from '../sim/errors.ts';
import type { SwitchObserver } from '../sim/scheduler.ts';
import type { SimThread } from '../sim/thread.ts';
import type { ChromeTraceWriter, TraceEvent } from './writer.ts';

/**
 * What {@link traceMachine} traces: a kernel, plus its dmirror devices when it is a `Machine`
 * (their tracks exist from the start, and their memory in use is a counter).
 */
export type TracedMachine = Kernel & {
  /** The machine's dmirror devices, when it has any. */
  readonly dmirrorDevices?: readonly DmirrorDevice[];
};

/** Options of {@link traceMachine}. */
export interface TraceMachineOptions {
  /** Process id of the machine in the trace; default: the smallest one not yet used in the writer. */
  pid?: number;
  /** Process name shown by the viewer; default `machine <pid>`. */
  name?: string;
  /** Counters of resident, swapped, device and free pages (default true). */
  counters?: boolean;
  /** A `sched_switch` instant on each context switch, on the incoming thread's track (default false). */
  contextSwitches?: boolean;
  /**
   * Display time added per traced event, in ns (default 0: timestamps are the virtual clock,
   * exactly). Most CPU-side work takes no virtual time, so its slices have zero length and pile
   * up at one instant; a small spacing (e.g. 10) spreads them out for reading, at the price of
   * timestamps that run ahead of the virtual clock.
   */
  spacingNs?: number;
}

/**
 * Display time the CLI's traces add per event unless `--trace-spacing` says otherwise: CPU-side
 * work (faults, system calls, invalidations) costs no virtual time yet, and zero-width slices
 * are invisible in a viewer; 10 ns each gives them a width (timestamps then run ahead of the
 * virtual clock; `--trace-spacing 0` keeps them exact).
 */
export const DEFAULT_TRACE_SPACING_NS = 10;

/** Detaches a tracer: closes its open slices, writes final counter values, stops listening. */
export type TraceDetach = () => void;

/** First track id of device tracks (threads use their scheduler id + 1). */
export const DEVICE_TID_BASE = 1_000_000;

/** Arguments shown in hexadecimal (addresses, pfns). */
const HEX_ARGS = new Set(['addr', 'start', 'end', 'address', 'pfn', 'old_addr', 'new_addr']);

/** Argument names of the traced system calls, in the order `MmEvent.syscall.args` gives them. */
const SYSCALL_ARGS: Record<string, readonly string[]> = {
  mmap: ['addr', 'length', 'prot', 'flags', 'fd', 'offset'],
  munmap: ['addr', 'length'],
  mprotect: ['addr', 'length', 'prot'],
  madvise: ['addr', 'length', 'advice'],
  mremap: ['old_addr', 'old_size', 'new_size', 'flags', 'new_addr'],
  pread: ['fd', 'count', 'offset'],
  pwrite: ['fd', 'count', 'offset'],
};

/** Slice categories by name (filtering in the viewer); device commands default to `dmirror`. */
const CATEGORIES: Record<string, string> = {
  page_fault: 'fault',
  migrate_to_ram: 'fault,migrate',
  hmm_range_fault: 'hmm',
  migrate_vma: 'migrate',
  migrate_vma_setup: 'migrate',
  migrate_vma_pages: 'migrate',
  migrate_device: 'migrate',
  migrate_device_range: 'migrate',
  migrate_device_pages: 'migrate',
  migrate_finalize: 'migrate',
  evict_chunk: 'dmirror,migrate',
};

/** A slice opened with B and not yet closed. */
interface OpenSlice {
  name: string;
  args: Record<string, unknown> | undefined;
}

/** One track (a Chrome "thread"): a simulated thread, or a lane of a device. */
interface Track {
  tid: number;
  /** Open slices, outermost first. */
  open: OpenSlice[];
  /** Device lanes: the thread whose slices are open on it (null when free). */
  owner: SimThread | null;
}

/**
 * Traces `machine` into `writer` until the returned function is called or `writer.end()` runs
 * (which detaches every tracer still attached). Subscribes to `machine.bus` and chains
 * `machine.sched.onSwitch`; tracing reads the machine's state and never changes it, so a traced
 * run is the same run as an untraced one. Several machines can be traced into one writer: each
 * is a process of the trace.
 */
export function traceMachine(
  machine: TracedMachine,
  writer: ChromeTraceWriter,
  options: TraceMachineOptions = {},
): TraceDetach {
  if (typeof options !== 'object' || options === null)
    throw new UsageError('traceMachine(options)', 'must be an object');
  if (writer.ended) throw new UsageError('traceMachine(writer)', 'the trace has ended');
  const spacing = options.spacingNs ?? 0;
  if (typeof spacing !== 'number' || !(spacing >= 0))
    throw new UsageError('traceMachine(options.spacingNs)', `must be a number ≥ 0, got ${String(spacing)}`);
  const pid = writer.claimPid(options.pid);
  const tracer = new MachineTracer(machine, writer, pid, options, spacing);
  return () => tracer.finish();
}

/** The state of one machine's trace. */
class MachineTracer {
  private readonly k: TracedMachine;
  private readonly w: ChromeTraceWriter;
  private readonly pid: number;
  private readonly spacing: number;
  private readonly counters: boolean;
  private readonly switches: boolean;
  private readonly threads = new Map<SimThread, Track>();
  private readonly lanes = new Map<string, Track[]>();
  private nextDeviceTid = DEVICE_TID_BASE;
  private seq = 0;
  private active = true;
  /** Last counter values written: anon, file, shmem, swap, free, then one per device. */
  private readonly last: number[] = [];
  private readonly unsubscribe: () => void;
  private readonly unregister: () => void;
  private readonly observer: SwitchObserver;
  private readonly previous: SwitchObserver | null;

  constructor(
    machine: TracedMachine,
    writer: ChromeTraceWriter,
    pid: number,
    options: TraceMachineOptions,
    spacing: number,
  ) {
    this.k = machine;
    this.w = writer;
    this.pid = pid;
    this.spacing = spacing;
    this.counters = options.counters ?? true;
    this.switches = options.contextSwitches ?? false;
    writer.processName(pid, options.name ?? `machine ${pid}`, pid);
    for (const t of machine.sched.threads) if (t.state !== 'done') this.threadTrack(t);
    for (const d of machine.dmirrorDevices ?? []) this.deviceLanes(d.name, true);
    this.sampleCounters();
    this.unsubscribe = machine.bus.subscribe((e) => this.onEvent(e));
    const sched = machine.sched;
    this.previous = sched.onSwitch;
    const previous = this.previous;
    this.observer = (from, to, point) => {
      if (this.active) this.onSwitch(from, to, point);
      if (previous) previous(from, to, point);
    };
    sched.onSwitch = this.observer;
    this.unregister = writer.onEnd(() => this.finish());
  }

  /** Closes the open slices, writes the final counters and detaches (once). */
  finish(): void {
    if (!this.active) return;
    this.sampleCounters();
    for (const t of this.threads.values()) this.closeFrom(t, 0, undefined);
    for (const lanes of this.lanes.values()) for (const t of lanes) this.closeFrom(t, 0, undefined);
    this.active = false;
    this.unsubscribe();
    if (this.k.sched.onSwitch === this.observer) this.k.sched.onSwitch = this.previous;
    this.unregister();
  }

  private onEvent(e: MmEvent): void {
    switch (e.type) {
      case 'span':
        if (e.phase === 'B') this.spanBegin(e.name, e.args, e.track);
        else this.spanEnd(e.name, e.args, e.track);
        break;
      case 'fault': {
        const track = this.threadTrack(this.k.sched.current);
        const outcome = { result: e.result, outcome: faultOutcome(e.result) };
        if (!this.close(track, 'page_fault', outcome)) {
          this.instant(track, 'page_fault', 'fault', {
            mm: e.mm,
            addr: hex(e.addr),
            write: e.write,
            ...outcome,
          });
        }
        this.sampleCounters();
        break;
      }
      case 'invalidate_start': {
        const r = e.range;
        this.instant(this.threadTrack(this.k.sched.current), notifyName(r.event), 'notifier', {
          mm: r.mm.id,
          start: hex(r.start),
          end: hex(r.end),
          npages: Math.ceil((r.end - r.start) / PAGE_SIZE),
          owner: formatValue('owner', r.owner),
          blockable: r.blockable,
        });
        break;
      }
      case 'invalidate_end':
        break;
      case 'syscall': {
        const args: Record<string, unknown> = { mm: e.mm };
        const names = SYSCALL_ARGS[e.name];
        e.args.forEach((v, i) => {
          const key = names?.[i] ?? `arg${i}`;
          args[key] = formatValue(key, v);
        });
        args.result = e.name === 'mmap' || e.name === 'mremap' ? resultOrAddr(e.result) : e.result;
        if (e.result < 0) args.errno = errnoName(-e.result);
        this.instant(this.threadTrack(this.k.sched.current), e.name, 'syscall', args);
        this.sampleCounters();
        break;
      }
      case 'counter':
        this.emit({ name: e.name, ph: 'C', pid: this.pid, ts: this.ts(), args: { value: e.value } });
        break;
      case 'instant': {
        const track =
          e.track === undefined ? this.threadTrack(this.k.sched.current) : this.instantLane(e.track);
        this.instant(track, e.name, e.name === 'WARN' ? 'warning' : 'event', formatArgs(e.args));
        break;
      }
    }
  }

  private onSwitch(from: SimThread, to: SimThread, point: string): void {
    // A thread that ended (or died of an exception) leaves nothing open behind it.
    if (from.state === 'done') this.closeThread(from);
    const track = this.threadTrack(to);
    if (this.switches) this.instant(track, 'sched_switch', 'sched', { from: from.name, point });
  }

  /** Ends every slice `thread` left open, on its own track and on device lanes. */
  private closeThread(thread: SimThread): void {
    const own = this.threads.get(thread);
    if (own !== undefined && own.open.length > 0) this.closeFrom(own, 0, undefined);
    for (const lanes of this.lanes.values())
      for (const lane of lanes)
        if (lane.owner === thread && lane.open.length > 0) this.closeFrom(lane, 0, undefined);
  }

  private spanBegin(
    name: string,
    args: Record<string, unknown> | undefined,
    track: string | undefined,
  ): void {
    const cur = this.k.sched.current;
    const t = track === undefined ? this.threadTrack(cur) : this.laneFor(track, cur);
    const formatted = formatArgs(args);
    // A migration as a whole: from its setup (or device collection) to its finalize.
    if (name === 'migrate_vma_setup') this.open(t, 'migrate_vma', formatted);
    else if (name === 'migrate_device_range') this.open(t, 'migrate_device', formatted);
    this.open(t, name, formatted);
    if (track !== undefined) t.owner = cur;
  }

  private spanEnd(name: string, args: Record<string, unknown> | undefined, track: string | undefined): void {
    const cur = this.k.sched.current;
    const t = track === undefined ? this.threadTrack(cur) : this.ownedLane(track, cur);
    if (t === null) return;
    const closed = this.close(t, name, formatArgs(args));
    if (closed !== null && closed.name === 'migrate_finalize') {
      const top = t.open[t.open.length - 1];
      if (top !== undefined && (top.name === 'migrate_vma' || top.name === 'migrate_device'))
        this.close(t, top.name, { migrated: closed.args?.migrated ?? 0 });
    }
    if (closed !== null) this.sampleCounters();
  }

  private open(t: Track, name: string, args: Record<string, unknown> | undefined): void {
    t.open.push({ name, args });
    const e: TraceEvent = { name, cat: category(name), ph: 'B', pid: this.pid, tid: t.tid, ts: this.ts() };
    if (args !== undefined) e.args = args;
    this.emit(e);
  }

  /**
   * Closes the innermost open slice named `name` (any slice when `name` is empty), first closing
   * the slices opened inside it that never ended. Returns it, or null when none is open.
   */
  private close(t: Track, name: string, args: Record<string, unknown> | undefined): OpenSlice | null {
    for (let i = t.open.length - 1; i >= 0; i--) {
      const s = t.open[i]!;
      if (name !== '' && s.name !== name) continue;
      this.closeFrom(t, i, args);
      return s;
    }
    return null;
  }

  /** Ends the slices of `t` from index `from` up, innermost first; `args` go to slice `from`. */
  private closeFrom(t: Track, from: number, args: Record<string, unknown> | undefined): void {
    for (let i = t.open.length - 1; i >= from; i--) {
      const s = t.open[i]!;
      const e: TraceEvent = {
        name: s.name,
        cat: category(s.name),
        ph: 'E',
        pid: this.pid,
        tid: t.tid,
        ts: this.ts(),
      };
      if (i === from && args !== undefined) {
        e.args = args;
        s.args = { ...s.args, ...args };
      }
      this.emit(e);
    }
    t.open.length = from;
    if (from === 0) t.owner = null;
  }

  private instant(t: Track, name: string, cat: string, args: Record<string, unknown> | undefined): void {
    const e: TraceEvent = { name, cat, ph: 'i', s: 't', pid: this.pid, tid: t.tid, ts: this.ts() };
    if (args !== undefined) e.args = args;
    this.emit(e);
  }

  /** The track of simulated thread `t` (named at first use). */
  private threadTrack(t: SimThread): Track {
    let track = this.threads.get(t);
    if (track === undefined) {
      track = { tid: t.id + 1, open: [], owner: null };
      this.threads.set(t, track);
      this.w.threadName(this.pid, track.tid, t.name, t.id);
    }
    return track;
  }

  /** The lanes of device track `name`; with `create`, the first lane exists afterwards. */
  private deviceLanes(name: string, create: boolean): Track[] {
    let lanes = this.lanes.get(name);
    if (lanes === undefined) {
      lanes = [];
      this.lanes.set(name, lanes);
    }
    if (create && lanes.length === 0) this.addLane(name, lanes);
    return lanes;
  }

  private addLane(name: string, lanes: Track[]): Track {
    const tid = this.nextDeviceTid++;
    const lane: Track = { tid, open: [], owner: null };
    lanes.push(lane);
    this.w.threadName(this.pid, tid, lanes.length === 1 ? name : `${name} (${lanes.length})`, tid);
    return lane;
  }

  /** The lane of device `name` where `thread` has slices open, or null. */
  private ownedLane(name: string, thread: SimThread): Track | null {
    for (const lane of this.lanes.get(name) ?? [])
      if (lane.owner === thread && lane.open.length > 0) return lane;
    return null;
  }

  /** The lane for a slice of `thread` on device `name`: its own, a free one, or a new one. */
  private laneFor(name: string, thread: SimThread): Track {
    const owned = this.ownedLane(name, thread);
    if (owned !== null) return owned;
    const lanes = this.deviceLanes(name, false);
    for (const lane of lanes) if (lane.open.length === 0) return lane;
    return this.addLane(name, lanes);
  }

  /** The lane for an instant on device `name`: the current thread's, else the first. */
  private instantLane(name: string): Track {
    return this.ownedLane(name, this.k.sched.current) ?? this.deviceLanes(name, true)[0]!;
  }

  /**
   * Writes the counters whose values changed since they were last written: resident pages of all
   * address spaces (anon, file, shmem), swapped pages (slots in use), device pages in use (per
   * dmirror device) and free system pages.
   */
  private sampleCounters(): void {
    if (!this.counters) return;
    const k = this.k;
    let anon = 0;
    let file = 0;
    let shmem = 0;
    for (const mm of k.mms) {
      anon += mm.rss[MM_ANONPAGES]!;
      file += mm.rss[MM_FILEPAGES]!;
      shmem += mm.rss[MM_SHMEMPAGES]!;
    }
    const last = this.last;
    const first = last.length === 0;
    if (first || last[0] !== anon || last[1] !== file || last[2] !== shmem) {
      last[0] = anon;
      last[1] = file;
      last[2] = shmem;
      this.counter('resident pages', { anon, file, shmem });
    }
    const swap = k.swap.inUse;
    if (first || last[3] !== swap) {
      last[3] = swap;
      this.counter('swapped pages', { swap });
    }
    const free = k.pm.freeFrames;
    if (first || last[4] !== free) {
      last[4] = free;
      this.counter('free pages', { free });
    }
    const devices = k.dmirrorDevices;
    if (devices === undefined || devices.length === 0) return;
    let changed = last.length !== 5 + devices.length;
    for (let i = 0; i < devices.length; i++) {
      const d = devices[i]!;
      const used = d.calloc - d.cfree;
      if (last[5 + i] !== used) {
        last[5 + i] = used;
        changed = true;
      }
    }
    if (changed) {
      const args: Record<string, number> = {};
      for (let i = 0; i < devices.length; i++) args[devices[i]!.name] = last[5 + i]!;
      this.counter('device pages', args);
    }
  }

  private counter(name: string, args: Record<string, number>): void {
    this.emit({ name, cat: 'memory', ph: 'C', pid: this.pid, ts: this.ts(), args });
  }

  /** Timestamp of the next event in µs: the virtual clock plus the optional spacing. */
  private ts(): number {
    const ns = this.k.sched.clock.now + this.seq++ * this.spacing;
    return ns / 1000;
  }

  private emit(e: TraceEvent): void {
    this.w.event(e);
  }
}

/** `0x…` for an address or pfn. */
function hex(v: number): string {
  return `0x${v.toString(16)}`;
}

function category(name: string): string {
  return CATEGORIES[name] ?? 'dmirror';
}

/** MMU_NOTIFY_UNMAP … from the event's value. */
function notifyName(event: number): string {
  return `MMU_NOTIFY_${MMU_NOTIFY_EVENT_NAMES[event] ?? String(event)}`;
}

/** `ok`, or the VM_FAULT_* bits of a fault result (`SIGBUS`, `OOM|RETRY`…). */
function faultOutcome(result: number): string {
  if (result === 0) return 'ok';
  const bits: [number, string][] = [
    [VM_FAULT_OOM, 'OOM'],
    [VM_FAULT_SIGBUS, 'SIGBUS'],
    [VM_FAULT_SIGSEGV, 'SIGSEGV'],
    [VM_FAULT_HWPOISON, 'HWPOISON'],
    [VM_FAULT_RETRY, 'RETRY'],
  ];
  const names = bits.filter(([bit]) => (result & bit) !== 0).map(([, n]) => n);
  return names.length > 0 ? names.join('|') : `0x${result.toString(16)}`;
}

/** An address result in hex, a negative errno as is. */
function resultOrAddr(result: number): number | string {
  return result >= 0 ? hex(result) : result;
}

/** Arguments made JSON-safe: addresses in hex, owners by name, nothing that cannot be written. */
function formatArgs(args: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (args === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(args)) out[key] = formatValue(key, args[key]);
  return out;
}

function formatValue(key: string, v: unknown): unknown {
  switch (typeof v) {
    case 'number':
      return HEX_ARGS.has(key) && Number.isInteger(v) && v >= 0 ? hex(v) : v;
    case 'bigint':
      return `0x${v.toString(16)}`;
    case 'string':
    case 'boolean':
      return v;
    case 'undefined':
      return null;
    case 'object': {
      if (v === null) return null;
      if (Array.isArray(v)) return v.map((x) => formatValue(key, x));
      const name = (v as { name?: unknown }).name;
      return typeof name === 'string' ? name : Object.prototype.toString.call(v);
    }
    default:
      return String(v);
  }
}

/**
 * The scenario interpreter: builds the machine a scenario describes, runs its steps (CPU
 * accesses, system calls, dmirror commands, concurrent threads) and checks every expectation,
 * reporting each step as it completes. Node-free, so the CLI, the explorer adapter and tests
 * share it.
 * @module
 */
import { DEVMEM_CHUNK_SIZE } from '../../devices/dmirror/chunk.ts';
import type { DmirrorDevice } from '../../devices/dmirror/device.ts';
import type { DmirrorFile } from '../../devices/dmirror/file.ts';
import { HMM_DMIRROR_FLAG_FAIL_ALLOC } from '../../devices/dmirror/uapi.ts';
import { Machine, type MachineOptions } from '../../machine.ts';
import {
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  PAGE_SIZE,
  PMD_SIZE,
  VM_EXEC,
  VM_MAYSHARE,
  VM_READ,
  VM_WRITE,
} from '../../mm/constants.ts';
import type { MmStruct } from '../../mm/mm-struct.ts';
import type { Process } from '../../mm/process.ts';
import { AccessSignal } from '../../mm/signals.ts';
import { errnoName } from '../../sim/errno.ts';
import { KernelBug, SimulationError } from '../../sim/errors.ts';
import { RandomPolicy, RoundRobinPolicy, RunToBlockPolicy, type SchedulePolicy } from '../../sim/policy.ts';
import { Prng } from '../../sim/prng.ts';
import type { SchedulerHost } from '../../sim/scheduler.ts';
import type { SimThread } from '../../sim/thread.ts';
import { type CounterSnapshot, RunCounters } from '../counters.ts';
import {
  actingProcess,
  DMIRROR_COMMANDS,
  fallocateModeOf,
  MADVISE_ADVICE,
  mapFlagsOf,
  mremapFlagsOf,
  protOf,
  stepRange,
} from './constants.ts';
import { describePattern, firstMismatch, patternBytes, patternInto } from './patterns.ts';
import { parseSize } from './schema.ts';
import type { DeviceRangeOp, Expect, RetValue, ScenarioDoc, SourceRef, Step } from './types.ts';
import { mappingPages, protByte } from './validate.ts';

/** One completed step, as the timeline shows it. */
export interface StepReport {
  /** Virtual time when the step completed, ns. */
  readonly time: number;
  /** Who acted: a process, a device file, or `thread/actor` inside threads. */
  readonly actor: string;
  /** Where the step was written. */
  readonly source: SourceRef;
  readonly op: string;
  /** What the step did and what came back. */
  readonly text: string;
  /** Expectations checked (empty when none). */
  readonly checked: readonly string[];
  /** Why the step failed, when it did. */
  readonly failure?: string;
}

/**
 * What a step gave, for comparing runs (the kernel oracle): the fields the step produced.
 * `data` is what a CPU read or a device command returned; `prot` the snapshot bytes.
 */
export interface StepResult {
  readonly ret?: number;
  readonly cpages?: number;
  readonly faults?: number;
  readonly data?: Uint8Array;
  readonly prot?: Uint8Array;
  readonly value?: number;
  readonly signal?: string;
  /** The VMAs a `vmas` step found (see {@link vmaTexts}). */
  readonly vmas?: readonly string[];
  /** Not run (lenient runs only): the step names a mapping whose mmap failed. */
  readonly unmapped?: boolean;
}

/**
 * Thrown by a lenient run's step that names a mapping whose mmap failed: the step is not run,
 * as the kernel oracle's runner does not run it.
 */
class MappingNeverMapped extends Error {
  override readonly name = 'MappingNeverMapped';
  constructor(
    readonly mapping: string,
    readonly actor: string,
  ) {
    super(`mapping "${mapping}" was never mapped`);
  }
}

/** A failed expectation (or an impossible step), naming the step. */
export class StepFailure extends Error {
  override readonly name = 'StepFailure';
  constructor(
    readonly source: SourceRef,
    readonly op: string,
    readonly detail: string,
  ) {
    super(`${source.path} (${op}, line ${source.line}): ${detail}`);
  }
}

/** A named mapping: where it is and who mapped it. */
export interface MappingState {
  readonly addr: number;
  readonly pages: number;
  readonly process: string;
  /** The backing file's descriptor, for a file mapping made by `mmap` (its offset 0 at `addr`). */
  readonly fd?: number;
}

/** Everything a running scenario has built; the explorer adapter uses it as its state. */
export class ScenarioState {
  readonly processes = new Map<string, Process>();
  readonly devices = new Map<string, DmirrorDevice>();
  readonly mappings = new Map<string, MappingState>();
  /** Mappings whose mmap failed, with the process that asked for them. */
  readonly failedMappings = new Map<string, string>();
  readonly files = new Map<string, DmirrorFile>();
  readonly counters: RunCounters;
  /** Called with each step's result (see {@link RunScenarioOptions.onResult}). */
  onResult: ((source: SourceRef, result: StepResult) => void) | undefined;
  /** See {@link RunScenarioOptions.lenient}. */
  lenient = false;
  constructor(
    readonly doc: ScenarioDoc,
    readonly machine: Machine,
    readonly onStep: (r: StepReport) => void = () => {},
  ) {
    this.counters = new RunCounters(machine);
  }
}

/**
 * The machine options a scenario asks for, and room in the frame arrays for its devices' first
 * chunks (each device makes one at creation; a sizing hint with no effect on behaviour).
 */
export function machineOptions(doc: ScenarioDoc): MachineOptions {
  const m = doc.machine;
  return {
    ...(doc.devices.length === 0 ? {} : { deviceMemory: doc.devices.length * DEVMEM_CHUNK_SIZE }),
    ...(m.memory === undefined ? {} : { memory: parseSize(m.memory) }),
    ...(m.swap === undefined ? {} : { swap: parseSize(m.swap) }),
    ...(m.hugetlbPages === undefined ? {} : { hugetlbPages: m.hugetlbPages }),
    ...(m.giganticPages === undefined ? {} : { giganticPages: m.giganticPages }),
    ...(m.thp === undefined ? {} : { thp: m.thp }),
    ...(m.seed === undefined ? {} : { seed: m.seed }),
    ...(m.kernelVersion === undefined ? {} : { kernelVersion: m.kernelVersion }),
  };
}

/** Adds the devices and processes and makes the top-level mappings. */
export async function setupScenario(state: ScenarioState): Promise<void> {
  const { doc, machine } = state;
  for (const d of doc.devices)
    state.devices.set(d.name, machine.addDmirrorDevice({ coherent: d.type === 'coherent' }));
  for (const p of doc.processes) state.processes.set(p, await machine.createProcess());
  for (const m of doc.mappings) await runStep(state, { op: 'mmap', ...m }, null);
}

/** Runs `steps` in order as the current simulated thread (`thread` names it, or null for main). */
export async function runSteps(
  state: ScenarioState,
  steps: readonly Step[],
  thread: string | null,
): Promise<void> {
  for (const s of steps) await runStep(state, s, thread);
}

/** What {@link runScenario} returns. */
export interface ScenarioRunResult {
  readonly name: string;
  readonly ok: boolean;
  /** Every step that completed (and the failing one last). */
  readonly steps: readonly StepReport[];
  /** The first failure, or null. */
  readonly failure: {
    readonly path: string;
    readonly line: number;
    readonly op: string;
    readonly message: string;
  } | null;
  readonly counters: CounterSnapshot;
}

/** Options of {@link runScenario}. */
export interface RunScenarioOptions {
  /** Called with the machine as soon as it exists (to attach a trace). */
  readonly onMachine?: (machine: Machine) => void;
  /** Called after each step. */
  readonly onStep?: (report: StepReport) => void;
  /**
   * Preemption points the whole run may pass before it fails as a livelock (default
   * {@link DEFAULT_RUN_STEP_BUDGET}; the example scenarios need fewer than 20,000).
   */
  readonly stepBudget?: number;
  /** Host hooks of the scheduler (the CLI passes `idle` to catch awaits outside the simulation). */
  readonly host?: SchedulerHost;
  /** Called with what each step gave (return value, outputs, data, signal), for comparisons. */
  readonly onResult?: (source: SourceRef, result: StepResult) => void;
  /**
   * A system call that fails or a CPU access that raises a signal does not fail the step when
   * no expectation mentions it (the kernel oracle compares such outcomes instead). Default false.
   */
  readonly lenient?: boolean;
}

/** Default step budget of {@link runScenario}. */
export const DEFAULT_RUN_STEP_BUDGET = 2_000_000;

/** Runs a whole scenario on a new machine; stops at the first failed expectation. */
export async function runScenario(
  doc: ScenarioDoc,
  options: RunScenarioOptions = {},
): Promise<ScenarioRunResult> {
  const machine = new Machine({
    ...machineOptions(doc),
    scheduler: {
      stepBudget: options.stepBudget ?? DEFAULT_RUN_STEP_BUDGET,
      ...(options.host ? { host: options.host } : {}),
    },
  });
  options.onMachine?.(machine);
  const steps: StepReport[] = [];
  const state = new ScenarioState(doc, machine, (r) => {
    steps.push(r);
    options.onStep?.(r);
  });
  state.onResult = options.onResult;
  state.lenient = options.lenient ?? false;
  let failure: ScenarioRunResult['failure'] = null;
  try {
    await setupScenario(state);
    await runSteps(state, doc.steps, null);
  } catch (e) {
    if (!(e instanceof StepFailure)) throw e;
    failure = { path: e.source.path, line: e.source.line, op: e.op, message: e.detail };
  }
  const counters = state.counters.snapshot();
  state.counters.stop();
  return { name: doc.name, ok: failure === null, steps, failure, counters };
}

const ERRNO: Record<string, number> = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  ENODEV: 19,
  EINVAL: 22,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
};

/** The number a `ret` expectation stands for. */
export function retNumber(v: RetValue): number {
  return typeof v === 'number' ? v : -ERRNO[v.slice(1)]!;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * Runs one step (never a `threads` step inside a thread: the validator forbids it). What the
 * simulation throws (a deadlock, a misuse of the API the scenario asked for) fails the step.
 */
async function runStep(state: ScenarioState, s: Step, thread: string | null): Promise<void> {
  const out: { result: StepResult } = { result: {} };
  try {
    await runStepBody(state, s, thread, out);
  } catch (e) {
    // A broken kernel invariant is the simulator's failure, not the scenario's: it stays an internal error.
    if (e instanceof SimulationError && !(e instanceof StepFailure) && !(e instanceof KernelBug)) {
      throw new StepFailure(s.source, s.op, `${e.name}: ${e.message}`);
    }
    throw e;
  } finally {
    // What the step gave, even when an expectation on it failed.
    if (s.op !== 'threads') state.onResult?.(s.source, out.result);
  }
}

/** A step of one operation. */
type StepOf<Op extends Step['op']> = Extract<Step, { op: Op }>;

/**
 * What a step handler works with: the running scenario, the step, the thread running it, and
 * the checks that fail the step with a message naming it.
 */
class StepContext<S extends Step = Step> {
  /** Expectations checked so far. */
  readonly checked: string[] = [];
  constructor(
    readonly state: ScenarioState,
    readonly s: S,
    readonly thread: string | null,
    readonly out: { result: StepResult },
  ) {}

  fail(detail: string): never {
    throw new StepFailure(this.s.source, this.s.op, detail);
  }

  /** The process `name` (or `fallback`, or the first one), alive. */
  proc(name: string | undefined, fallback?: string): { name: string; p: Process } {
    const n = actingProcess(this.state.doc, name, fallback);
    const p = this.state.processes.get(n);
    if (p === undefined) return this.fail(`process "${n}" does not exist yet`);
    if (p.exited) return this.fail(`process "${n}" has exited`);
    return { name: n, p };
  }

  mapping(name: string): MappingState {
    const m = this.state.mappings.get(name);
    if (m === undefined) {
      const actor = this.state.failedMappings.get(name);
      if (this.state.lenient && actor !== undefined) throw new MappingNeverMapped(name, actor);
      return this.fail(`mapping "${name}" does not exist (yet)`);
    }
    return m;
  }

  /** The pages a range field set names. */
  range(f: { mapping: string; page?: number | undefined; pages?: number | undefined }) {
    const m = this.mapping(f.mapping);
    const { page, pages } = stepRange(f, m.pages);
    return { m, addr: m.addr + page * PAGE_SIZE, pages, label: `${f.mapping}[${page}..${page + pages})` };
  }

  file(name: string): DmirrorFile {
    const f = this.state.files.get(name);
    if (f === undefined) return this.fail(`file "${name}" is not open`);
    return f;
  }

  checkRet(e: Expect | undefined, ret: number, mustSucceed: boolean): void {
    if (e?.ret !== undefined) {
      const want = (Array.isArray(e.ret) ? e.ret : [e.ret]) as RetValue[];
      if (!want.some((w) => retNumber(w) === ret)) {
        this.fail(
          `expected ret ${want.map((w) => errnoName(retNumber(w))).join(' or ')}, got ${errnoName(ret)}`,
        );
      }
      this.checked.push('ret');
    } else if (mustSucceed && ret < 0 && !this.state.lenient) {
      this.fail(
        `${this.s.op} failed with ${errnoName(ret)} (add "expect": {"ret": "${errnoName(ret)}"} if that is intended)`,
      );
    }
  }

  checkField(name: 'cpages' | 'faults', want: number | undefined, got: number): void {
    if (want === undefined) return;
    if (want !== got) this.fail(`expected ${name} ${want}, got ${got}`);
    this.checked.push(name);
  }

  checkData(e: Expect | undefined, data: Uint8Array, ok: boolean): void {
    if (e?.data === undefined) return;
    if (!ok) this.fail('expected data, but the command failed and returned none');
    const bad = firstMismatch(data, e.data);
    if (bad !== undefined) this.fail(`data differs from ${describePattern(e.data)}: ${bad}`);
    this.checked.push('data');
  }

  /** A CPU access: catches the signal it may raise and checks it against expect.signal. */
  async cpu<T>(fn: () => Promise<T>): Promise<{ value?: T; signal?: string }> {
    const want = this.s.expect?.signal;
    try {
      const value = await fn();
      if (want !== undefined) this.fail(`expected ${want}, but the access succeeded`);
      return { value };
    } catch (e) {
      if (!(e instanceof AccessSignal)) throw e;
      const sig = e.name === 'BusError' ? 'SIGBUS' : e.name === 'SegmentationFault' ? 'SIGSEGV' : e.name;
      this.out.result = { ...this.out.result, signal: sig };
      if (this.state.lenient && want === undefined) return { signal: sig };
      if (want !== sig) this.fail(`${e.message}${want ? ` (expected ${want})` : ''}`);
      this.checked.push('signal');
      return { signal: sig };
    }
  }
}

/** What a step did: who acted and a line for the timeline. */
interface Done {
  readonly actor: string;
  readonly text: string;
}

/** Runs one operation's step. */
type StepHandler<Op extends Step['op']> = (c: StepContext<StepOf<Op>>) => Promise<Done>;

/** munmap, mprotect and madvise: a system call over a range. */
const rangeCall = async (c: StepContext<StepOf<'munmap' | 'mprotect' | 'madvise'>>): Promise<Done> => {
  const { s } = c;
  const r = c.range(s);
  const { name: actor, p } = c.proc(s.process, r.m.process);
  const len = r.pages * PAGE_SIZE;
  const ret =
    s.op === 'munmap'
      ? await p.munmap(r.addr, len)
      : s.op === 'mprotect'
        ? await p.mprotect(r.addr, len, protOf(s.prot))
        : await p.madvise(r.addr, len, MADVISE_ADVICE[s.advice]);
  c.out.result = { ret };
  c.checkRet(s.expect, ret, true);
  const what = s.op === 'mprotect' ? ` ${s.prot.join('|')}` : s.op === 'madvise' ? ` ${s.advice}` : '';
  return { actor, text: `${s.op} ${r.label}${what}: ${errnoName(ret)}` };
};

/** RELEASE and FLAGS: dmirror commands without a range. */
const fileCall = async (c: StepContext<StepOf<'release' | 'setFlags'>>): Promise<Done> => {
  const { s } = c;
  const f = c.file(s.file);
  const flags =
    s.op === 'setFlags'
      ? typeof s.flags === 'number'
        ? s.flags
        : s.flags.reduce((n) => n | HMM_DMIRROR_FLAG_FAIL_ALLOC, 0)
      : 0;
  const res = s.op === 'release' ? await f.release() : await f.setFlags(flags);
  c.state.counters.deviceCommand(res);
  c.out.result = { ret: res.ret };
  c.checkRet(s.expect, res.ret, false);
  return {
    actor: s.file,
    text: `${s.op === 'release' ? 'RELEASE' : `FLAGS ${flags}`}: ret ${errnoName(res.ret)}`,
  };
};

/** What a dmirror command over a range returns. */
type DeviceResult = { ret: number; cpages: number; faults: number; data?: Uint8Array; prot?: Uint8Array };

/** The dmirror commands over a range, by step operation. */
const DEVICE_CALLS: {
  readonly [Op in DeviceRangeOp | 'deviceWrite']: (
    f: DmirrorFile,
    addr: number,
    pages: number,
    s: StepOf<Op>,
  ) => Promise<DeviceResult>;
} = {
  deviceRead: (f, addr, pages) => f.read(addr, pages),
  deviceWrite: (f, addr, pages, s) => f.write(addr, pages, patternBytes(s.pattern, pages * PAGE_SIZE)),
  migrateToDev: (f, addr, pages) => f.migrateToDev(addr, pages),
  migrateToSys: (f, addr, pages) => f.migrateToSys(addr, pages),
  snapshot: (f, addr, pages) => f.snapshot(addr, pages),
  exclusive: (f, addr, pages) => f.exclusive(addr, pages),
  checkExclusive: (f, addr, pages) => f.checkExclusive(addr, pages),
};

/** A dmirror command over a range, and the checks of what it returned. */
const deviceCall = async (c: StepContext<StepOf<DeviceRangeOp | 'deviceWrite'>>): Promise<Done> => {
  const { s } = c;
  const f = c.file(s.file);
  const r = c.range(s);
  const e = s.expect;
  const call = DEVICE_CALLS[s.op] as (typeof DEVICE_CALLS)['deviceWrite'];
  const res = await call(f, r.addr, r.pages, s as StepOf<'deviceWrite'>);
  c.state.counters.deviceCommand(res);
  c.out.result = {
    ret: res.ret,
    cpages: res.cpages,
    faults: res.faults,
    ...(res.data === undefined ? {} : { data: res.data }),
    ...(res.prot === undefined ? {} : { prot: res.prot }),
  };
  c.checkRet(e, res.ret, false);
  const results = ['cpages', 'faults', 'data', 'prot'].filter((k) => e?.[k as keyof Expect] !== undefined);
  // cpages, faults, data and prot are checked on success; a failure expect.ret allows skips them.
  if (res.ret !== 0 && e?.ret === undefined && results.length > 0) {
    c.fail(`expected ${results.join(', ')}, but the command failed with ${errnoName(res.ret)}`);
  }
  if (res.ret === 0) {
    c.checkField('cpages', e?.cpages, res.cpages);
    c.checkField('faults', e?.faults, res.faults);
    if (res.data !== undefined) c.checkData(e, res.data, true);
  }
  if (e?.prot !== undefined && res.ret === 0) {
    const want = e.prot.flatMap((p) =>
      typeof p === 'object' ? new Array<number>(p.pages).fill(protByte(p.prot)) : [protByte(p)],
    );
    const got = res.prot!;
    const i = want.findIndex((b, k) => got[k] !== b);
    if (i >= 0) c.fail(`snapshot byte of page ${i} is ${protName(got[i]!)}, expected ${protName(want[i]!)}`);
    c.checked.push('prot');
  }
  let text = `${DMIRROR_COMMANDS[s.op].uapi} ${r.label}: ret ${errnoName(res.ret)}, cpages ${res.cpages}, faults ${res.faults}`;
  if (s.op === 'snapshot' && res.ret === 0) text += `; ${summarizeProt(res.prot!)}`;
  return { actor: s.file, text };
};

/** Every step operation's handler. */
const STEP_HANDLERS: { readonly [Op in Step['op']]: StepHandler<Op> } = {
  mmap: async (c) => {
    const { s: m, state } = c;
    const { name: actor, p } = c.proc(m.process);
    const pages = mappingPages(m);
    const length = pages * PAGE_SIZE;
    const flags = mapFlagsOf(m.flags);
    let fd = -1;
    if ((flags & MAP_ANONYMOUS) === 0) {
      fd = await p.createTmpFile(length, state.doc.machine.tmpfs === true);
      if (fd < 0) c.fail(`creating the backing file failed with ${errnoName(fd)}`);
    }
    const pmd = m.align === 'pmd';
    let addr = await p.mmap(0, pmd ? length + PMD_SIZE : length, protOf(m.prot), flags, fd, 0);
    c.out.result = { ret: Math.min(addr, 0) };
    c.checkRet(m.expect, Math.min(addr, 0), true);
    if (addr >= 0 && pmd) {
      const aligned = Math.ceil(addr / PMD_SIZE) * PMD_SIZE;
      if (aligned > addr) await p.munmap(addr, aligned - addr);
      const tail = addr + length + PMD_SIZE - (aligned + length);
      if (tail > 0) await p.munmap(aligned + length, tail);
      addr = aligned;
    }
    if (addr >= 0 && m.thp !== undefined) {
      const r = await p.madvise(addr, length, m.thp === 'hugepage' ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
      if (r !== 0) c.fail(`madvise(${m.thp}) failed with ${errnoName(r)}`);
    }
    if (addr >= 0) state.mappings.set(m.name, { addr, pages, process: actor, ...(fd >= 0 ? { fd } : {}) });
    else state.failedMappings.set(m.name, actor);
    const text =
      addr >= 0
        ? `mmap ${m.name}: ${pages} pages at ${hex(addr)} (${m.prot.join('|')}, ${m.flags.join('|')}${m.thp ? `, ${m.thp}` : ''})`
        : `mmap ${m.name}: ${errnoName(addr)}`;
    return { actor, text };
  },
  munmap: rangeCall,
  mremap: async (c) => {
    const { s, state } = c;
    const r = c.range(s);
    const { name: actor, p } = c.proc(s.process, r.m.process);
    const to = s.to === undefined ? 0 : c.mapping(s.to.mapping).addr + (s.to.page ?? 0) * PAGE_SIZE;
    const flags = s.flags ?? [];
    const addr = await p.mremap(
      r.addr,
      r.pages * PAGE_SIZE,
      s.newPages * PAGE_SIZE,
      mremapFlagsOf(flags),
      to,
    );
    c.out.result = { ret: Math.min(addr, 0) };
    c.checkRet(s.expect, Math.min(addr, 0), true);
    if (addr >= 0) state.mappings.set(s.name, { addr, pages: s.newPages, process: actor });
    else state.failedMappings.set(s.name, actor);
    const how = flags.length === 0 ? '' : ` (${flags.join('|')})`;
    const text =
      addr >= 0
        ? `mremap ${r.label}${how} → ${s.name}: ${s.newPages} pages at ${hex(addr)}`
        : `mremap ${r.label}${how}: ${errnoName(addr)}`;
    return { actor, text };
  },
  fallocate: async (c) => {
    const { s } = c;
    const r = c.range(s);
    const { name: actor, p } = c.proc(s.process, r.m.process);
    if (r.m.fd === undefined)
      c.fail(`mapping "${s.mapping}" has no file (fallocate needs a file mapping made by mmap)`);
    const offset = r.addr - r.m.addr + (s.offset ?? 0);
    const len = s.length ?? r.pages * PAGE_SIZE;
    const ret = await p.fallocate(r.m.fd!, fallocateModeOf(s.mode), offset, len);
    c.out.result = { ret };
    c.checkRet(s.expect, ret, true);
    return {
      actor,
      text: `fallocate ${s.mode.join('|') || '0'} ${r.label} (bytes ${offset}+${len}): ${errnoName(ret)}`,
    };
  },
  vmas: async (c) => {
    const { s } = c;
    const r = c.range(s);
    const { name: actor, p } = c.proc(s.process, r.m.process);
    const vmas = vmaTexts(p.mm, r.addr, r.pages);
    c.out.result = { vmas };
    const want = s.expect?.vmas;
    if (want !== undefined) {
      if (want.join(', ') !== vmas.join(', '))
        c.fail(`expected VMAs ${want.join(', ') || 'none'}, got ${vmas.join(', ') || 'none'}`);
      c.checked.push('vmas');
    }
    return { actor, text: `VMAs over ${r.label}: ${vmas.join(', ') || 'none'}` };
  },
  mprotect: rangeCall,
  madvise: rangeCall,
  write: async (c) => {
    const { s } = c;
    const r = c.range(s);
    const { name: actor, p } = c.proc(s.process, r.m.process);
    const length = r.pages * PAGE_SIZE;
    // Made a page at a time as it is stored: a large range's pattern is no buffer of its size.
    const res = await c.cpu(() =>
      p.writeFrom(r.addr, length, (dst, done, n) => patternInto(s.pattern, length, done, dst, n)),
    );
    return {
      actor,
      text: `CPU write ${r.label} ${describePattern(s.pattern)}${res.signal ? `: ${res.signal}` : ''}`,
    };
  },
  read: async (c) => {
    const { s } = c;
    const r = c.range(s);
    const { name: actor, p } = c.proc(s.process, r.m.process);
    const res = await c.cpu(() => p.read(r.addr, r.pages * PAGE_SIZE));
    if (res.value !== undefined) c.out.result = { data: res.value };
    if (res.value !== undefined) c.checkData(s.expect, res.value, true);
    return { actor, text: `CPU read ${r.label}${res.signal ? `: ${res.signal}` : ''}` };
  },
  store32: async (c) => {
    const { s } = c;
    const { actor, p, addr, at } = word(c);
    const res = await c.cpu(() => p.store32(addr, s.value));
    return { actor, text: `CPU store32 ${s.value} at ${at}${res.signal ? `: ${res.signal}` : ''}` };
  },
  load32: async (c) => {
    const { s } = c;
    const { actor, p, addr, at } = word(c);
    const res = await c.cpu(() => p.load32(addr));
    if (res.value !== undefined) c.out.result = { value: res.value };
    if (res.value !== undefined && s.expect?.value !== undefined) {
      if (res.value !== s.expect.value) c.fail(`expected value ${s.expect.value}, got ${res.value}`);
      c.checked.push('value');
    }
    return { actor, text: `CPU load32 at ${at}: ${res.signal ?? res.value}` };
  },
  fork: async (c) => {
    const { name: actor, p } = c.proc(c.s.process);
    const child = await p.fork();
    c.state.processes.set(c.s.child, child);
    c.out.result = { ret: 0 };
    return { actor, text: `fork: child "${c.s.child}" (pid ${child.pid})` };
  },
  exit: async (c) => {
    const { name: actor, p } = c.proc(c.s.process);
    await p.exit();
    c.out.result = { ret: 0 };
    return { actor, text: 'exit' };
  },
  sleep: async (c) => {
    await c.state.machine.sched.sleep(c.s.ns);
    return { actor: c.thread ?? 'main', text: `sleep ${c.s.ns} ns` };
  },
  open: async (c) => {
    const { s, state } = c;
    const device = state.devices.get(s.device)!;
    const { name: pname, p } = c.proc(s.process);
    const f = await device.open(p);
    state.files.set(s.file, f);
    c.out.result = { ret: 0 };
    return { actor: s.file, text: `open ${device.name} for "${pname}": fd ${f.fd}` };
  },
  close: async (c) => {
    await c.file(c.s.file).close();
    c.state.files.delete(c.s.file);
    c.out.result = { ret: 0 };
    return { actor: c.s.file, text: 'close' };
  },
  release: fileCall,
  setFlags: fileCall,
  deviceRead: deviceCall,
  deviceWrite: deviceCall,
  migrateToDev: deviceCall,
  migrateToSys: deviceCall,
  snapshot: deviceCall,
  exclusive: deviceCall,
  checkExclusive: deviceCall,
  threads: async (c) => {
    const { s, state } = c;
    const { machine } = state;
    if (c.thread !== null) c.fail('threads cannot be nested');
    const policy: SchedulePolicy =
      s.schedule === 'round-robin'
        ? new RoundRobinPolicy()
        : s.schedule === 'random'
          ? new RandomPolicy(new Prng(s.seed ?? state.doc.machine.seed ?? 1))
          : new RunToBlockPolicy();
    const saved = machine.sched.policy;
    machine.sched.policy = policy;
    const spawned: SimThread[] = Object.entries(s.threads).map(([name, steps]) =>
      machine.sched.spawn(name, () => runSteps(state, steps, name)),
    );
    let first: unknown;
    for (const t of spawned) {
      try {
        await machine.sched.join(t);
      } catch (e) {
        first ??= e;
      }
    }
    machine.sched.policy = saved;
    if (first !== undefined) throw first;
    return {
      actor: 'main',
      text: `threads ${Object.keys(s.threads).join(', ')} (${s.schedule ?? 'run-to-block'}) finished`,
    };
  },
};

/** The process and address of a store32/load32, and how the timeline names the place. */
function word(c: StepContext<StepOf<'store32' | 'load32'>>) {
  const { s } = c;
  const m = c.mapping(s.mapping);
  const { name: actor, p } = c.proc(s.process, m.process);
  const addr = m.addr + (s.page ?? 0) * PAGE_SIZE + (s.offset ?? 0);
  return { actor, p, addr, at: `${s.mapping}[${s.page ?? 0}]${s.offset ? `+${s.offset}` : ''}` };
}

async function runStepBody(
  state: ScenarioState,
  s: Step,
  thread: string | null,
  out: { result: StepResult },
): Promise<void> {
  const { machine, counters } = state;
  const inv0 = { ...counters.invalidations };
  const c = new StepContext(state, s, thread, out);
  const handler = STEP_HANDLERS[s.op] as StepHandler<Step['op']>;
  let report: { actor: string; text: string };
  try {
    report = await handler(c);
  } catch (e) {
    if (!(e instanceof MappingNeverMapped)) throw e;
    out.result = { unmapped: true };
    report = { actor: e.actor, text: `${s.op}: not run, ${e.message}` };
  }
  let { actor, text } = report;
  if (thread === null && s.op !== 'threads') {
    const inv = Object.entries(counters.invalidations)
      .map(([k, v]) => [k, v - (inv0[k] ?? 0)] as const)
      .filter(([, v]) => v > 0)
      .map(([k, v]) => (v === 1 ? k : `${k}×${v}`));
    if (inv.length > 0) text += ` [notifier: ${inv.join(', ')}]`;
  }
  state.onStep({
    time: machine.sched.clock.now,
    actor: thread === null || actor === thread ? actor : `${thread}/${actor}`,
    source: s.source,
    op: s.op,
    text: s.note ? `${text} — ${s.note}` : text,
    checked: c.checked,
  });
}

/**
 * The VMAs of `mm` that meet the `pages` pages at `addr`, as /proc/pid/maps would list them:
 * each as its first page relative to `addr`, its size in pages and its permissions
 * (`"-2+8 rw-p"`; `s` for a VM_MAYSHARE mapping). The kernel oracle's runner prints the same.
 */
export function vmaTexts(mm: MmStruct, addr: number, pages: number): string[] {
  const end = addr + pages * PAGE_SIZE;
  const flag = (f: number, bit: number, c: string): string => ((f & bit) !== 0 ? c : '-');
  return mm.vmas
    .filter((v) => v.end > addr && v.start < end)
    .map(
      (v) =>
        `${(v.start - addr) / PAGE_SIZE}+${v.size / PAGE_SIZE} ${flag(v.flags, VM_READ, 'r')}${flag(v.flags, VM_WRITE, 'w')}${flag(v.flags, VM_EXEC, 'x')}${(v.flags & VM_MAYSHARE) !== 0 ? 's' : 'p'}`,
    );
}

/** A snapshot byte by name: `ZERO|READ`, `DEV_PRIVATE_LOCAL|WRITE`, `ERROR`. */
export function protName(b: number): string {
  if (b === 0xff) return 'ERROR';
  if (b === 0) return 'NONE';
  const parts: string[] = [];
  const dev = b & 0xf0;
  const devNames: Record<number, string> = {
    16: 'ZERO',
    32: 'DEV_PRIVATE_LOCAL',
    48: 'DEV_PRIVATE_REMOTE',
    64: 'DEV_COHERENT_LOCAL',
    80: 'DEV_COHERENT_REMOTE',
  };
  if (dev !== 0) parts.push(devNames[dev] ?? hex(dev));
  if (b & 0x01) parts.push('READ');
  if (b & 0x02) parts.push('WRITE');
  if (b & 0x04) parts.push('PMD');
  if (b & 0x08) parts.push('PUD');
  return parts.join('|');
}

/** Runs of equal snapshot bytes: `WRITE×1022, ZERO|READ×2`. */
export function summarizeProt(prot: Uint8Array): string {
  const runs: string[] = [];
  let i = 0;
  while (i < prot.length) {
    let j = i;
    while (j < prot.length && prot[j] === prot[i]) j++;
    runs.push(j - i === 1 ? protName(prot[i]!) : `${protName(prot[i]!)}×${j - i}`);
    i = j;
  }
  return runs.join(', ');
}

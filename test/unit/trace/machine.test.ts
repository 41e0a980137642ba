/**
 * traceMachine: a scenario (process writes, dmirror READ, munmap → UNMAP, migration to the
 * device, CPU touch → migrate_to_ram, fork) traced into a Chrome trace: tracks, slices, instants
 * and counters as docs/trace.md describes them, well formed per track, and a traced run identical
 * to an untraced one.
 */
import { describe, expect, it } from 'vitest';
import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  RoundRobinPolicy,
  UsageError,
} from '../../../src/index.ts';
import { MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES } from '../../../src/mm/constants.ts';
import {
  ChromeTraceWriter,
  DEVICE_TID_BASE,
  type TraceEvent,
  traceMachine,
} from '../../../src/trace/index.ts';

const N = 8;

/** The scenario; returns every observable number so that two runs can be compared. */
async function scenario(machine: Machine): Promise<unknown[]> {
  const device = machine.dmirrorDevice(0) ?? machine.addDmirrorDevice();
  const proc = await machine.createProcess();
  const addr = await proc.mmap(0, N * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  for (let i = 0; i < N; i++) await proc.store32(addr + i * PAGE_SIZE, 1000 + i);
  const file = await device.open(proc);
  const out: unknown[] = [addr];
  const rec = (r: { ret: number; cpages: number; faults: number }): void => {
    out.push([r.ret, r.cpages, r.faults]);
  };
  rec(await file.read(addr, N));
  out.push(await proc.munmap(addr + 2 * PAGE_SIZE, 2 * PAGE_SIZE));
  rec(await file.read(addr, N));
  rec(await file.read(addr + 4 * PAGE_SIZE, 4));
  rec(await file.migrateToDev(addr + 4 * PAGE_SIZE, 4));
  out.push(await proc.load32(addr + 5 * PAGE_SIZE));
  const child = await proc.fork();
  await child.store32(addr + 6 * PAGE_SIZE, 42);
  out.push(await child.load32(addr + 6 * PAGE_SIZE), await proc.load32(addr + 6 * PAGE_SIZE));
  out.push(machine.sched.clock.now, machine.pm.freeFrames, device.calloc - device.cfree);
  return out;
}

interface Trace {
  traceEvents: TraceEvent[];
  displayTimeUnit: string;
  otherData: Record<string, unknown>;
}

async function tracedScenario(): Promise<{
  machine: Machine;
  trace: Trace;
  chunks: string[];
  out: unknown[];
}> {
  const machine = new Machine({ memory: 64 * 1024 * 1024 });
  machine.addDmirrorDevice();
  const chunks: string[] = [];
  const writer = new ChromeTraceWriter((c) => chunks.push(c), { chunkSize: 4096 });
  writer.begin();
  traceMachine(machine, writer, { name: 'scenario' });
  const out = await scenario(machine);
  writer.end();
  return { machine, trace: JSON.parse(chunks.join('')) as Trace, chunks, out };
}

/** thread_name of each (pid, tid). */
function trackNames(events: TraceEvent[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const e of events)
    if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}/${e.tid}`, e.args!.name as string);
  return names;
}

function tidOf(events: TraceEvent[], name: string, pid = 1): number {
  const e = events.find(
    (x) => x.ph === 'M' && x.name === 'thread_name' && x.pid === pid && x.args!.name === name,
  );
  if (e === undefined) throw new Error(`no track ${name}`);
  return e.tid!;
}

/** Complete slices rebuilt from B/E pairs (args of both merged), checking nesting per track. */
function slices(
  events: TraceEvent[],
): { name: string; pid: number; tid: number; ts: number; args: Record<string, unknown> }[] {
  const stacks = new Map<string, TraceEvent[]>();
  const done: { name: string; pid: number; tid: number; ts: number; args: Record<string, unknown> }[] = [];
  for (const e of events) {
    const key = `${e.pid}/${e.tid}`;
    const stack = stacks.get(key) ?? [];
    stacks.set(key, stack);
    if (e.ph === 'B') stack.push(e);
    else if (e.ph === 'E') {
      const b = stack.pop();
      expect(b, `E ${e.name} without B on ${key}`).toBeDefined();
      expect(e.name).toBe(b!.name);
      done.push({ name: b!.name, pid: b!.pid, tid: b!.tid!, ts: b!.ts!, args: { ...b!.args, ...e.args } });
    }
  }
  for (const [key, stack] of stacks)
    expect(
      stack.map((e) => e.name),
      `open on ${key}`,
    ).toEqual([]);
  return done;
}

function lastCounter(events: TraceEvent[], name: string, pid = 1): Record<string, unknown> {
  const cs = events.filter((e) => e.ph === 'C' && e.name === name && e.pid === pid);
  expect(cs.length).toBeGreaterThan(0);
  return cs[cs.length - 1]!.args!;
}

describe('traceMachine', () => {
  it('writes valid JSON with a process, the thread tracks and the device track', async () => {
    const { trace } = await tracedScenario();
    expect(trace.displayTimeUnit).toBe('ns');
    const ev = trace.traceEvents;
    expect(ev).toContainEqual({ name: 'process_name', ph: 'M', pid: 1, args: { name: 'scenario' } });
    const names = trackNames(ev);
    expect(names.get('1/1')).toBe('main');
    expect(names.get(`1/${DEVICE_TID_BASE}`)).toBe('hmm_dmirror0');
    expect(ev.every((e) => e.pid === 1)).toBe(true);
  });

  it('faults, hmm_range_fault, migrations and device commands are slices with their arguments', async () => {
    const { trace } = await tracedScenario();
    const ev = trace.traceEvents;
    const all = slices(ev);
    const main = tidOf(ev, 'main');
    const dev = tidOf(ev, 'hmm_dmirror0');
    // The CPU's first writes fault on the main thread's track.
    const faults = all.filter((s) => s.name === 'page_fault' && s.tid === main);
    expect(faults.length).toBeGreaterThanOrEqual(N);
    expect(faults[0]!.args).toMatchObject({ write: true, result: 0, outcome: 'ok' });
    expect(faults[0]!.args.addr).toMatch(/^0x[0-9a-f]+$/);
    // Device commands on the device track, with the driver's result record.
    const cmds = all.filter((s) => s.tid === dev).map((s) => [s.name, s.args.ret, s.args.cpages]);
    expect(cmds).toEqual([
      ['READ', 0, 8],
      ['READ', -14, 0],
      ['READ', 0, 4],
      ['MIGRATE_TO_DEV', 0, 4],
    ]);
    const hmm = all.filter((s) => s.name === 'hmm_range_fault');
    expect(hmm.length).toBeGreaterThan(0);
    expect(hmm[0]!.args).toMatchObject({ npages: 8, result: 0 });
    // migrate_vma (setup → finalize) with the page count, its phases nested inside.
    const migrations = all.filter((s) => s.name === 'migrate_vma');
    expect(migrations[0]!.args).toMatchObject({ npages: 4, migrated: 4 });
    expect(all.filter((s) => s.name === 'migrate_vma_setup')[0]!.args).toMatchObject({
      cpages: 4,
      npages: 4,
    });
    expect(all.filter((s) => s.name === 'migrate_vma_pages')[0]!.args).toMatchObject({ migrated: 4 });
    // The CPU touch of a device page: migrate_to_ram inside the fault, one page back.
    const toRam = all.filter((s) => s.name === 'migrate_to_ram');
    expect(toRam.length).toBeGreaterThanOrEqual(2); // parent load, child store
    expect(toRam[0]!.args).toMatchObject({ result: 0 });
    expect(migrations[1]!.args).toMatchObject({ npages: 1, migrated: 1 });
  });

  it('invalidations are thread-scoped instants named MMU_NOTIFY_*, with range and owner', async () => {
    const { trace } = await tracedScenario();
    const ev = trace.traceEvents;
    const addr = Number.parseInt((ev.find((e) => e.name === 'mmap')!.args!.result as string).slice(2), 16);
    const unmap = ev.filter((e) => e.name === 'MMU_NOTIFY_UNMAP');
    expect(unmap).toHaveLength(1);
    expect(unmap[0]).toMatchObject({ ph: 'i', s: 't', tid: tidOf(ev, 'main') });
    expect(unmap[0]!.args).toMatchObject({
      start: `0x${(addr + 2 * PAGE_SIZE).toString(16)}`,
      end: `0x${(addr + 4 * PAGE_SIZE).toString(16)}`,
      npages: 2,
      owner: null,
    });
    const migrate = ev.filter((e) => e.name === 'MMU_NOTIFY_MIGRATE');
    expect(migrate.length).toBeGreaterThan(0);
    expect(migrate[0]!.args!.owner).toBe('hmm_dmirror0');
    // System calls are instants too.
    expect(ev.find((e) => e.name === 'munmap')).toMatchObject({
      ph: 'i',
      args: { result: 0, length: 2 * PAGE_SIZE },
    });
    expect(ev.find((e) => e.name === 'fork')).toMatchObject({ ph: 'i', cat: 'syscall' });
  });

  it('counters of resident, swapped, device and free pages end at the machine state', async () => {
    const { trace, machine } = await tracedScenario();
    const ev = trace.traceEvents;
    let anon = 0;
    let file = 0;
    let shmem = 0;
    for (const mm of machine.mms) {
      anon += mm.rss[MM_ANONPAGES]!;
      file += mm.rss[MM_FILEPAGES]!;
      shmem += mm.rss[MM_SHMEMPAGES]!;
    }
    expect(anon).toBeGreaterThan(0);
    expect(lastCounter(ev, 'resident pages')).toEqual({ anon, file, shmem });
    expect(lastCounter(ev, 'swapped pages')).toEqual({ swap: machine.swap.inUse });
    expect(lastCounter(ev, 'free pages')).toEqual({ free: machine.pm.freeFrames });
    const d = machine.dmirrorDevice(0)!;
    expect(d.calloc - d.cfree).toBe(2); // pages 4 and 7 stayed on the device
    expect(lastCounter(ev, 'device pages')).toEqual({ hmm_dmirror0: 2 });
    // Written only on change: no two consecutive samples of a counter are equal.
    for (const name of ['resident pages', 'device pages', 'free pages']) {
      const values = ev.filter((e) => e.ph === 'C' && e.name === name).map((e) => JSON.stringify(e.args));
      for (let i = 1; i < values.length; i++) expect(values[i]).not.toBe(values[i - 1]);
      expect(values.length).toBeGreaterThan(1);
    }
  });

  it('timestamps are µs of the virtual clock, non-decreasing on every track; B/E balance', async () => {
    const { trace, machine } = await tracedScenario();
    const ev = trace.traceEvents;
    const last = new Map<string, number>();
    for (const e of ev) {
      if (e.ph === 'M') continue;
      const key = e.ph === 'C' ? `${e.pid}/C/${e.name}` : `${e.pid}/${e.tid}`;
      expect(e.ts).toBeGreaterThanOrEqual(last.get(key) ?? 0);
      last.set(key, e.ts!);
    }
    const maxTs = Math.max(...ev.filter((e) => e.ts !== undefined).map((e) => e.ts!));
    expect(maxTs).toBe(machine.sched.clock.now / 1000);
    expect(maxTs).toBeGreaterThan(0);
    slices(ev); // throws on an unbalanced or misnested pair
  });

  it('streams in bounded chunks', async () => {
    const { chunks, trace } = await tracedScenario();
    expect(chunks.length).toBeGreaterThan(3);
    for (const c of chunks) expect(c.length).toBeLessThanOrEqual(4096);
    expect(trace.otherData.eventCount).toBe(trace.traceEvents.length);
  });

  it('changes nothing: a traced run equals an untraced one, and detach stops the trace', async () => {
    const plain = await scenario(new Machine({ memory: 64 * 1024 * 1024 }));
    const { out } = await tracedScenario();
    expect(out).toEqual(plain);
    const machine = new Machine({ memory: 64 * 1024 * 1024 });
    const chunks: string[] = [];
    const writer = new ChromeTraceWriter((c) => chunks.push(c));
    const detach = traceMachine(machine, writer);
    expect(machine.bus.on).toBe(true);
    expect(machine.sched.onSwitch).not.toBeNull();
    detach();
    expect(machine.bus.on).toBe(false);
    expect(machine.sched.onSwitch).toBeNull();
    const before = writer.eventCount;
    expect(await scenario(machine)).toEqual(plain);
    expect(writer.eventCount).toBe(before);
    writer.end();
    JSON.parse(chunks.join(''));
  });

  it('chains an existing onSwitch observer and keeps it after detaching', async () => {
    const machine = new Machine({ memory: 64 * 1024 * 1024 });
    const seen: string[] = [];
    machine.sched.onSwitch = (from, to) => seen.push(`${from.name}>${to.name}`);
    const chunks: string[] = [];
    const writer = new ChromeTraceWriter((c) => chunks.push(c));
    const detach = traceMachine(machine, writer, { contextSwitches: true });
    const t = machine.sched.spawn('worker', async () => {
      await machine.sched.yield('worker point');
    });
    await machine.sched.join(t);
    expect(seen.length).toBeGreaterThan(0);
    detach();
    const n = seen.length;
    await machine.sched.join(machine.sched.spawn('second', () => undefined));
    expect(seen.length).toBeGreaterThan(n);
    writer.end();
    const ev = (JSON.parse(chunks.join('')) as Trace).traceEvents;
    expect(trackNames(ev).get(`1/${t.id + 1}`)).toBe('worker');
    expect(ev.filter((e) => e.name === 'sched_switch').length).toBe(n);
    expect(trackNames(ev).has(`1/${t.id + 2}`)).toBe(false); // 'second' ran after the detach
  });

  it('several threads driving one device at once get lanes of the device track', async () => {
    const machine = new Machine({ memory: 64 * 1024 * 1024, scheduler: { policy: new RoundRobinPolicy() } });
    const device = machine.addDmirrorDevice();
    const chunks: string[] = [];
    const writer = new ChromeTraceWriter((c) => chunks.push(c));
    traceMachine(machine, writer, { spacingNs: 10 });
    const proc = await machine.createProcess();
    const addr = await proc.mmap(
      0,
      64 * PAGE_SIZE,
      PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS,
      -1,
      0,
    );
    const file = await device.open(proc);
    const threads = [0, 1, 2].map((i) =>
      machine.sched.spawn(`gpu ${i}`, async () => {
        const r = await file.read(addr + i * 16 * PAGE_SIZE, 16);
        return r.ret;
      }),
    );
    for (const t of threads) expect(await machine.sched.join(t)).toBe(0);
    writer.end();
    const ev = (JSON.parse(chunks.join('')) as Trace).traceEvents;
    const all = slices(ev);
    const reads = all.filter((s) => s.name === 'READ');
    expect(reads).toHaveLength(3);
    const lanes = new Set(reads.map((s) => trackNames(ev).get(`1/${s.tid}`)));
    expect([...lanes].every((l) => l?.startsWith('hmm_dmirror0'))).toBe(true);
    expect(lanes.size).toBeGreaterThan(1); // the reads overlap under round robin
    // With spacing, timestamps strictly increase within the machine.
    const ts = ev.filter((e) => e.ts !== undefined).map((e) => e.ts!);
    for (let i = 1; i < ts.length; i++) expect(ts[i]!).toBeGreaterThan(ts[i - 1]!);
  });

  it('two machines trace into one file as two processes', async () => {
    const chunks: string[] = [];
    const writer = new ChromeTraceWriter((c) => chunks.push(c));
    writer.begin();
    const a = new Machine({ memory: 64 * 1024 * 1024 });
    const b = new Machine({ memory: 64 * 1024 * 1024 });
    traceMachine(a, writer, { name: 'machine A' });
    traceMachine(b, writer, { name: 'machine B' });
    expect(() => traceMachine(b, writer, { pid: 2 })).toThrow(UsageError);
    await scenario(a);
    await scenario(b);
    writer.end();
    const ev = (JSON.parse(chunks.join('')) as Trace).traceEvents;
    const procs = ev.filter((e) => e.name === 'process_name').map((e) => [e.pid, e.args!.name]);
    expect(procs).toEqual([
      [1, 'machine A'],
      [2, 'machine B'],
    ]);
    for (const pid of [1, 2]) {
      expect(tidOf(ev, 'main', pid)).toBe(1);
      expect(tidOf(ev, 'hmm_dmirror0', pid)).toBe(DEVICE_TID_BASE);
      expect(ev.filter((e) => e.pid === pid && e.name === 'MMU_NOTIFY_UNMAP')).toHaveLength(1);
      expect(lastCounter(ev, 'device pages', pid)).toEqual({ hmm_dmirror0: 2 });
    }
    slices(ev);
    expect(() => traceMachine(a, writer)).toThrow(UsageError);
  });

  it('closes slices still open when the trace ends', async () => {
    const machine = new Machine({ memory: 64 * 1024 * 1024 });
    const chunks: string[] = [];
    const writer = new ChromeTraceWriter((c) => chunks.push(c));
    traceMachine(machine, writer);
    const now = machine.sched.clock.now;
    machine.bus.emit({ type: 'span', time: now, thread: 'main', phase: 'B', name: 'outer' });
    machine.bus.emit({ type: 'span', time: now, thread: 'main', phase: 'B', name: 'inner', track: 'gpu' });
    machine.bus.emit({ type: 'span', time: now, thread: 'main', phase: 'E', name: 'stray' });
    // A thread that dies with a slice open: the slice ends with the thread.
    const t = machine.sched.spawn('doomed', () => {
      machine.bus.emit({ type: 'span', time: now, thread: 'doomed', phase: 'B', name: 'unfinished' });
      throw new Error('boom');
    });
    await expect(machine.sched.join(t)).rejects.toThrow('boom');
    const before = writer.eventCount;
    writer.end();
    expect(writer.eventCount).toBe(before + 2); // outer and inner closed by the end
    const ev = (JSON.parse(chunks.join('')) as Trace).traceEvents;
    const closed = slices(ev).map((s) => [s.name, trackNames(ev).get(`1/${s.tid}`)]);
    expect(closed).toEqual([
      ['unfinished', 'doomed'],
      ['outer', 'main'],
      ['inner', 'gpu'],
    ]);
  });
});

/**
 * hmmsim's demonstration (`hmmsim demo`, `npm start`): a process and a device sharing an address
 * space through HMM, narrated. The device is `dmirror`, the kernel's HMM test driver; every
 * mmu-notifier invalidation and every device command is printed as it happens, on the virtual
 * clock.
 *
 *   1. a process maps 8 pages and writes them;
 *   2. the device mirrors them (READ: hmm_range_fault faults nothing, the pages are there);
 *   3. the CPU unmaps two pages: UNMAP reaches the device's notifier, which drops its entries;
 *      the device reads again and gets -EFAULT for the hole, then mirrors the rest;
 *   4. the remaining pages migrate to device-private memory (MIGRATE_TO_DEV);
 *   5. the CPU reads one of them: a device-private fault migrates it back (migrate_to_ram);
 *   6. fork with pages on the device: the child writes, its page comes back to RAM and is copied.
 *
 * Node-free: output goes through the callbacks.
 * @module
 */
import { HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL, HMM_DMIRROR_PROT_ERROR } from '../devices/dmirror/uapi.ts';
import { Machine } from '../machine.ts';
import { MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE, ULONG_MAX } from '../mm/constants.ts';
import { MMU_NOTIFY_EVENT_NAMES } from '../mm/mmu-notifier.ts';
import { errnoName } from '../sim/errno.ts';
import { type CounterSnapshot, formatCounters, RunCounters } from './counters.ts';

/** One line of the demo's timeline. */
export interface DemoEntry {
  /** Virtual time, ns. */
  readonly time: number;
  /** Who acted: cpu, device, notifier, child. */
  readonly actor: string;
  readonly text: string;
}

/** Options of {@link runDemoDetailed}. */
export interface DemoOptions {
  /** Receives every line of the narration (headings, timeline lines, counters). */
  readonly print?: (line: string) => void;
  /** Receives each timeline entry. */
  readonly onEntry?: (entry: DemoEntry) => void;
  /** Called with the machine as soon as it exists (to attach a trace). */
  readonly onMachine?: (machine: Machine) => void;
}

/** What {@link runDemoDetailed} returns. */
export interface DemoResult {
  readonly machine: Machine;
  readonly entries: readonly DemoEntry[];
  readonly counters: CounterSnapshot;
}

/** An address in hex; the kernel's ULONG_MAX (the end of exit_mmap's range) by its name. */
const hex = (n: number): string => (n === ULONG_MAX ? 'ULONG_MAX' : `0x${n.toString(16)}`);

/** Runs the demonstration, writing lines through `print`; returns the machine for inspection. */
export async function runDemo(print: (line: string) => void): Promise<Machine> {
  return (await runDemoDetailed({ print })).machine;
}

/** Runs the demonstration with its timeline entries and counters. */
export async function runDemoDetailed(options: DemoOptions = {}): Promise<DemoResult> {
  const print = options.print ?? (() => {});
  const machine = new Machine({ memory: 512 * 1024 * 1024 });
  options.onMachine?.(machine);
  const counters = new RunCounters(machine);
  const entries: DemoEntry[] = [];
  const us = (t: number): string => `${(t / 1000).toFixed(1).padStart(7)} µs`;
  const say = (actor: string, text: string): void => {
    const entry = { time: machine.sched.clock.now, actor, text };
    entries.push(entry);
    options.onEntry?.(entry);
    print(`${us(entry.time)}  ${actor.padEnd(9)} ${text}`);
  };
  machine.bus.subscribe((e) => {
    if (e.type === 'invalidate_start') {
      const r = e.range;
      const owner = r.owner === null ? '' : ' (owner: the device)';
      say('notifier', `${MMU_NOTIFY_EVENT_NAMES[r.event]} [${hex(r.start)}, ${hex(r.end)})${owner}`);
    }
  });
  const device = machine.addDmirrorDevice();
  const proc = await machine.createProcess();
  const n = 8;
  print(
    `hmmsim: a ${machine.memoryBytes / 2 ** 20} MiB machine with ${device.name} (device-private memory)\n`,
  );

  print('1. the process maps 8 pages and writes them');
  const addr = await proc.mmap(0, n * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  for (let i = 0; i < n; i++) await proc.store32(addr + i * PAGE_SIZE, 1000 + i);
  say('cpu', `wrote pages ${hex(addr)} … ${hex(addr + n * PAGE_SIZE)}`);

  print('\n2. the device mirrors them: READ runs hmm_range_fault and fills its page table');
  const file = await device.open(proc);
  let r = await file.read(addr, n);
  counters.deviceCommand(r);
  const words = (d: Uint8Array): string =>
    Array.from({ length: d.length / PAGE_SIZE }, (_, i) =>
      new DataView(d.buffer, d.byteOffset + i * PAGE_SIZE).getUint32(0, true),
    ).join(' ');
  say(
    'device',
    `READ ${n} pages: ret ${r.ret}, cpages ${r.cpages}, faults ${r.faults}; data ${words(r.data)}`,
  );

  print('\n3. the CPU unmaps pages 2–3: the device is told, drops its entries, and faults again');
  await proc.munmap(addr + 2 * PAGE_SIZE, 2 * PAGE_SIZE);
  r = await file.read(addr, n);
  counters.deviceCommand(r);
  say('device', `READ ${n} pages across the hole: ret ${errnoName(r.ret)} (no VMA there)`);
  r = await file.read(addr + 4 * PAGE_SIZE, 4);
  counters.deviceCommand(r);
  say('device', `READ pages 4–7: ret ${r.ret}, cpages ${r.cpages}; data ${words(r.data)}`);

  print('\n4. pages 4–7 migrate to device memory: the CPU page table now holds device-private entries');
  const m = await file.migrateToDev(addr + 4 * PAGE_SIZE, 4);
  counters.deviceCommand(m);
  say('device', `MIGRATE_TO_DEV 4 pages: ret ${m.ret}, cpages ${m.cpages}`);
  const s = await file.snapshot(addr, n);
  counters.deviceCommand(s);
  const code = (b: number): string =>
    b === HMM_DMIRROR_PROT_ERROR
      ? 'ERR'
      : (b & 0xf0) === HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL
        ? 'DEV'
        : b === 0
          ? '---'
          : 'RAM';
  say('device', `SNAPSHOT: ${Array.from(s.prot, code).join(' ')}`);

  print('\n5. the CPU reads page 5: a device-private fault migrates it back to RAM');
  const v = await proc.load32(addr + 5 * PAGE_SIZE);
  say('cpu', `read ${v} at page 5`);
  const s2 = await file.snapshot(addr, n);
  counters.deviceCommand(s2);
  say('device', `SNAPSHOT: ${Array.from(s2.prot, code).join(' ')}`);

  print('\n6. fork with pages on the device; the child writes page 6 (device → RAM, then copy-on-write)');
  const child = await proc.fork();
  await child.store32(addr + 6 * PAGE_SIZE, 42);
  const parentReads = await proc.load32(addr + 6 * PAGE_SIZE);
  say('child', `wrote 42 to page 6; parent still reads ${parentReads}`);
  const before = counters.snapshot();
  await child.exit();
  await file.close();
  await proc.exit();
  const used = machine.pm.ramFrames - machine.pm.freeFrames;
  print(
    `\ndone: ${(machine.sched.clock.now / 1000).toFixed(1)} µs of virtual time; ${used} frames still in use (zero pages and the hugetlb pool)`,
  );
  // Resident and device pages as they were before the processes exited (after, both are 0).
  const snap = {
    ...counters.snapshot(),
    residentPages: before.residentPages,
    devicePages: before.devicePages,
  };
  counters.stop();
  print('\ncounters (resident pages: before the processes exited):');
  for (const line of formatCounters(snap)) print(line);
  return { machine, entries, counters: snap };
}

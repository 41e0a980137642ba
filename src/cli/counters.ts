/**
 * Counters of a run, shown at the end of `hmmsim demo` and `hmmsim run`: CPU faults,
 * invalidations by event, pages migrated to and from device memory, device faults, and the
 * pages resident in RAM and in device memory at the end. Node-free.
 * @module
 */
import type { Machine } from '../machine.ts';
import { MMU_NOTIFY_EVENT_NAMES } from '../mm/mmu-notifier.ts';

/** What {@link RunCounters.snapshot} returns. */
export interface CounterSnapshot {
  /** CPU page faults handled. */
  readonly cpuFaults: number;
  /** mmu-notifier invalidations, by event name. */
  readonly invalidations: Readonly<Record<string, number>>;
  /** Pages MIGRATE_TO_DEV moved to device memory. */
  readonly migratedToDevice: number;
  /** Pages moved from device memory back to RAM (MIGRATE_TO_SYS, and CPU faults on device pages). */
  readonly migratedFromDevice: number;
  /** Device commands issued. */
  readonly deviceCommands: number;
  /** Faults the device commands took (the `faults` of their results). */
  readonly deviceFaults: number;
  /** Pages resident in RAM for the live processes (rss). */
  readonly residentPages: number;
  /** Device pages in use (allocated and not freed), all devices. */
  readonly devicePages: number;
  /** Virtual time, ns. */
  readonly virtualNs: number;
}

/** Collects counters of one machine. */
export class RunCounters {
  cpuFaults = 0;
  readonly invalidations: Record<string, number> = {};
  migratedToDevice = 0;
  migratedFromDevice = 0;
  deviceCommands = 0;
  deviceFaults = 0;
  private readonly detach: () => void;

  /** Starts counting the events of `machine`. */
  constructor(readonly machine: Machine) {
    this.detach = machine.bus.subscribe((e) => {
      if (e.type === 'fault') this.cpuFaults++;
      else if (e.type === 'invalidate_start') {
        const name = MMU_NOTIFY_EVENT_NAMES[e.range.event] ?? String(e.range.event);
        this.invalidations[name] = (this.invalidations[name] ?? 0) + 1;
      }
    });
  }

  /** Device pages freed so far on every device. */
  deviceFrees(): number {
    return this.machine.dmirrorDevices.reduce((n, d) => n + d.cfree, 0);
  }

  /** Accounts a device command's result. */
  deviceCommand(op: string, result: { ret: number; cpages: number; faults: number }): void {
    this.deviceCommands++;
    this.deviceFaults += result.faults;
    if (result.ret !== 0) return;
    if (op === 'migrateToDev') this.migratedToDevice += result.cpages;
    else if (op === 'migrateToSys') this.migratedFromDevice += result.cpages;
  }

  /**
   * Runs a CPU access and counts the device pages it brought back (a CPU fault on a
   * device-private page migrates it to RAM and frees the device page).
   */
  async cpuAccess<T>(fn: () => Promise<T>): Promise<T> {
    const before = this.deviceFrees();
    try {
      return await fn();
    } finally {
      this.migratedFromDevice += this.deviceFrees() - before;
    }
  }

  /** The counters now. */
  snapshot(): CounterSnapshot {
    const m = this.machine;
    let resident = 0;
    for (const mm of m.mms) resident += mm.rssPages;
    return {
      cpuFaults: this.cpuFaults,
      invalidations: { ...this.invalidations },
      migratedToDevice: this.migratedToDevice,
      migratedFromDevice: this.migratedFromDevice,
      deviceCommands: this.deviceCommands,
      deviceFaults: this.deviceFaults,
      residentPages: resident,
      devicePages: m.dmirrorDevices.reduce((n, d) => n + d.calloc - d.cfree, 0),
      virtualNs: m.sched.clock.now,
    };
  }

  /** Stops counting. */
  stop(): void {
    this.detach();
  }
}

/** The counters as text lines. */
export function formatCounters(c: CounterSnapshot): string[] {
  const inv = Object.entries(c.invalidations)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return [
    `  virtual time          ${(c.virtualNs / 1000).toFixed(1)} µs`,
    `  CPU faults            ${c.cpuFaults}`,
    `  invalidations         ${inv === '' ? 'none' : inv}`,
    `  device commands       ${c.deviceCommands} (device faults ${c.deviceFaults})`,
    `  migrated to device    ${c.migratedToDevice} pages`,
    `  migrated from device  ${c.migratedFromDevice} pages`,
    `  resident pages        ${c.residentPages} in RAM, ${c.devicePages} in device memory`,
  ];
}

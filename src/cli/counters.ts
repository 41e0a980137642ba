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
  /** Pages device migrations moved into device memory (`kernel.stats.migrate.toDevice`). */
  readonly migratedToDevice: number;
  /**
   * Pages device migrations moved back to RAM (`kernel.stats.migrate.fromDevice`): MIGRATE_TO_SYS,
   * and every migrate_to_ram a CPU fault or another device's hmm_range_fault caused.
   */
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
  deviceCommands = 0;
  deviceFaults = 0;
  private readonly detach: () => void;
  /** The kernel's migration counts when counting began. */
  private readonly migrated0: { readonly toDevice: number; readonly fromDevice: number };

  /** Starts counting the events of `machine`. */
  constructor(readonly machine: Machine) {
    this.migrated0 = { ...machine.stats.migrate };
    this.detach = machine.bus.subscribe((e) => {
      if (e.type === 'fault') this.cpuFaults++;
      else if (e.type === 'invalidate_start') {
        const name = MMU_NOTIFY_EVENT_NAMES[e.range.event] ?? String(e.range.event);
        this.invalidations[name] = (this.invalidations[name] ?? 0) + 1;
      }
    });
  }

  /** Accounts a device command's result. */
  deviceCommand(result: { faults: number }): void {
    this.deviceCommands++;
    this.deviceFaults += result.faults;
  }

  /** Pages moved into device memory since counting began. */
  get migratedToDevice(): number {
    return this.machine.stats.migrate.toDevice - this.migrated0.toDevice;
  }

  /** Pages moved from device memory to RAM since counting began. */
  get migratedFromDevice(): number {
    return this.machine.stats.migrate.fromDevice - this.migrated0.fromDevice;
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

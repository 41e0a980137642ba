/**
 * The simulated machine: the memory manager's global state plus processes, and (as the layers
 * above land) devices.
 * @module
 */
import { Kernel, type KernelOptions } from './mm/kernel.ts';
import { Process } from './mm/process.ts';

/** Options of a {@link Machine}. */
export type MachineOptions = KernelOptions;

/** A simulated machine: RAM, swap, hugetlb pool, scheduler and processes. */
export class Machine extends Kernel {
  /** Processes created on this machine (forked ones included). */
  readonly processes: Process[] = [];

  /** @param options machine size and policy (see {@link KernelOptions}) */
  constructor(options: MachineOptions = {}) {
    super(options);
  }

  /** Creates a process with an empty address space. */
  async createProcess(): Promise<Process> {
    const p = Process.create(this);
    this.processes.push(p);
    return p;
  }
}

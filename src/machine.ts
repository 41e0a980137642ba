/**
 * The simulated machine: the memory manager's global state plus processes and devices.
 * @module
 */
import { DEVMEM_CHUNK_SIZE } from './devices/dmirror/chunk.ts';
import { checkDmirrorCosts, type DmirrorCosts } from './devices/dmirror/cost.ts';
import { DMIRROR_NDEVICES, DmirrorDevice } from './devices/dmirror/device.ts';
import { PMD_SIZE } from './mm/constants.ts';
import { Kernel, type KernelOptions } from './mm/kernel.ts';
import { Process } from './mm/process.ts';
import { UsageError } from './sim/errors.ts';

/** Options of a {@link Machine}. */
export type MachineOptions = KernelOptions;

/** Options of {@link Machine.addDmirrorDevice}. */
export interface DmirrorDeviceOptions {
  /** A device-coherent device (minors 2, 3) rather than device-private (minors 0, 1). Default false. */
  coherent?: boolean;
  /**
   * Bytes of device memory per chunk (a positive multiple of 2 MiB; default DEVMEM_CHUNK_SIZE,
   * 256 MiB, as the kernel module). A simulation knob, not a kernel parameter: a small chunk
   * makes creating the device and evicting its memory on close cheap (the race explorer builds
   * a machine per schedule); more chunks are added on demand as in the kernel.
   */
  chunkSize?: number;
  /** What the device's copies and allocations cost in virtual ns (default 400 per page copied, 100 per allocation). */
  costs?: Partial<DmirrorCosts>;
}

/** A simulated machine: RAM, swap, hugetlb pool, scheduler, processes and devices. */
export class Machine extends Kernel {
  /** Processes created on this machine (forked ones included). */
  readonly processes: Process[] = [];
  /** dmirror devices, in the order they were added. */
  readonly dmirrorDevices: DmirrorDevice[] = [];

  /** @param options machine size and policy (see {@link KernelOptions}) */
  constructor(options: MachineOptions = {}) {
    super(options);
  }

  /** Records a forked child in {@link processes}. */
  override taskForked(child: Process): void {
    this.processes.push(child);
  }

  /** Creates a process with an empty address space (a {@link UsageError} once disposed). */
  async createProcess(): Promise<Process> {
    if (this.disposed) {
      throw new UsageError('createProcess', 'the machine was disposed (dispose() gave its memory back)');
    }
    const p = Process.create(this);
    this.processes.push(p);
    return p;
  }

  /**
   * Adds a dmirror device, like the test module's /dev/hmm_dmirrorN: device-private devices take
   * minors 0 then 1, device-coherent ones minors 2 then 3 (the module's numbering). A third device
   * of one kind is a {@link UsageError}: the module registers at most four.
   */
  addDmirrorDevice(options: DmirrorDeviceOptions = {}): DmirrorDevice {
    if (typeof options !== 'object' || options === null)
      throw new UsageError('addDmirrorDevice(options)', 'must be an object');
    const coherent = options.coherent ?? false;
    if (typeof coherent !== 'boolean')
      throw new UsageError(
        'addDmirrorDevice(options.coherent)',
        `must be a boolean, got ${String(coherent)}`,
      );
    const chunkSize = options.chunkSize ?? DEVMEM_CHUNK_SIZE;
    if (
      typeof chunkSize !== 'number' ||
      !Number.isSafeInteger(chunkSize) ||
      chunkSize <= 0 ||
      chunkSize % PMD_SIZE !== 0
    ) {
      throw new UsageError(
        'addDmirrorDevice(options.chunkSize)',
        `must be a positive multiple of 2 MiB (${PMD_SIZE} bytes), got ${String(chunkSize)}`,
      );
    }
    if (options.costs !== undefined) checkDmirrorCosts('addDmirrorDevice(options.costs)', options.costs);
    const minors = coherent ? [2, 3] : [0, 1];
    const minor = minors.find((m) => !this.dmirrorDevices.some((d) => d.minor === m));
    if (minor === undefined) {
      throw new UsageError(
        'addDmirrorDevice',
        `the dmirror module has ${DMIRROR_NDEVICES} devices: minors ${minors.join(' and ')} (${coherent ? 'device-coherent' : 'device-private'}) already exist`,
      );
    }
    const device = new DmirrorDevice(this, minor, coherent, chunkSize);
    if (options.costs !== undefined) Object.assign(device.costs, options.costs);
    this.dmirrorDevices.push(device);
    return device;
  }

  /** The dmirror device with minor `minor` (/dev/hmm_dmirrorN), or undefined if none was added. */
  dmirrorDevice(minor: number): DmirrorDevice | undefined {
    return this.dmirrorDevices.find((d) => d.minor === minor);
  }
}

/**
 * A dmirror device (`struct dmirror_device` in lib/test_hmm.c), one of /dev/hmm_dmirror0..3:
 * minors 0 and 1 model device-private memory, minors 2 and 3 device-coherent memory. The device
 * object itself is the owner token of everything the device owns: `dev_private_owner` of its
 * faults, and (once device memory exists) the `pgmap->owner` of its memory and the `pgmap_owner`
 * of its migrations. Mirrors are per open file, ownership is per device.
 * @module
 */
import type { Kernel } from '../../mm/kernel.ts';
import { Process } from '../../mm/process.ts';
import { UsageError } from '../../sim/errors.ts';
import { DmirrorFile } from './file.ts';
import { HMM_DMIRROR_MEMORY_DEVICE_COHERENT, HMM_DMIRROR_MEMORY_DEVICE_PRIVATE } from './uapi.ts';

/** `DMIRROR_NDEVICES`: the module registers at most four devices. */
export const DMIRROR_NDEVICES = 4;

/** One simulated dmirror device. Add one with `machine.addDmirrorDevice()`. */
export class DmirrorDevice {
  /** The machine it is plugged into. */
  readonly kernel: Kernel;
  /** Minor number: the N of /dev/hmm_dmirrorN. */
  readonly minor: number;
  /** True for a device-coherent device (minors 2, 3), false for device-private (minors 0, 1). */
  readonly coherent: boolean;
  /** `zone_device_type`: HMM_DMIRROR_MEMORY_DEVICE_PRIVATE or HMM_DMIRROR_MEMORY_DEVICE_COHERENT. */
  readonly zoneDeviceType: number;

  /** @internal use `machine.addDmirrorDevice` */
  constructor(kernel: Kernel, minor: number, coherent: boolean) {
    this.kernel = kernel;
    this.minor = minor;
    this.coherent = coherent;
    this.zoneDeviceType = coherent ? HMM_DMIRROR_MEMORY_DEVICE_COHERENT : HMM_DMIRROR_MEMORY_DEVICE_PRIVATE;
  }

  /** The device's name, `hmm_dmirrorN`. */
  get name(): string {
    return `hmm_dmirror${this.minor}`;
  }

  /**
   * `open("/dev/hmm_dmirrorN")` by `process`: a new file whose device page table mirrors
   * `process`'s address space, installed at its lowest free descriptor.
   */
  async open(process: Process): Promise<DmirrorFile> {
    if (!(process instanceof Process))
      throw new UsageError(`${this.name}.open(process)`, 'must be a Process');
    if (process.kernel !== this.kernel) {
      throw new UsageError(`${this.name}.open(process)`, 'the process belongs to another machine');
    }
    if (process.exited)
      throw new UsageError(`${this.name}.open(process)`, `process ${process.pid} has exited`);
    return DmirrorFile.open(this, process);
  }
}

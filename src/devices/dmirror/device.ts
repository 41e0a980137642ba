/**
 * A dmirror device (`struct dmirror_device` in lib/test_hmm.c), one of /dev/hmm_dmirror0..3:
 * minors 0 and 1 model device-private memory, minors 2 and 3 device-coherent memory. The device
 * object itself is the owner token of everything the device owns: `dev_private_owner` of its
 * faults, the `pgmap->owner` of its memory and the `pgmap_owner` of its migrations. Mirrors are
 * per open file, ownership and device memory are per device: the chunks of ZONE_DEVICE memory,
 * the free lists of single pages and of 2 MiB folios, and the allocation counters.
 * @module
 */
import type { DevPagemapOps } from '../../devmem/memremap.ts';
import { PAGE_SIZE } from '../../mm/constants.ts';
import type { Kernel } from '../../mm/kernel.ts';
import { Process } from '../../mm/process.ts';
import { kernelBug, UsageError } from '../../sim/errors.ts';
import { Mutex } from '../../sim/mutex.ts';
import { DEVMEM_CHUNK_SIZE, type DmirrorChunk, dmirrorDeviceInitChunk } from './chunk.ts';
import { DEFAULT_DMIRROR_COSTS, type DmirrorCosts } from './cost.ts';
import { dmirrorDevmemOps } from './devmem-ops.ts';
import { DmirrorFile } from './file.ts';
import { type DmirrorQuirks, dmirrorQuirks } from './quirks.ts';
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

  /** `devmem_chunks` (its length is `devmem_count`): the device memory, 256 MiB per chunk. */
  devmemChunks: DmirrorChunk[] = [];
  /** `devmem_capacity`: slots of the chunk array, grown DEVMEM_CHUNKS_RESERVE at a time. */
  devmemCapacity = 0;
  /**
   * `dmirror_devmem_ops`, the pagemap ops of every chunk (held here so that chunk creation does
   * not import the ops, which allocate chunks themselves).
   */
  readonly devmemOps: DevPagemapOps = dmirrorDevmemOps;
  /** `devmem_lock`: protects the chunk array (held across a RELEASE's evictions). */
  readonly devmemLock: Mutex;
  /** `calloc`: device pages handed out so far (+512 for a folio). Internal, like the kernel's. */
  calloc = 0;
  /** `cfree`: device pages given back so far (+2^order). Internal, like the kernel's. */
  cfree = 0;
  /**
   * `free_pages`: the first free single page (0 = the list is empty). The list is linked through
   * the free pages' `zone_device_data` word (`pm.private`), as the kernel links it.
   */
  freePages = 0;
  /** `free_folios`: the head of the first free 2 MiB folio (0 = none), linked the same way. */
  freeFolios = 0;

  /**
   * The open files of this device by id. A backing page records which file migrated its device
   * page (the kernel stores the `struct dmirror` pointer in the backing page); the id stands for
   * that pointer.
   */
  readonly mirrors = new Map<number, DmirrorFile>();
  /** Next id for {@link mirrors}. */
  nextMirrorId = 1;
  /**
   * Pages per chunk: DEVMEM_CHUNK_PAGES like the kernel unless the machine asked for smaller
   * chunks (`addDmirrorDevice({ chunkSize })`, a simulation knob that makes devices cheap).
   */
  readonly chunkPages: number;
  /**
   * What this device's copies and allocations cost on the virtual clock (defaults
   * {@link DEFAULT_DMIRROR_COSTS}; `addDmirrorDevice({ costs })` or assign fields to change them).
   */
  readonly costs: DmirrorCosts = { ...DEFAULT_DMIRROR_COSTS };
  /** The driver-side failpoints the machine's mutant turns on (`./quirks.ts`); all false without one. */
  readonly quirks: DmirrorQuirks;

  /** @internal use `machine.addDmirrorDevice` */
  constructor(kernel: Kernel, minor: number, coherent: boolean, chunkSize: number = DEVMEM_CHUNK_SIZE) {
    this.kernel = kernel;
    this.quirks = dmirrorQuirks(kernel.mutant);
    this.chunkPages = chunkSize / PAGE_SIZE;
    this.minor = minor;
    this.coherent = coherent;
    this.zoneDeviceType = coherent ? HMM_DMIRROR_MEMORY_DEVICE_COHERENT : HMM_DMIRROR_MEMORY_DEVICE_PRIVATE;
    this.devmemLock = new Mutex(kernel.sched, `devmem_lock of hmm_dmirror${minor}`);
    // dmirror_device_init: the list of free ZONE_DEVICE pages starts with one chunk.
    const ret = dmirrorDeviceInitChunk(this);
    if (ret !== 0) kernelBug(`${this.name}: dmirror_allocate_chunk failed with ${ret}`);
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

/**
 * An open dmirror device file (`struct dmirror` and `dmirror_fops_*` in lib/test_hmm.c): the
 * device page table mirroring the opener's address space, its mutex, the interval notifier over
 * the whole address space, the fault-injection flags, and the commands (the kernel's ioctls) with
 * the driver's argument checks in the driver's order: device access (READ, WRITE, SNAPSHOT),
 * migration (MIGRATE_TO_DEV, MIGRATE_TO_SYS), exclusive access (EXCLUSIVE, CHECK_EXCLUSIVE),
 * device memory (RELEASE) and fault injection (FLAGS).
 * @module
 */
import { PAGE_SIZE, ULONG_MAX } from '../../mm/constants.ts';
import {
  DEVICE_ACCESS_ATOMIC,
  DEVICE_ACCESS_WRITE,
  type DeviceMirror,
  deviceMirrorRegister,
  deviceMirrorUnregister,
} from '../../mm/device-mirror.ts';
import type { FileOperations } from '../../mm/fdtable.ts';
import type { MmStruct } from '../../mm/mm-struct.ts';
import type { Process } from '../../mm/process.ts';
import { mmuIntervalNotifierInsert, mmuIntervalNotifierRemove } from '../../notifier/interval-notifier.ts';
import { EINVAL } from '../../sim/errno.ts';
import { kernelBug, UsageError } from '../../sim/errors.ts';
import { Mutex } from '../../sim/mutex.ts';
import { dmirrorCheckAtomic } from './check-exclusive.ts';
import { type HmmDmirrorCmd, hmmDmirrorCmd } from './cmd.ts';
import type { DmirrorDevice } from './device.ts';
import { dmirrorBackingPage } from './devmem-alloc.ts';
import { dmirrorDeviceEvictChunk, dmirrorDeviceRemoveChunks } from './evict.ts';
import { dmirrorExclusive } from './exclusive.ts';
import { DmirrorInterval } from './interval.ts';
import { dmirrorMinOps } from './invalidate.ts';
import { dmirrorMigrateToDevice } from './migrate-to-device.ts';
import { dmirrorMigrateToSystem } from './migrate-to-system.ts';
import { dmirrorFopsMmap } from './mmap.ts';
import { DmirrorPt, DPT_XA_TAG_ATOMIC, DPT_XA_TAG_WRITE, xaPointerTag, xaUntagPointer } from './pt.ts';
import { dmirrorRead, dmirrorReadUnlocked, dmirrorWrite } from './read-write.ts';
import { dmirrorSnapshot } from './snapshot.ts';
import type { DmirrorDataResult, DmirrorResult, DmirrorSnapshotResult } from './uapi.ts';

/**
 * Length of the main notifier's interval: `ULONG_MAX & PAGE_MASK` from address 0, the whole
 * address space (2^64 − 4096 is exact as a double).
 */
export const DMIRROR_NOTIFIER_LENGTH = 2 ** 64 - PAGE_SIZE;

/** 2^64 − 1, for the command checks done in 64-bit arithmetic. */
const U64_MAX = (1n << 64n) - 1n;

/** What an erroneous command returns in place of data: nothing valid. */
const NOTHING = new Uint8Array(0);

/**
 * One open file of a dmirror device. Create it with {@link DmirrorDevice.open}; it mirrors the
 * address space of the process that opened it (also after that process forks). It is the
 * {@link DeviceMirror} of its device page table, registered from open to release, through which
 * the race explorer's oracles check it like any other driver's mirror.
 */
export class DmirrorFile implements DeviceMirror {
  /** `mdevice`: the device; its identity is the owner token of its memory and faults. */
  readonly mdevice: DmirrorDevice;
  /** The process that opened the file; its mm is the one mirrored. */
  readonly process: Process;
  /** `pt`: the device page table (virtual page number → pfn and tag). */
  readonly pt = new DmirrorPt();
  /** `notifier`: the interval subscription over the whole mirrored address space. */
  readonly notifier: DmirrorInterval;
  /** `mutex`: protects `pt` and orders commits against invalidations. */
  readonly mutex: Mutex;
  /** `flags`: fault injection (HMM_DMIRROR_FLAG_*), set by {@link setFlags}. */
  flags = 0;
  /** The descriptor the file occupies in {@link process} (map it with `process.mmap(…, fd, 0)`). */
  fd = -1;
  /** The file operations installed in the descriptor table (mmap, release). */
  readonly fops: FileOperations;
  /**
   * Identity of this file within its device: what a backing page records for the file that
   * migrated it (the kernel stores the `struct dmirror` pointer there).
   */
  readonly id: number;
  private released = false;
  /** The driver reports every commit (`mirrorUpdate`): the oracles check after changes only. */
  readonly reportsUpdates = true;

  /** @internal use {@link DmirrorDevice.open} */
  constructor(mdevice: DmirrorDevice, process: Process) {
    this.mdevice = mdevice;
    this.process = process;
    this.id = mdevice.nextMirrorId++;
    mdevice.mirrors.set(this.id, this);
    this.notifier = new DmirrorInterval(this);
    this.mutex = new Mutex(process.kernel.sched, `dmirror mutex of ${mdevice.name} (pid ${process.pid})`);
    this.fops = {
      name: mdevice.name,
      mmap: (vma) => dmirrorFopsMmap(vma),
      release: () => this.fopsRelease(),
    };
  }

  /**
   * `dmirror_fops_open`: registers the notifier over the whole address space of `process`'s mm,
   * then installs the file at the lowest free descriptor of `process`.
   * @internal use {@link DmirrorDevice.open}
   */
  static async open(mdevice: DmirrorDevice, process: Process): Promise<DmirrorFile> {
    const dmirror = new DmirrorFile(mdevice, process);
    const ret = await mmuIntervalNotifierInsert(
      dmirror.notifier,
      process.mm,
      0,
      DMIRROR_NOTIFIER_LENGTH,
      dmirrorMinOps,
    );
    if (ret !== 0) kernelBug(`mmu_interval_notifier_insert failed with ${ret}`);
    dmirror.fd = process.openDevice(dmirror.fops);
    deviceMirrorRegister(process.kernel, dmirror);
    return dmirror;
  }

  /** `hmm_dmirror0 (file 1 of pid 3)`: how reports name this mirror. */
  get name(): string {
    return `${this.mdevice.name} (file ${this.id} of pid ${this.process.pid})`;
  }

  /** The device: the owner token of its device-private memory. */
  get owner(): unknown {
    return this.mdevice;
  }

  /**
   * Every entry of the device page table: READ, WRITE or ATOMIC (DeviceMirror contract). None
   * once release began: no command can reach the device through a released file.
   */
  forEachTranslation(visit: (vpn: number, pfn: number, access: number) => void): void {
    if (this.released) return;
    this.pt.forEach((entry, vpn) => {
      const tag = xaPointerTag(entry);
      visit(
        vpn,
        xaUntagPointer(entry),
        tag === DPT_XA_TAG_WRITE ? DEVICE_ACCESS_WRITE : tag === DPT_XA_TAG_ATOMIC ? DEVICE_ACCESS_ATOMIC : 0,
      );
    });
  }

  /** The device reaches a device-private page of its own through the page's backing page. */
  devicePrivatePfn(pfn: number): number {
    return dmirrorBackingPage(this.mdevice.kernel, pfn);
  }

  /** The mirrored address space (the mm of the opening process). */
  get mm(): MmStruct {
    return this.process.mm;
  }

  /** True once the last descriptor went and the driver state was torn down. */
  get isReleased(): boolean {
    return this.released;
  }

  /**
   * READ: the device reads `npages` pages at `addr` through its page table, faulting in what is
   * missing. `data` holds the bytes on success (empty on error). Errors: -EINVAL (arguments),
   * -EFAULT (a page without a VMA, or unreadable, or VM_IO/VM_PFNMAP), -EBUSY (1 s of retries),
   * -ENOMEM. As in the kernel, a READ after the mirrored mm has gone (the file kept open by a
   * forked child) never ends: the fault helper quietly does nothing and the copy keeps missing.
   */
  async read(addr: number, npages: number): Promise<DmirrorDataResult> {
    const cmd = this.cmdIn('read', addr, npages, null);
    const ret = typeof cmd === 'number' ? cmd : await dmirrorRead(this, cmd);
    return { ...this.result(ret, cmd), data: ret === 0 ? (cmd as HmmDmirrorCmd).ptr! : NOTHING };
  }

  /**
   * READ_UNLOCKED (HMM_DMIRROR_READ_UNLOCKED, 0x09, from the 2026 lock-drop series): as
   * {@link read}, but missing pages are faulted through `hmm_range_fault_unlocked_timeout` with
   * no timeout, so a fault may drop the mmap lock and wait (userfaultfd-registered memory).
   * Errors as {@link read} (never -EBUSY: it retries for ever), and -EFAULT once the mirrored mm
   * has gone.
   */
  async readUnlocked(addr: number, npages: number): Promise<DmirrorDataResult> {
    const cmd = this.cmdIn('readUnlocked', addr, npages, null);
    const ret = typeof cmd === 'number' ? cmd : await dmirrorReadUnlocked(this, cmd, 0);
    return { ...this.result(ret, cmd), data: ret === 0 ? (cmd as HmmDmirrorCmd).ptr! : NOTHING };
  }

  /**
   * WRITE: the device writes the first `npages` pages of `data` at `addr`, faulting pages in
   * writable. Errors as {@link read}, plus -EPERM (a VMA without write permission) and -EFAULT
   * when `data` is shorter than `npages` pages. Like {@link read}, it never ends once the mirrored
   * mm has gone.
   */
  async write(addr: number, npages: number, data: Uint8Array): Promise<DmirrorResult> {
    if (!(data instanceof Uint8Array))
      throw new UsageError('DmirrorFile.write(data)', 'must be a Uint8Array');
    const cmd = this.cmdIn('write', addr, npages, data);
    const ret = typeof cmd === 'number' ? cmd : await dmirrorWrite(this, cmd);
    return this.result(ret, cmd);
  }

  /**
   * SNAPSHOT: one HMM_DMIRROR_PROT_* byte per page of `npages` pages at `addr`, read from the CPU
   * page tables without faulting. `prot` holds the bytes on success (empty on error).
   */
  async snapshot(addr: number, npages: number): Promise<DmirrorSnapshotResult> {
    const cmd = this.cmdIn('snapshot', addr, npages, null);
    const ret = typeof cmd === 'number' ? cmd : await dmirrorSnapshot(this, cmd);
    return { ...this.result(ret, cmd), prot: ret === 0 ? (cmd as HmmDmirrorCmd).ptr! : NOTHING };
  }

  /**
   * MIGRATE_TO_DEV: moves the system memory of `npages` pages at `addr` to device memory (whole
   * 2 MiB THPs and empty 2 MiB holes as device folios), maps it in this file's device page table,
   * and reads the range back through it without faulting. `data` holds the bytes and `cpages` the
   * pages read (every page of the range) on success. Errors: -EINVAL (arguments; an address
   * without a VMA or with an unreadable one; hugetlb or special VMAs; the mm has gone), -ENOENT
   * (a page is not mapped by this file afterwards: shared or file pages, pages on another
   * device), -ENOMEM.
   */
  async migrateToDev(addr: number, npages: number): Promise<DmirrorDataResult> {
    const cmd = this.cmdIn('migrateToDev', addr, npages, null);
    const ret = typeof cmd === 'number' ? cmd : await dmirrorMigrateToDevice(this, cmd);
    const contents = ret === 0 ? (cmd as HmmDmirrorCmd).contents : undefined;
    if (contents === undefined)
      return { ...this.result(ret, cmd), data: ret === 0 ? (cmd as HmmDmirrorCmd).ptr! : NOTHING };
    // `data` is built from the snapshot the first time it is read.
    const result = this.result(ret, cmd) as DmirrorDataResult;
    Object.defineProperty(result, 'data', {
      enumerable: true,
      configurable: true,
      get: () => contents.bytes(),
    });
    return result;
  }

  /**
   * MIGRATE_TO_SYS: moves this device's pages among `npages` pages at `addr` back to system
   * memory. `cpages` counts the pages (a 2 MiB device folio that moved whole counts once) on
   * success. Errors: -EINVAL (arguments, no readable VMA, the mm has gone), -ENOMEM.
   */
  async migrateToSys(addr: number, npages: number): Promise<DmirrorResult> {
    const cmd = this.cmdIn('migrateToSys', addr, npages, null);
    const ret = typeof cmd === 'number' ? cmd : await dmirrorMigrateToSystem(this, cmd);
    return this.result(ret, cmd);
  }

  /**
   * EXCLUSIVE: takes exclusive (atomic) access to each of `npages` pages at `addr` (each becomes a
   * device-exclusive entry in the CPU page table until the CPU touches it), then reads the range
   * back. `data` holds the bytes on success. Errors: -EINVAL (arguments, the mm has gone),
   * -EOPNOTSUPP (a page that is not anonymous), a fault error (-EFAULT…), -ENOENT.
   */
  async exclusive(addr: number, npages: number): Promise<DmirrorDataResult> {
    const cmd = this.cmdIn('exclusive', addr, npages, null);
    const ret = typeof cmd === 'number' ? cmd : await dmirrorExclusive(this, cmd);
    return { ...this.result(ret, cmd), data: ret === 0 ? (cmd as HmmDmirrorCmd).ptr! : NOTHING };
  }

  /**
   * RELEASE: the device gives up all its memory — every page of every chunk goes back to system
   * memory (whoever migrated it) and the chunks are unmapped; new ones are made on demand. Always
   * 0 once the arguments pass the usual checks (they are not otherwise used; the defaults pass).
   */
  async release(addr = 0, npages = 1): Promise<DmirrorResult> {
    const cmd = this.cmdIn('release', addr, npages, null);
    if (typeof cmd === 'number') return this.result(cmd, cmd);
    await dmirrorDeviceRemoveChunks(this.mdevice);
    return this.result(0, cmd);
  }

  /**
   * CHECK_EXCLUSIVE: -EPERM while the device still holds exclusive (atomic) access to a page of
   * the range, else 0. Produces no outputs.
   */
  async checkExclusive(addr: number, npages: number): Promise<DmirrorResult> {
    const cmd = this.cmdIn('checkExclusive', addr, npages, null);
    const ret =
      typeof cmd === 'number' ? cmd : dmirrorCheckAtomic(this, cmd.addr, cmd.addr + cmd.npages * PAGE_SIZE);
    return this.result(ret, cmd);
  }

  /**
   * FLAGS: sets this file's fault-injection flags (HMM_DMIRROR_FLAG_*). The value travels in the
   * command's page count, so 0 fails the driver's range check with -EINVAL: flags cannot be
   * cleared (FAIL_ALLOC is one-shot anyway). The command's address is 0 here.
   */
  async setFlags(flags: number): Promise<DmirrorResult> {
    const cmd = this.cmdIn('setFlags', 0, flags, null);
    if (typeof cmd !== 'number') this.flags = cmd.npages;
    return this.result(typeof cmd === 'number' ? cmd : 0, cmd);
  }

  /**
   * `close(2)` of the descriptor in the opening process. When it was the last descriptor of the
   * file (none inherited by a fork remains), the driver's release runs: the notifier is removed,
   * every chunk of the device is evicted (all its pages go back to system memory, whoever
   * migrated them) and the device page table destroyed.
   */
  async close(): Promise<void> {
    const open = this.process.fds.get(this.fd);
    if (open === undefined || open.fops !== this.fops) {
      throw new UsageError(
        'DmirrorFile.close',
        `descriptor ${this.fd} of process ${this.process.pid} is not open`,
      );
    }
    await this.process.close(this.fd);
  }

  /** `dmirror_fops_release`: the last reference to the open file went away. */
  private async fopsRelease(): Promise<void> {
    this.released = true;
    await mmuIntervalNotifierRemove(this.notifier);
    // Newest driver: closing any file of the device evicts all of the device's memory.
    for (const chunk of [...this.mdevice.devmemChunks]) await dmirrorDeviceEvictChunk(chunk);
    this.pt.clear();
    deviceMirrorUnregister(this.process.kernel, this);
    this.mdevice.mirrors.delete(this.id);
  }

  /**
   * `dmirror_fops_unlocked_ioctl`'s checks, in its order: the file has no driver state (released)
   * → -EINVAL; `addr` not page aligned → -EINVAL; `addr + (npages << PAGE_SHIFT)` not strictly
   * above `addr` in 64-bit arithmetic (`npages` 0, or wrap-around) → -EINVAL. Then the outputs
   * are zeroed. Non-integer arguments are programming errors and throw.
   */
  private cmdIn(name: string, addr: number, npages: number, ptr: Uint8Array | null): HmmDmirrorCmd | number {
    checkU64(`DmirrorFile.${name}(addr)`, addr);
    checkU64(`DmirrorFile.${name}(${name === 'setFlags' ? 'flags' : 'npages'})`, npages);
    if (this.process.kernel.bus.on) this.traceCmd('B', CMD_NAMES[name] ?? name, { addr, npages });
    if (this.released) return -EINVAL;
    if (addr % PAGE_SIZE !== 0) return -EINVAL;
    const a = toU64(addr);
    if (a >= ((a + (toU64(npages) << 12n)) & U64_MAX)) return -EINVAL;
    return hmmDmirrorCmd(addr, ptr, npages);
  }

  /**
   * The command's span on the device's track: B when the command starts (named as the ioctl), E
   * (empty name: the innermost span of this thread there) with the result record.
   */
  private traceCmd(phase: 'B' | 'E', name: string, args: Record<string, unknown>): void {
    const k = this.process.kernel;
    k.bus.emit({
      type: 'span',
      time: k.sched.clock.now,
      thread: k.sched.current.name,
      phase,
      name,
      args: phase === 'B' ? { ...args, pid: this.process.pid } : args,
      track: this.mdevice.name,
    });
  }

  /** The result record: outputs only when the command succeeded (copy_to_user of the struct). */
  private result(ret: number, cmd: HmmDmirrorCmd | number): DmirrorResult {
    if (this.process.kernel.bus.on) {
      const ok = ret === 0 && typeof cmd !== 'number';
      this.traceCmd('E', '', { ret, cpages: ok ? cmd.cpages : 0, faults: ok ? cmd.faults : 0 });
    }
    if (ret !== 0 || typeof cmd === 'number') return { ret, cpages: 0, faults: 0 };
    return { ret, cpages: cmd.cpages, faults: cmd.faults };
  }
}

/** The commands' names in traces: the driver's ioctls without the HMM_DMIRROR_ prefix. */
const CMD_NAMES: Record<string, string> = {
  read: 'READ',
  write: 'WRITE',
  snapshot: 'SNAPSHOT',
  migrateToDev: 'MIGRATE_TO_DEV',
  migrateToSys: 'MIGRATE_TO_SYS',
  exclusive: 'EXCLUSIVE',
  release: 'RELEASE',
  checkExclusive: 'CHECK_EXCLUSIVE',
  setFlags: 'FLAGS',
  readUnlocked: 'READ_UNLOCKED',
};

/** A number as a u64 (ULONG_MAX, which rounds to 2^64 as a double, stands for 2^64 − 1). */
function toU64(x: number): bigint {
  return x >= ULONG_MAX ? U64_MAX : BigInt(x);
}

function checkU64(what: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > ULONG_MAX) {
    throw new UsageError(what, `must be an integer between 0 and ULONG_MAX, got ${String(v)}`);
  }
}

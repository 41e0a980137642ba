/**
 * A simulated process: an address space plus descriptors, with the system calls of the API
 * contract (raw Linux semantics: a result or a negative errno) and CPU accesses that fault like
 * a CPU does.
 * @module
 */

import { EBADF, EINVAL, ENODEV, ENOSPC, EOPNOTSUPP } from '../sim/errno.ts';
import { SyscallError, UsageError } from '../sim/errors.ts';
import { cpuLoad32, cpuRead, cpuStore32, cpuWrite, cpuWriteFrom } from './access.ts';
import { PAGE_SIZE } from './constants.ts';
import { mmput } from './exit.ts';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, fallocateModeCheck, punchHole } from './fallocate.ts';
import type { FileOperations, OpenFile } from './fdtable.ts';
import { filemapRead, filemapWrite, getFilePage } from './filemap.ts';
import { dupMmap } from './fork.ts';
import { hugetlbOrderOfSizeLog } from './hugetlb.ts';
import {
  hugetlbfsAllocate,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  MFD_HUGE_SHIFT,
  MFD_HUGETLB,
} from './hugetlbfs.ts';
import type { Kernel } from './kernel.ts';
import { doMadvise, madviseNeedsWriteLock } from './madvise.ts';
import { MemCgroup } from './memcontrol.ts';
import type { MmStruct } from './mm-struct.ts';
import { doMmap, doMunmap, mmPopulate, munmapRange, wantsPopulate } from './mmap.ts';
import { doMprotect } from './mprotect.ts';
import { doMremap } from './mremap.ts';
import { Userfaultfd } from './userfaultfd.ts';
import { fileRelease } from './vma-ops.ts';

/** A process of the simulated machine. */
export class Process {
  /** Process id. */
  readonly pid: number;
  /** Its address space. */
  readonly mm: MmStruct;
  /** The machine. */
  readonly kernel: Kernel;
  /** Open descriptors. */
  readonly fds = new Map<number, OpenFile>();
  /** True after `exit`. */
  exited = false;

  /** @internal use `Machine.createProcess` or `fork` */
  constructor(kernel: Kernel, mm: MmStruct) {
    this.kernel = kernel;
    this.mm = mm;
    this.pid = mm.id;
  }

  /** Creates a process with an empty address space. */
  static create(kernel: Kernel): Process {
    return new Process(kernel, kernel.newMm());
  }

  /** `mmap(2)`: the mapped address, or -errno. */
  async mmap(
    addr: number,
    length: number,
    prot: number,
    flags: number,
    fd: number,
    offset: number,
  ): Promise<number> {
    this.check('mmap', { addr, length, prot, flags, fd, offset });
    const mm = this.mm;
    const observed = this.kernel.observer !== null;
    if (observed) this.observeBegin('mmap', [addr, length, prot, flags, fd, offset]);
    await mm.mmapLock.downWrite();
    let r: number;
    try {
      r = await doMmap(mm, addr, length, prot, flags, () => this.fds.get(fd), offset);
    } finally {
      mm.mmapLock.upWrite();
    }
    if (r >= 0 && wantsPopulate(flags)) {
      await mm.mmapLock.downRead();
      try {
        await mmPopulate(mm, r, length);
      } finally {
        mm.mmapLock.upRead();
      }
    }
    this.traceSyscall('mmap', [addr, length, prot, flags, fd, offset], r);
    if (observed) this.observeEnd('mmap', [addr, length, prot, flags, fd, offset], r);
    return r;
  }

  /** `munmap(2)`: 0 or -errno. */
  async munmap(addr: number, length: number): Promise<number> {
    this.check('munmap', { addr, length });
    const end = munmapRange(addr, length);
    if (end < 0) return this.traceSyscall('munmap', [addr, length], end);
    const observed = this.kernel.observer !== null;
    if (observed) this.observeBegin('munmap', [addr, length]);
    await this.mm.mmapLock.downWrite();
    let r = -EINVAL;
    try {
      r = this.traceSyscall('munmap', [addr, length], await doMunmap(this.mm, addr, end));
    } finally {
      this.mm.mmapLock.upWrite();
      if (observed) this.observeEnd('munmap', [addr, length], r);
    }
    return r;
  }

  /** `mprotect(2)`: 0 or -errno. */
  async mprotect(addr: number, length: number, prot: number): Promise<number> {
    this.check('mprotect', { addr, length, prot });
    await this.mm.mmapLock.downWrite();
    try {
      return this.traceSyscall(
        'mprotect',
        [addr, length, prot],
        await doMprotect(this.mm, addr, length, prot),
      );
    } finally {
      this.mm.mmapLock.upWrite();
    }
  }

  /** `madvise(2)`: 0 or -errno. */
  async madvise(addr: number, length: number, advice: number): Promise<number> {
    this.check('madvise', { addr, length, advice });
    const write = madviseNeedsWriteLock(advice);
    const lock = this.mm.mmapLock;
    const observed = this.kernel.observer !== null;
    if (observed) this.observeBegin('madvise', [addr, length, advice]);
    if (write) await lock.downWrite();
    else await lock.downRead();
    let r = -EINVAL;
    try {
      r = this.traceSyscall(
        'madvise',
        [addr, length, advice],
        await doMadvise(this.mm, addr, length, advice),
      );
    } finally {
      if (write) lock.upWrite();
      else lock.upRead();
      if (observed) this.observeEnd('madvise', [addr, length, advice], r);
    }
    return r;
  }

  /** `mremap(2)`: the new address or -errno. */
  async mremap(
    oldAddr: number,
    oldSize: number,
    newSize: number,
    flags: number,
    newAddr = 0,
  ): Promise<number> {
    this.check('mremap', { oldAddr, oldSize, newSize, flags, newAddr });
    const observed = this.kernel.observer !== null;
    if (observed) this.observeBegin('mremap', [oldAddr, oldSize, newSize, flags, newAddr]);
    await this.mm.mmapLock.downWrite();
    let r = -EINVAL;
    try {
      r = this.traceSyscall(
        'mremap',
        [oldAddr, oldSize, newSize, flags, newAddr],
        await doMremap(this.mm, oldAddr, oldSize, newSize, flags, newAddr),
      );
    } finally {
      this.mm.mmapLock.upWrite();
      if (observed) this.observeEnd('mremap', [oldAddr, oldSize, newSize, flags, newAddr], r);
    }
    return r;
  }

  /**
   * Moves the process into memory cgroup `group` (writing its pid to `cgroup.procs`; null: out of
   * every group). Pages already charged stay with their group (cgroup v2 does not move charges);
   * new pages are charged to `group`.
   */
  joinMemCgroup(group: MemCgroup | null): void {
    if (group !== null && !(group instanceof MemCgroup))
      throw new UsageError('joinMemCgroup(group)', 'must be a MemCgroup or null');
    if (group !== null && this.kernel.memcg?.groups[group.id] !== group)
      throw new UsageError('joinMemCgroup(group)', `group ${group.name} belongs to another machine`);
    this.mm.memcg = group;
  }

  /**
   * `fork(2)`: the child process (its address space a copy-on-write copy of this one). Throws
   * {@link SyscallError} with ENOMEM when the copy needs memory that is not there.
   */
  async fork(): Promise<Process> {
    this.check('fork', {});
    const k = this.kernel;
    const parent = this.mm;
    const observed = k.observer !== null;
    if (observed) this.observeBegin('fork', []);
    await parent.mmapLock.downWrite();
    let child: Process;
    let r: number;
    try {
      child = new Process(k, k.newMm());
      child.mm.memcg = parent.memcg; // a child starts in its parent's cgroup
      r = await dupMmap(parent, child.mm);
    } finally {
      parent.mmapLock.upWrite();
    }
    if (r < 0) {
      // copy_process fails: the half-built child address space is torn down (mmput).
      await mmput(child.mm);
      this.traceSyscall('fork', [], r);
      if (observed) this.observeEnd('fork', [], r);
      throw new SyscallError(
        'fork',
        -r,
        'no memory to copy the address space (a pinned page must be copied)',
      );
    }
    for (const [fd, open] of this.fds) {
      open.refs++;
      if (open.file !== null) open.file.refs++;
      child.fds.set(fd, open);
    }
    k.taskForked(child);
    this.traceSyscall('fork', [], child.pid);
    if (observed) {
      const o = k.observer;
      if (o?.forked) o.forked(parent, child.mm);
      this.observeEnd('fork', [], child.pid);
    }
    return child;
  }

  /** `exit(2)`: the address space goes (once no one else holds it), then the descriptors. */
  async exit(): Promise<void> {
    this.check('exit', {});
    this.exited = true;
    const observed = this.kernel.observer !== null;
    if (observed) this.observeBegin('exit', []);
    await mmput(this.mm);
    for (const fd of [...this.fds.keys()]) await this.close(fd);
    this.traceSyscall('exit', [], 0);
    if (observed) this.observeEnd('exit', [], 0);
  }

  /**
   * An unnamed temporary file of `size` bytes (`open(O_TMPFILE)` + `ftruncate`); returns its fd.
   * On a disk file system by default; with `tmpfs`, a tmpfs (shmem) file, whose shared writable
   * mappings need no write notification and so map pages writable at once (vm_page_prot).
   */
  async createTmpFile(size: number, tmpfs = false): Promise<number> {
    this.check('createTmpFile', { size });
    const file = this.kernel.newFile(size, tmpfs === true);
    file.refs++;
    return this.installFd({ file, fops: null, refs: 1 });
  }

  /**
   * `memfd_create(2)`: a new, empty anonymous file; returns its fd. A tmpfs (shmem) file, or with
   * `MFD_HUGETLB` a hugetlbfs file of huge pages of the size the bits from `MFD_HUGE_SHIFT` name:
   * 2 MiB (also for no bits: the default) or 1 GiB; any other size -ENODEV, as a kernel without
   * that hstate. -EINVAL for unknown flags or size bits without `MFD_HUGETLB`.
   */
  async memfdCreate(flags: number): Promise<number> {
    this.check('memfdCreate', { flags });
    const sizeLog = flags >>> MFD_HUGE_SHIFT;
    const rest = flags & ((1 << MFD_HUGE_SHIFT) - 1);
    let r: number;
    if ((rest & ~(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB)) !== 0) r = -EINVAL;
    else if ((rest & MFD_HUGETLB) === 0 && sizeLog !== 0) r = -EINVAL;
    else if ((rest & MFD_HUGETLB) !== 0 && hugetlbOrderOfSizeLog(sizeLog) < 0) r = -ENODEV;
    else {
      const hugetlb = (rest & MFD_HUGETLB) !== 0;
      const file = this.kernel.newFile(0, !hugetlb, hugetlb, hugetlb ? hugetlbOrderOfSizeLog(sizeLog) : 9);
      file.refs++;
      r = this.installFd({ file, fops: null, refs: 1 });
    }
    return this.traceSyscall('memfdCreate', [flags], r);
  }

  /**
   * `fallocate(2)`: allocates `[offset, offset + len)` of the file at `fd` and grows the file to
   * cover it (not with FALLOC_FL_KEEP_SIZE), or with FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
   * deallocates it (src/mm/fallocate.ts). A hugetlbfs file puts zeroed huge pages in its page
   * cache (-ENOSPC when the pool has none free), a tmpfs file zeroed pages (-ENOSPC without
   * memory); a disk file only grows (its blocks are not modelled, nor its other modes:
   * -EOPNOTSUPP). -EBADF, -ENODEV (not a file), -EINVAL (negative offset or length not
   * positive), and `vfs_fallocate`'s and shmem's answers to other modes (-EOPNOTSUPP, -EINVAL).
   */
  async fallocate(fd: number, mode: number, offset: number, len: number): Promise<number> {
    this.check('fallocate', { fd, mode, offset, len });
    const open = this.fds.get(fd);
    const file = open?.file ?? null;
    let r = 0;
    if (open === undefined) r = -EBADF;
    else if (file === null) r = -ENODEV;
    else if (offset < 0 || len <= 0) r = -EINVAL;
    else if (!file.shmem && !file.hugetlb) {
      if (mode !== 0) r = -EOPNOTSUPP;
      else if (offset + len > file.size) file.size = offset + len;
    } else if (fallocateModeCheck(mode) !== 0) r = fallocateModeCheck(mode);
    else if ((mode & FALLOC_FL_PUNCH_HOLE) !== 0) await punchHole(this.kernel, file, offset, len);
    else {
      if (file.hugetlb) r = hugetlbfsAllocate(this.kernel, file, offset, len);
      else
        for (let i = Math.floor(offset / PAGE_SIZE); i < Math.ceil((offset + len) / PAGE_SIZE); i++)
          if (getFilePage(this.kernel, file, i, this.mm) === 0) {
            r = -ENOSPC;
            break;
          }
      if (r === 0 && (mode & FALLOC_FL_KEEP_SIZE) === 0 && offset + len > file.size) file.size = offset + len;
    }
    return this.traceSyscall('fallocate', [fd, mode, offset, len], r);
  }

  /**
   * `pread(2)`: reads into `buf` from byte `offset` of the regular file at `fd`; the bytes read
   * (0 at end of file), or -EBADF, or -EINVAL (a device file, a negative offset).
   */
  async pread(fd: number, buf: Uint8Array, offset: number): Promise<number> {
    this.check('pread', { fd, offset });
    if (!(buf instanceof Uint8Array)) throw new UsageError('pread(buf)', 'buf must be a Uint8Array');
    const open = this.fds.get(fd);
    if (open === undefined) return this.traceSyscall('pread', [fd, buf.length, offset], -EBADF);
    if (open.file === null || offset < 0)
      return this.traceSyscall('pread', [fd, buf.length, offset], -EINVAL);
    const r = filemapRead(this.kernel, open.file, offset, buf);
    return this.traceSyscall('pread', [fd, buf.length, offset], r);
  }

  /**
   * `pwrite(2)`: writes `buf` at byte `offset` of the regular file at `fd` (through the page
   * cache, so shared mappings see it at once); the bytes written, or -EBADF, -EINVAL, -ENOMEM.
   */
  async pwrite(fd: number, buf: Uint8Array, offset: number): Promise<number> {
    this.check('pwrite', { fd, offset });
    if (!(buf instanceof Uint8Array)) throw new UsageError('pwrite(buf)', 'buf must be a Uint8Array');
    const open = this.fds.get(fd);
    if (open === undefined) return this.traceSyscall('pwrite', [fd, buf.length, offset], -EBADF);
    if (open.file === null || offset < 0)
      return this.traceSyscall('pwrite', [fd, buf.length, offset], -EINVAL);
    const r = filemapWrite(this.kernel, open.file, offset, buf, this.mm);
    return this.traceSyscall('pwrite', [fd, buf.length, offset], r);
  }

  /** Installs an open file at the lowest free descriptor ≥ 3 and returns it. */
  installFd(open: OpenFile): number {
    let fd = 3;
    while (this.fds.has(fd)) fd++;
    this.fds.set(fd, open);
    return fd;
  }

  /**
   * `userfaultfd(2)`: a new userfaultfd context for this address space, installed at a descriptor
   * (`uffd.fd`; closing it releases the context: its ranges are unregistered and waiting faults
   * retry without it). Call `uffd.api(UFFD_API)` first, as with UFFDIO_API.
   */
  userfaultfd(): Userfaultfd {
    this.checkLive('userfaultfd');
    const uffd = new Userfaultfd(this.mm);
    uffd.fd = this.installFd({
      file: null,
      fops: { name: 'userfaultfd', release: () => uffd.release() },
      refs: 1,
    });
    return uffd;
  }

  /** Opens a device file driven by `fops` (what `open("/dev/…")` does); returns the fd. */
  openDevice(fops: FileOperations): number {
    return this.installFd({ file: null, fops, refs: 1 });
  }

  /** `close(2)`: 0 or -EBADF. The driver's release runs when the last descriptor goes. */
  async close(fd: number): Promise<number> {
    const open = this.fds.get(fd);
    if (open === undefined) return -EBADF;
    this.fds.delete(fd);
    if (open.file !== null) fileRelease(this.mm, open.file);
    if (--open.refs === 0 && open.fops?.release) await open.fops.release();
    return 0;
  }

  /** Reads memory as the CPU would (faults; SIGSEGV/SIGBUS throw). */
  async read(addr: number, length: number): Promise<Uint8Array> {
    this.checkLive('read');
    checkAddress('read', addr);
    checkInteger('read', 'length', length);
    if (length < 0) throw new UsageError('read(length)', `must not be negative, got ${length}`);
    return cpuRead(this.mm, addr, length);
  }

  /** Writes memory as the CPU would. */
  async write(addr: number, data: Uint8Array): Promise<void> {
    this.checkLive('write');
    checkAddress('write', addr);
    if (!(data instanceof Uint8Array)) throw new UsageError('write(data)', 'data must be a Uint8Array');
    return cpuWrite(this.mm, addr, data);
  }

  /**
   * Writes `length` bytes as the CPU would, made a page at a time by `produce(dst, done, n)` (bytes
   * `done..done+n` of the data into `dst[0..n)`; `dst` is reused, so keep no reference to it): the
   * same faults and effects as {@link write} of all the bytes, without holding them all at once.
   */
  async writeFrom(
    addr: number,
    length: number,
    produce: (dst: Uint8Array, done: number, n: number) => void,
  ): Promise<void> {
    this.checkLive('write');
    checkAddress('write', addr);
    checkInteger('write', 'length', length);
    if (length < 0) throw new UsageError('write(length)', `must not be negative, got ${length}`);
    return cpuWriteFrom(this.mm, addr, length, produce);
  }

  /** Loads a little-endian unsigned 32-bit value. */
  async load32(addr: number): Promise<number> {
    this.checkLive('load32');
    checkAddress('load32', addr);
    return cpuLoad32(this.mm, addr);
  }

  /** Stores a little-endian 32-bit value. */
  async store32(addr: number, value: number): Promise<void> {
    this.checkLive('store32');
    checkAddress('store32', addr);
    checkInteger('store32', 'value', value);
    // A u32 (or the bits of an s32): C would truncate a wider value silently; here it is a mistake.
    if (value < -(2 ** 31) || value >= 2 ** 32) {
      throw new UsageError('store32(value)', `must fit in 32 bits (-2^31 ≤ value < 2^32), got ${value}`);
    }
    const f = cpuStore32(this.mm, addr, value >>> 0);
    if (f) await f;
  }

  private check(call: string, args: Record<string, number>): void {
    this.checkLive(call);
    for (const name in args) checkInteger(call, name, args[name]);
  }

  private checkLive(call: string): void {
    if (this.exited) throw new UsageError(`${call}`, `process ${this.pid} has exited`);
  }

  /** Tells the machine's observer (oracles) that a system call begins. */
  private observeBegin(name: string, args: readonly number[]): void {
    const o = this.kernel.observer;
    if (o?.syscallBegin) o.syscallBegin(this.mm, name, args);
  }

  /** Tells the machine's observer (oracles) that a system call returned `result`. */
  private observeEnd(name: string, args: readonly number[], result: number): void {
    const o = this.kernel.observer;
    if (o?.syscallEnd) o.syscallEnd(this.mm, name, args, result);
  }

  private traceSyscall(name: string, args: readonly number[], result: number): number {
    const k = this.kernel;
    if (k.bus.on)
      k.bus.emit({
        type: 'syscall',
        time: k.sched.clock.now,
        thread: k.sched.current.name,
        mm: this.mm.id,
        name,
        args,
        result,
      });
    return result;
  }
}

/**
 * Throws the UsageError for an address that is not a non-negative safe integer. A negative
 * number is no user address (the kernel would see a kernel address and send SIGSEGV; a JS
 * number below 0 is a mistake of the caller, reported as such).
 */
function checkAddress(call: string, addr: unknown): void {
  checkInteger(call, 'addr', addr);
  if ((addr as number) < 0 || !Number.isSafeInteger(addr)) {
    throw new UsageError(`${call}(addr)`, `must be a non-negative safe integer, got ${addr as number}`);
  }
}

/** Throws the UsageError for an argument that is not an integer number. */
function checkInteger(call: string, name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new UsageError(
      `${call}(${name})`,
      `must be an integer, got ${typeof v === 'number' ? v : typeof v}`,
    );
  }
}

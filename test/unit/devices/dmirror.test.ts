/**
 * The dmirror device (src/devices/dmirror): command checks in the driver's order, the result
 * record, the invalidation callback's rules (own migrations skipped, try-lock when it may not
 * sleep, the inclusive upper bound), the fault helper's timeout and dead-mm behaviour, the
 * snapshot bytes, mmap of the device file, and device numbering.
 */
import { describe, expect, it } from 'vitest';
import { DPT_XA_TAG_ATOMIC, DPT_XA_TAG_READ, DPT_XA_TAG_WRITE } from '../../../src/devices/dmirror/pt.ts';
import {
  type DmirrorFile,
  EAGAIN,
  EBUSY,
  EFAULT,
  EINVAL,
  EOPNOTSUPP,
  EPERM,
  HMM_DMIRROR_FLAG_FAIL_ALLOC,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_ERROR,
  HMM_DMIRROR_PROT_NONE,
  HMM_DMIRROR_PROT_PMD,
  HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_PROT_ZERO,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_MIGRATE,
  type MmuNotifierSubscriptions,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  RoundRobinPolicy,
  UsageError,
  VM_MIXEDMAP,
} from '../../../src/index.ts';
import { findEntry } from '../../../src/mm/page-table.ts';
import { PTE_KIND_MASK, PTE_PRESENT, PTE_WRITE } from '../../../src/mm/pte.ts';
import { ENOENT } from '../../../src/sim/errno.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

async function setup(coherent = false) {
  const machine = new Machine({ memory: 64 * 1024 * 1024, hugetlbPages: 1 });
  const device = machine.addDmirrorDevice({ coherent });
  const process = await machine.createProcess();
  const file = await device.open(process);
  return { machine, device, process, file };
}

/** Tags of the mirror entries of `addr`'s pages, or '-' for none. */
function tags(file: DmirrorFile, addr: number, npages: number): (number | string)[] {
  const out: (number | string)[] = [];
  for (let i = 0; i < npages; i++) {
    const e = file.pt.get(addr / PAGE_SIZE + i);
    out.push(e === undefined ? '-' : e % 4);
  }
  return out;
}

describe('machine.addDmirrorDevice', () => {
  it('numbers private devices 0, 1 and coherent ones 2, 3, and refuses a fifth', () => {
    const machine = new Machine({ memory: 16 * 1024 * 1024, hugetlbPages: 0 });
    const c0 = machine.addDmirrorDevice({ coherent: true });
    const p0 = machine.addDmirrorDevice();
    const p1 = machine.addDmirrorDevice({});
    const c1 = machine.addDmirrorDevice({ coherent: true });
    expect([p0.minor, p1.minor, c0.minor, c1.minor]).toEqual([0, 1, 2, 3]);
    expect([p0.coherent, c0.coherent]).toEqual([false, true]);
    expect(c1.name).toBe('hmm_dmirror3');
    expect(machine.dmirrorDevices).toEqual([c0, p0, p1, c1]);
    expect(machine.dmirrorDevice(1)).toBe(p1);
    expect(() => machine.addDmirrorDevice()).toThrow(UsageError);
    expect(() => machine.addDmirrorDevice({ coherent: 'yes' as unknown as boolean })).toThrow(UsageError);
  });
});

describe('DmirrorDevice.open', () => {
  it('installs the file at the lowest free descriptor and subscribes to the whole address space', async () => {
    const { process, file } = await setup();
    expect(file.fd).toBe(3);
    expect(process.fds.get(3)?.fops).toBe(file.fops);
    expect(file.notifier.mm).toBe(process.mm);
    expect(file.notifier.start).toBe(0);
    expect(file.notifier.last).toBe(2 ** 64 - PAGE_SIZE);
    expect(file.mm).toBe(process.mm);
  });

  it('refuses a process of another machine', async () => {
    const { device } = await setup();
    const other = await new Machine({ memory: 16 * 1024 * 1024, hugetlbPages: 0 }).createProcess();
    await expect(device.open(other)).rejects.toThrow(UsageError);
  });
});

describe('command checks (dmirror_fops_unlocked_ioctl order)', () => {
  it('rejects an unaligned address, zero pages and wrap-around with -EINVAL and no outputs', async () => {
    const { file } = await setup();
    expect(await file.read(PAGE_SIZE + 1, 1)).toEqual({
      ret: -EINVAL,
      cpages: 0,
      faults: 0,
      data: new Uint8Array(0),
    });
    expect((await file.read(PAGE_SIZE, 0)).ret).toBe(-EINVAL);
    expect((await file.snapshot(2 ** 64 - PAGE_SIZE, 1)).ret).toBe(-EINVAL);
    expect((await file.snapshot(2 ** 64 - 2 * PAGE_SIZE, 2)).ret).toBe(-EINVAL);
    expect((await file.write(0, 2 ** 52, new Uint8Array(0))).ret).toBe(-EINVAL);
    expect((await file.checkExclusive(12, 1)).ret).toBe(-EINVAL);
  });

  it('throws a UsageError for arguments that are not u64 integers', async () => {
    const { file } = await setup();
    await expect(file.read(1.5, 1)).rejects.toThrow(UsageError);
    await expect(file.snapshot(0, -1)).rejects.toThrow(UsageError);
    await expect(file.write(0, 1, [1, 2] as unknown as Uint8Array)).rejects.toThrow(UsageError);
  });

  it('FLAGS stores the value, and 0 fails the range check', async () => {
    const { file } = await setup();
    expect(await file.setFlags(HMM_DMIRROR_FLAG_FAIL_ALLOC)).toEqual({ ret: 0, cpages: 0, faults: 0 });
    expect(file.flags).toBe(HMM_DMIRROR_FLAG_FAIL_ALLOC);
    expect((await file.setFlags(0)).ret).toBe(-EINVAL);
    expect(file.flags).toBe(HMM_DMIRROR_FLAG_FAIL_ALLOC);
  });

  it('WRITE with a buffer shorter than the pages fails like copy_from_user, before faulting', async () => {
    const { process, file } = await setup();
    const addr = await process.mmap(0, 2 * PAGE_SIZE, RW, ANON, -1, 0);
    expect((await file.write(addr, 2, new Uint8Array(PAGE_SIZE))).ret).toBe(-EFAULT);
    expect(file.pt.size).toBe(0);
  });

  it('after close the file has no driver state: -EINVAL, and a second close throws', async () => {
    const { process, file } = await setup();
    const addr = await process.mmap(0, PAGE_SIZE, RW, ANON, -1, 0);
    expect((await file.read(addr, 1)).ret).toBe(0);
    expect(file.pt.size).toBe(1);
    await file.close();
    expect(file.isReleased).toBe(true);
    expect(file.pt.size).toBe(0);
    expect(file.notifier.state).toBe('idle');
    expect(process.fds.has(file.fd)).toBe(false);
    expect((await file.read(addr, 1)).ret).toBe(-EINVAL);
    await expect(file.close()).rejects.toThrow(UsageError);
  });

  it('a descriptor inherited by fork keeps the file open, mirroring the parent', async () => {
    const { process, file } = await setup();
    const addr = await process.mmap(0, PAGE_SIZE, RW, ANON, -1, 0);
    await process.store32(addr, 7);
    const child = await process.fork();
    await file.close();
    expect(file.isReleased).toBe(false);
    await child.store32(addr, 9); // the child's COW does not touch the parent's mirror
    const r = await file.read(addr, 1);
    expect(r.ret).toBe(0);
    expect(new DataView(r.data.buffer).getUint32(0, true)).toBe(7);
    await child.exit();
    expect(file.isReleased).toBe(true);
  });
});

describe('READ and WRITE', () => {
  it('count one fault pass, and none when everything is already mirrored', async () => {
    const { process, file } = await setup();
    const addr = await process.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    expect(await file.read(addr, 4)).toMatchObject({ ret: 0, cpages: 4, faults: 1 });
    expect(tags(file, addr, 4)).toEqual([DPT_XA_TAG_READ, DPT_XA_TAG_READ, DPT_XA_TAG_READ, DPT_XA_TAG_READ]);
    expect(await file.read(addr, 4)).toMatchObject({ ret: 0, cpages: 4, faults: 0 });
    // A read-only entry does not count for WRITE: the pages are faulted again, for writing.
    const data = new Uint8Array(4 * PAGE_SIZE).fill(0x5a);
    expect(await file.write(addr, 4, data)).toEqual({ ret: 0, cpages: 4, faults: 1 });
    expect(tags(file, addr, 4)).toEqual([
      DPT_XA_TAG_WRITE,
      DPT_XA_TAG_WRITE,
      DPT_XA_TAG_WRITE,
      DPT_XA_TAG_WRITE,
    ]);
    expect((await process.read(addr + 3 * PAGE_SIZE, 4))[3]).toBe(0x5a);
    expect(await file.write(addr, 4, data)).toEqual({ ret: 0, cpages: 4, faults: 0 });
  });

  it('resumes after the pages already mirrored and counts them in cpages', async () => {
    const { process, file } = await setup();
    const addr = await process.mmap(0, 3 * PAGE_SIZE, RW, ANON, -1, 0);
    expect((await file.read(addr, 1)).ret).toBe(0);
    const r = await file.read(addr, 3);
    expect(r).toMatchObject({ ret: 0, cpages: 3, faults: 1 });
    expect(r.data.length).toBe(3 * PAGE_SIZE);
  });

  it('returns the errors of hmm_range_fault: -EFAULT for a hole or PROT_NONE, -EPERM for a read-only VMA', async () => {
    const { process, file } = await setup();
    expect((await file.read(0x10000, 1)).ret).toBe(-EFAULT);
    const addr = await process.mmap(0, 2 * PAGE_SIZE, PROT_NONE, ANON, -1, 0);
    expect(await file.read(addr, 2)).toEqual({ ret: -EFAULT, cpages: 0, faults: 0, data: new Uint8Array(0) });
    expect(await process.mprotect(addr, 2 * PAGE_SIZE, PROT_READ)).toBe(0);
    expect((await file.write(addr, 2, new Uint8Array(2 * PAGE_SIZE))).ret).toBe(-EPERM);
    expect((await file.read(addr, 2)).ret).toBe(0);
  });
});

describe('the invalidation callback (dmirror_interval_invalidate)', () => {
  it('erases the range and one page past it (the inclusive upper bound)', async () => {
    const { process, file } = await setup();
    const addr = await process.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    expect((await file.read(addr, 4)).ret).toBe(0);
    expect(await process.madvise(addr + PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED)).toBe(0);
    expect(tags(file, addr, 4)).toEqual([DPT_XA_TAG_READ, '-', '-', DPT_XA_TAG_READ]);
  });

  it("skips MIGRATE events of its own device, and erases other devices' migrations", async () => {
    const { machine, process, file, device } = await setup();
    const other = machine.addDmirrorDevice();
    const addr = await process.mmap(0, 2 * PAGE_SIZE, RW, ANON, -1, 0);
    expect((await file.read(addr, 2)).ret).toBe(0);
    const seq = file.notifier.invalidateSeq;
    const own = mmuNotifierRangeInit(process.mm, MMU_NOTIFY_MIGRATE, addr, addr + PAGE_SIZE, device);
    expect(await mmuNotifierInvalidateRangeStart(own)).toBe(0);
    mmuNotifierInvalidateRangeEnd(own);
    expect(file.pt.size).toBe(2);
    expect(file.notifier.invalidateSeq).toBe(seq);
    const foreign = mmuNotifierRangeInit(process.mm, MMU_NOTIFY_MIGRATE, addr, addr + PAGE_SIZE, other);
    expect(await mmuNotifierInvalidateRangeStart(foreign)).toBe(0);
    mmuNotifierInvalidateRangeEnd(foreign);
    expect(file.pt.size).toBe(0);
    expect(file.notifier.invalidateSeq).not.toBe(seq);
  });

  it('gives up on a non-blockable range while the mutex is held, and proceeds once it is free', async () => {
    const { process, file } = await setup();
    const addr = await process.mmap(0, PAGE_SIZE, RW, ANON, -1, 0);
    expect((await file.read(addr, 1)).ret).toBe(0);
    await file.mutex.lock();
    const r = mmuNotifierRangeInit(process.mm, MMU_NOTIFY_CLEAR, addr, addr + PAGE_SIZE, null, false);
    expect(await mmuNotifierInvalidateRangeStart(r)).toBe(-EAGAIN);
    expect(file.pt.size).toBe(1);
    file.mutex.unlock();
    expect(await mmuNotifierInvalidateRangeStart(r)).toBe(0);
    mmuNotifierInvalidateRangeEnd(r);
    expect(file.pt.size).toBe(0);
  });

  it('is told of the exit of the mirrored process and drops everything', async () => {
    const { process, file } = await setup();
    const addr = await process.mmap(0, 3 * PAGE_SIZE, RW, ANON, -1, 0);
    expect((await file.read(addr, 3)).ret).toBe(0);
    const child = await process.fork(); // keeps the file open past the exit
    await process.exit();
    expect(file.isReleased).toBe(false);
    expect(file.pt.size).toBe(0);
    // With the mm gone, SNAPSHOT fails with -EINVAL (mmget_not_zero).
    expect((await file.snapshot(addr, 3)).ret).toBe(-EINVAL);
    await child.exit();
    expect(file.isReleased).toBe(true);
  });
});

describe('the fault helper (dmirror_range_fault)', () => {
  it('gives up with -EBUSY once HMM_RANGE_DEFAULT_TIMEOUT ms of virtual time have passed', async () => {
    const { machine, process, file } = await setup();
    const addr = await process.mmap(0, PAGE_SIZE, RW, ANON, -1, 0);
    machine.sched.policy = new RoundRobinPolicy();
    let stop = false;
    let storms = 0;
    // A CPU-side thread invalidating the page over and over, 10 ms of virtual time apart.
    const storm = machine.sched.spawn('storm', async () => {
      while (!stop) {
        const r = mmuNotifierRangeInit(process.mm, MMU_NOTIFY_CLEAR, addr, addr + PAGE_SIZE);
        await mmuNotifierInvalidateRangeStart(r);
        mmuNotifierInvalidateRangeEnd(r);
        storms++;
        machine.sched.clock.advance(10_000_000);
        await machine.sched.yield('storm');
      }
    });
    const t0 = machine.sched.clock.now;
    const r = await file.read(addr, 1);
    stop = true;
    await machine.sched.join(storm);
    expect(r.ret).toBe(-EBUSY);
    expect(machine.sched.clock.now - t0).toBeGreaterThan(1000 * 1_000_000);
    expect(storms).toBeGreaterThan(50);
  });
});

describe('SNAPSHOT bytes (dmirror_mkentry)', () => {
  it('classifies holes, PROT_NONE, unpopulated, zero, read-only and writable pages', async () => {
    const { process, file } = await setup();
    const addr = await process.mmap(0, 6 * PAGE_SIZE, RW, ANON, -1, 0);
    expect(await process.munmap(addr, PAGE_SIZE)).toBe(0); // page 0: hole
    expect(await process.mprotect(addr + PAGE_SIZE, PAGE_SIZE, PROT_NONE)).toBe(0); // page 1
    await process.load32(addr + 3 * PAGE_SIZE); // page 3: zero page
    await process.store32(addr + 4 * PAGE_SIZE, 1); // page 4: writable
    await process.store32(addr + 5 * PAGE_SIZE, 1); // page 5: read-only
    expect(await process.mprotect(addr + 5 * PAGE_SIZE, PAGE_SIZE, PROT_READ)).toBe(0);
    const r = await file.snapshot(addr, 6);
    expect(r.ret).toBe(0);
    expect(r.cpages).toBe(6);
    expect(r.faults).toBe(0);
    expect([...r.prot]).toEqual([
      HMM_DMIRROR_PROT_ERROR,
      HMM_DMIRROR_PROT_ERROR,
      HMM_DMIRROR_PROT_NONE,
      HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ,
      HMM_DMIRROR_PROT_WRITE,
      HMM_DMIRROR_PROT_READ,
    ]);
    // Nothing was faulted in or mirrored.
    expect(file.pt.size).toBe(0);
  });

  it('reports a THP with the PMD bit, and the huge zero page as an ordinary read-only PMD page', async () => {
    const { process, file } = await setup();
    const base = await process.mmap(0, 3 * PMD_SIZE, RW, ANON, -1, 0);
    const a = Math.ceil(base / PMD_SIZE) * PMD_SIZE;
    expect(await process.madvise(a, 2 * PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
    await process.store32(a, 1); // a THP
    await process.load32(a + PMD_SIZE); // the huge zero page
    const r = await file.snapshot(a, 1024);
    expect(r.ret).toBe(0);
    expect(r.cpages).toBe(1024);
    expect(new Set(r.prot.subarray(0, 512))).toEqual(
      new Set([HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD]),
    );
    expect(new Set(r.prot.subarray(512))).toEqual(new Set([HMM_DMIRROR_PROT_READ | HMM_DMIRROR_PROT_PMD]));
  });

  it('spans several 32-page batches, each under a temporary notifier that is removed again', async () => {
    const { process, file } = await setup();
    const addr = await process.mmap(0, 70 * PAGE_SIZE, RW, ANON, -1, 0);
    for (let i = 0; i < 70; i += 2) await process.store32(addr + i * PAGE_SIZE, i);
    const r = await file.snapshot(addr, 70);
    expect(r.ret).toBe(0);
    expect(r.cpages).toBe(70);
    for (let i = 0; i < 70; i++)
      expect(r.prot[i]).toBe(i % 2 === 0 ? HMM_DMIRROR_PROT_WRITE : HMM_DMIRROR_PROT_NONE);
    // Only the file's own notifier is left on the mm.
    const tree = (process.mm.notifierSubscriptions as MmuNotifierSubscriptions).itree;
    let count = 0;
    for (let n = tree.iterFirst(0, 2 ** 64); n !== null; n = tree.iterNext(n, 0, 2 ** 64)) count++;
    expect(count).toBe(1);
  });
});

describe('WRITE over pages the device holds read-only (device-private, after fork)', () => {
  // hmm_vma_handle_pte reports a device-private page of the caller's own device without faulting
  // it, writable or not; dmirror_do_fault then refuses a write request answered without
  // HMM_PFN_WRITE (-EFAULT, with a WARN in the kernel). A page needing a fault earlier in the walk
  // makes hmm_vma_fault fault every page to the end of the range, the device pages included.
  async function forked() {
    const { process, file } = await setup();
    const addr = await process.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    for (let i = 0; i < 4; i++) await process.store32(addr + i * PAGE_SIZE, i + 1);
    expect((await file.migrateToDev(addr + PAGE_SIZE, 2)).ret).toBe(0);
    const child = await process.fork();
    const local = HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_READ;
    expect([...(await file.snapshot(addr, 4)).prot]).toEqual([
      HMM_DMIRROR_PROT_READ,
      local,
      local,
      HMM_DMIRROR_PROT_READ,
    ]);
    return { process, child, file, addr, local };
  }

  it('starting at the device page: -EFAULT, nothing written, the pages stay on the device', async () => {
    const { process, child, file, addr, local } = await forked();
    const r = await file.write(addr + PAGE_SIZE, 3, new Uint8Array(3 * PAGE_SIZE).fill(9));
    expect(r.ret).toBe(-EFAULT);
    expect([...(await file.snapshot(addr, 4)).prot].slice(1, 3)).toEqual([local, local]);
    for (let i = 0; i < 4; i++) {
      expect(await process.load32(addr + i * PAGE_SIZE)).toBe(i + 1);
      expect(await child.load32(addr + i * PAGE_SIZE)).toBe(i + 1);
    }
  });

  it('starting at a copy-on-write page: every page is faulted for writing, the device pages migrate back', async () => {
    const { process, child, file, addr } = await forked();
    expect(await file.write(addr, 4, new Uint8Array(4 * PAGE_SIZE).fill(9))).toMatchObject({
      ret: 0,
      cpages: 4,
    });
    expect([...(await file.snapshot(addr, 4)).prot]).toEqual(Array(4).fill(HMM_DMIRROR_PROT_WRITE));
    for (let i = 0; i < 4; i++) {
      expect(await process.load32(addr + i * PAGE_SIZE)).toBe(0x09090909);
      expect(await child.load32(addr + i * PAGE_SIZE)).toBe(i + 1);
    }
  });

  it('pages the device maps writable before the refused one are written', async () => {
    const { process, file, addr } = await forked();
    expect((await file.write(addr, 1, new Uint8Array(PAGE_SIZE).fill(7))).ret).toBe(0);
    expect((await file.write(addr, 2, new Uint8Array(2 * PAGE_SIZE).fill(9))).ret).toBe(-EFAULT);
    expect(await process.load32(addr)).toBe(0x09090909);
    expect(await process.load32(addr + PAGE_SIZE)).toBe(2);
  });
});

describe('mprotect and device-private entries (change_pte_range)', () => {
  it('RW → RWX makes a writable device-private entry read-only: the snapshot reads DEV_PRIVATE_LOCAL without WRITE', async () => {
    const { process, file } = await setup();
    const addr = await process.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    for (let i = 0; i < 4; i++) await process.store32(addr + i * PAGE_SIZE, i);
    const m = await file.migrateToDev(addr, 4);
    expect([m.ret, m.cpages]).toEqual([0, 4]);
    let r = await file.snapshot(addr, 4);
    expect([...r.prot]).toEqual(Array(4).fill(HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE));
    expect(await process.mprotect(addr, 4 * PAGE_SIZE, RW | PROT_EXEC)).toBe(0);
    r = await file.snapshot(addr, 4);
    expect(r.ret).toBe(0);
    expect([...r.prot]).toEqual(Array(4).fill(HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_READ));
    // A CPU write faults the page back (migrate_to_ram) and finds the data.
    await process.store32(addr + PAGE_SIZE, 77);
    expect(await process.load32(addr + PAGE_SIZE)).toBe(77);
    expect(await process.load32(addr + 2 * PAGE_SIZE)).toBe(2);
  });
});

describe('CHECK_EXCLUSIVE (dmirror_check_atomic)', () => {
  it('is 0 for read and write entries and -EPERM while an atomic entry is left', async () => {
    const { process, file } = await setup();
    const addr = await process.mmap(0, 2 * PAGE_SIZE, RW, ANON, -1, 0);
    expect((await file.read(addr, 1)).ret).toBe(0);
    expect((await file.write(addr + PAGE_SIZE, 1, new Uint8Array(PAGE_SIZE))).ret).toBe(0);
    expect(await file.checkExclusive(addr, 2)).toEqual({ ret: 0, cpages: 0, faults: 0 });
    file.pt.set(addr / PAGE_SIZE + 1, (file.pt.get(addr / PAGE_SIZE + 1)! & ~3) | DPT_XA_TAG_ATOMIC);
    expect((await file.checkExclusive(addr, 2)).ret).toBe(-EPERM);
    expect((await file.checkExclusive(addr, 1)).ret).toBe(0);
  });
});

describe('mmap of the device file (dmirror_fops_mmap)', () => {
  it('maps zeroed pages read-only in a private mapping (copy-on-write) and writable in a shared one', async () => {
    const { machine, process, file } = await setup();
    const free0 = machine.pm.freeFrames;
    const priv = await process.mmap(0, 2 * PAGE_SIZE, RW, MAP_PRIVATE, file.fd, 0);
    const shared = await process.mmap(0, PAGE_SIZE, RW, MAP_SHARED, file.fd, 0);
    expect(machine.pm.freeFrames).toBe(free0 - 3); // three zeroed pages
    const vma = process.mm.vmaLookup(priv)!;
    expect(vma.flags & VM_MIXEDMAP).toBe(VM_MIXEDMAP);
    expect(vma.isAnonymous).toBe(false);
    const pte = (a: number) => {
      const off = findEntry(machine.pt, process.mm.pgd, a / PAGE_SIZE, 1);
      return {
        kind: machine.pt.words[off]! & PTE_KIND_MASK,
        write: (machine.pt.words[off]! & PTE_WRITE) !== 0,
      };
    };
    expect(pte(priv)).toEqual({ kind: PTE_PRESENT, write: false });
    expect(pte(shared)).toEqual({ kind: PTE_PRESENT, write: true });
    expect(await process.load32(priv)).toBe(0);
    expect([...(await file.snapshot(priv, 2)).prot]).toEqual([HMM_DMIRROR_PROT_READ, HMM_DMIRROR_PROT_READ]);
    expect([...(await file.snapshot(shared, 1)).prot]).toEqual([HMM_DMIRROR_PROT_WRITE]);
    await process.store32(priv, 0xdead); // copy-on-write into an anonymous page
    expect(await process.load32(priv)).toBe(0xdead);
    expect(pte(priv).write).toBe(true);
    expect(await process.munmap(priv, 2 * PAGE_SIZE)).toBe(0);
    expect(await process.munmap(shared, PAGE_SIZE)).toBe(0);
    expect(machine.pm.freeFrames).toBe(free0); // the inserted pages and the COW copy are freed
  });
});

describe('kernelVersion 6.12: MIGRATE_TO_DEV as 6.12 does it', () => {
  async function setup612(kernelVersion: 'mainline' | '6.12') {
    const machine = new Machine({ memory: 64 * 1024 * 1024, thp: 'always', kernelVersion });
    const device = machine.addDmirrorDevice();
    const process = await machine.createProcess();
    const file = await device.open(process);
    return { machine, process, file };
  }

  it('maps a migrated hole writable in a writable VMA (!spage && VM_WRITE): the device WRITE takes no fault', async () => {
    for (const [version, faults] of [
      ['6.12', 0],
      ['mainline', 1],
    ] as const) {
      const { process, file } = await setup612(version);
      const addr = await process.mmap(0, 2 * PAGE_SIZE, RW, ANON, -1, 0);
      expect((await file.migrateToDev(addr, 2)).ret).toBe(0);
      expect(await file.write(addr, 2, new Uint8Array(2 * PAGE_SIZE))).toEqual({ ret: 0, cpages: 2, faults });
    }
  });

  it('leaves a PTE-mapped THP where it is (FIXME support THP): -ENOENT; mainline splits and migrates it', async () => {
    for (const [version, ret] of [
      ['6.12', -2],
      ['mainline', 0],
    ] as const) {
      const { process, file } = await setup612(version);
      const addr = await process.mmap(0, 2 * PMD_SIZE, RW, ANON, -1, 0);
      const base = Math.ceil(addr / PMD_SIZE) * PMD_SIZE;
      await process.store32(base, 1);
      // Splitting the PMD (mprotect of one page) keeps the folio large, mapped by PTEs.
      expect(await process.mprotect(base, PAGE_SIZE, PROT_READ)).toBe(0);
      expect((await file.migrateToDev(base + PAGE_SIZE, 4)).ret).toBe(ret);
    }
  });
});

describe('split_folio splits the PMD of every process mapping the THP (unmap_folio; fuzz-7-13)', () => {
  it('MIGRATE_TO_DEV over part of a THP shared with a child by PMD: split, the pages migrate', async () => {
    for (const kernelVersion of ['6.12', 'mainline'] as const) {
      const machine = new Machine({ memory: 64 * 1024 * 1024, thp: 'always', kernelVersion });
      const file = await machine.addDmirrorDevice().open(await machine.createProcess());
      const process = file.process;
      const a = await process.mmap(0, 2 * PMD_SIZE, RW, ANON, -1, 0);
      const base = Math.ceil(a / PMD_SIZE) * PMD_SIZE;
      await process.store32(base + 39 * PAGE_SIZE, 49777);
      const child = await process.fork();
      const r = await file.migrateToDev(base + 97 * PAGE_SIZE, 129);
      expect([kernelVersion, r.ret, r.cpages]).toEqual([kernelVersion, 0, 129]);
      // The split remapped the zero-filled pages to the zero page in both processes.
      const snap = await file.snapshot(base + 38 * PAGE_SIZE, 2);
      expect([...snap.prot]).toEqual([HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ, HMM_DMIRROR_PROT_READ]);
      expect(await child.load32(base + 39 * PAGE_SIZE)).toBe(49777);
      expect(await child.load32(base + 100 * PAGE_SIZE)).toBe(0);
    }
  });
});

describe('kernelVersion 6.12: EXCLUSIVE as 6.12 does it (make_device_exclusive_range, -EBUSY)', () => {
  async function setup612(kernelVersion: 'mainline' | '6.12') {
    const machine = new Machine({ memory: 64 * 1024 * 1024, thp: 'always', hugetlbPages: 1, kernelVersion });
    const device = machine.addDmirrorDevice();
    const process = await machine.createProcess();
    const file = await device.open(process);
    return { machine, process, file };
  }

  it('makes small anonymous pages exclusive as mainline does', async () => {
    const { process, file } = await setup612('6.12');
    const addr = await process.mmap(0, 3 * PAGE_SIZE, RW, ANON, -1, 0);
    await process.store32(addr + PAGE_SIZE, 7);
    const r = await file.exclusive(addr, 3);
    expect([r.ret, r.cpages]).toEqual([0, 3]);
    expect(tags(file, addr, 3)).toEqual(Array(3).fill(DPT_XA_TAG_ATOMIC));
    expect(await file.checkExclusive(addr, 3)).toMatchObject({ ret: -EPERM });
  });

  it('is -EBUSY for shared memory, hugetlb, a THP and an unmapped page (mainline: -EOPNOTSUPP, 0, -EFAULT)', async () => {
    const cases: [string, (p: Awaited<ReturnType<typeof setup612>>['process']) => Promise<number>, number][] =
      [
        ['shared anonymous', (p) => p.mmap(0, PAGE_SIZE, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0), -EOPNOTSUPP],
        ['hugetlb', (p) => p.mmap(0, PMD_SIZE, RW, ANON | MAP_HUGETLB, -1, 0), -EOPNOTSUPP],
        [
          'THP',
          async (p) => {
            const a = await p.mmap(0, 2 * PMD_SIZE, RW, ANON, -1, 0);
            const base = Math.ceil(a / PMD_SIZE) * PMD_SIZE;
            await p.store32(base, 1);
            return base;
          },
          0,
        ],
        [
          'unmapped',
          async (p) => {
            const a = await p.mmap(0, PAGE_SIZE, RW, ANON, -1, 0);
            expect(await p.munmap(a, PAGE_SIZE)).toBe(0);
            return a;
          },
          -EFAULT,
        ],
      ];
    for (const [name, map, mainline] of cases) {
      for (const version of ['6.12', 'mainline'] as const) {
        const { process, file } = await setup612(version);
        const addr = await map(process);
        const r = await file.exclusive(addr, name === 'unmapped' ? 1 : 4);
        expect([name, version, r.ret]).toEqual([name, version, version === '6.12' ? -EBUSY : mainline]);
      }
    }
  });

  it('hugetlb: GUP refuses FOLL_SPLIT_PMD before faulting, so the page stays as it was (fuzz-4)', async () => {
    // check_vma_flags() returns -EOPNOTSUPP for FOLL_SPLIT_PMD on a hugetlb VMA (6.12 and
    // mainline): nothing is faulted in, an unpopulated page snapshots NONE, a populated one
    // keeps its writable PMD-sized mapping.
    for (const version of ['6.12', 'mainline'] as const) {
      for (const populated of [false, true]) {
        const { process, file } = await setup612(version);
        const addr = await process.mmap(0, PMD_SIZE, RW, ANON | MAP_HUGETLB, -1, 0);
        if (populated) await process.store32(addr + PAGE_SIZE, 3);
        const r = await file.exclusive(addr + PAGE_SIZE, 1);
        expect([version, r.ret]).toEqual([version, version === '6.12' ? -EBUSY : -EOPNOTSUPP]);
        const s = await file.snapshot(addr, 2);
        expect(s.ret).toBe(0);
        const prot = populated ? HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD : HMM_DMIRROR_PROT_NONE;
        expect([version, populated, ...s.prot]).toEqual([version, populated, prot, prot]);
        if (populated) expect(await process.load32(addr + PAGE_SIZE)).toBe(3);
      }
    }
  });

  it('a THP: the head page (and its whole folio) is made exclusive and mapped ATOMIC, the tail pages are not', async () => {
    const { process, file } = await setup612('6.12');
    const a = await process.mmap(0, 2 * PMD_SIZE, RW, ANON, -1, 0);
    const base = Math.ceil(a / PMD_SIZE) * PMD_SIZE;
    await process.store32(base, 1);
    expect((await file.exclusive(base, 2)).ret).toBe(-EBUSY);
    expect(tags(file, base, 2)).toEqual([DPT_XA_TAG_ATOMIC, '-']);
    // The folio's PTEs are device-exclusive entries: a CPU read restores them.
    expect(await process.load32(base + PAGE_SIZE)).toBe(0);
    expect(await process.load32(base)).toBe(1);
  });
});

describe('try_to_migrate announces CLEAR on the migrating mm too (found by the kernel oracle, fuzz-1-194)', () => {
  it('migrating a page shared with a child erases the next page’s ATOMIC entry (inclusive bound): -ENOENT', async () => {
    for (const kernelVersion of ['6.12', 'mainline'] as const) {
      const machine = new Machine({ memory: 64 * 1024 * 1024, kernelVersion });
      const file = await machine.addDmirrorDevice().open(await machine.createProcess());
      const process = file.process;
      const addr = await process.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
      await process.store32(addr + PAGE_SIZE, 5);
      await process.fork();
      expect((await file.exclusive(addr + 2 * PAGE_SIZE, 1)).ret).toBe(0);
      // Page 1 is shared with the child: try_to_migrate's CLEAR over it in this mm also takes
      // page 2's entry (dmirror_do_update's inclusive end), and page 2 does not migrate.
      expect((await file.migrateToDev(addr + PAGE_SIZE, 2)).ret).toBe(-ENOENT);
      expect(tags(file, addr + PAGE_SIZE, 2)).toEqual([DPT_XA_TAG_READ, '-']);
    }
  });
});

describe('the driver windows follow the kernel version (lib/test_hmm.c)', () => {
  // Mainline's dmirror walks 32 pages per hmm_range_fault call ("lib/test_hmm: reduce stack
  // usage"); 6.12's walks 64.
  async function passes(kernelVersion: 'mainline' | '6.12', op: 'read' | 'snapshot') {
    const machine = new Machine({ memory: 64 * 1024 * 1024, hugetlbPages: 0, kernelVersion });
    const device = machine.addDmirrorDevice();
    const process = await machine.createProcess();
    const file = await device.open(process);
    const n = 100;
    const addr = await process.mmap(0, n * PAGE_SIZE, RW, ANON, -1, 0);
    await process.write(addr, new Uint8Array(n * PAGE_SIZE).fill(3));
    const before = machine.work.hmmPasses;
    if (op === 'read') expect((await file.read(addr, n)).ret).toBe(0);
    else expect((await file.snapshot(addr, n)).ret).toBe(0);
    return machine.work.hmmPasses - before;
  }

  it('READ and SNAPSHOT of 100 populated pages: 4 walks in mainline, 2 in 6.12', async () => {
    expect(await passes('mainline', 'read')).toBe(4);
    expect(await passes('6.12', 'read')).toBe(2);
    expect(await passes('mainline', 'snapshot')).toBe(4);
    expect(await passes('6.12', 'snapshot')).toBe(2);
  });

  // The migration window: 512 pages in mainline (the device-private THP series), 64 in 6.12
  // (`src_pfns[64]`). Each window is one migrate_vma_setup, hence one MMU_NOTIFY_MIGRATE
  // invalidation reaching dmirror's interval notifier.
  async function migrateInvalidations(kernelVersion: 'mainline' | '6.12') {
    const machine = new Machine({ memory: 64 * 1024 * 1024, hugetlbPages: 0, kernelVersion });
    const device = machine.addDmirrorDevice();
    const process = await machine.createProcess();
    const file = await device.open(process);
    const n = 100;
    const addr = await process.mmap(0, n * PAGE_SIZE, RW, ANON, -1, 0);
    await process.write(addr, new Uint8Array(n * PAGE_SIZE).fill(3));
    const before = machine.work.notifierCallbacks;
    expect((await file.migrateToDev(addr, n)).ret).toBe(0);
    const toDev = machine.work.notifierCallbacks - before;
    expect((await file.migrateToSys(addr, n)).ret).toBe(0);
    return [toDev, machine.work.notifierCallbacks - before - toDev];
  }

  it('MIGRATE_TO_DEV and MIGRATE_TO_SYS of 100 pages: one window in mainline, two in 6.12', async () => {
    expect(await migrateInvalidations('mainline')).toEqual([1, 1]);
    expect(await migrateInvalidations('6.12')).toEqual([2, 2]);
  });
});

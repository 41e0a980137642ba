/**
 * The usage pattern of Documentation/mm/hmm.rst ("Address space mirroring implementation and
 * API"), written with hmmsim line for line: a small driver with its own device page table, its
 * `driver->update` lock and one interval notifier, populating ranges with the documented retry
 * loop (`mmget_not_zero`, `mmu_interval_read_begin`, `hmm_range_fault` under the mmap read lock,
 * `mmu_interval_read_retry` under the driver lock) and dropping translations from its
 * `invalidate()` callback. Each line carries the kernel line it stands for.
 *
 * `runMirrorDriverExample()` runs a scenario (populate, device reads, munmap, errors, and a
 * populate racing a concurrent munmap) and returns what happened; the test in
 * test/examples/mirror-driver.test.ts checks it. Run directly to see it narrated:
 *
 *   npx tsx examples/mirror-driver.ts
 */
import { argv } from 'node:process';
import { pathToFileURL } from 'node:url';
import {
  EBUSY,
  EFAULT,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  HMM_RANGE_DEFAULT_TIMEOUT,
  type HmmRange,
  hmmPfnToPfn,
  hmmRangeFault,
  hmmRangeFaultUnlockedTimeout,
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  MMU_NOTIFY_EVENT_NAMES,
  type MmStruct,
  MmuIntervalNotifier,
  type MmuNotifierRange,
  Mutex,
  mmapReadLock,
  mmapReadUnlock,
  mmgetNotZero,
  mmput,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  Prng,
  RandomPolicy,
  RunToBlockPolicy,
} from '../src/index.ts';

/** Scheduling seeds of the races in step 4. */
const RACE_SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 33, 35];

/** The example driver: what `struct driver` would hold in a real one. */
export class MirrorDriver {
  /** `driver->update`: taken by the invalidate callback and around the device page-table update. */
  readonly update: Mutex;
  /** The device page table: virtual page number → pfn × 2 + writable. */
  readonly devicePageTable = new Map<number, number>();
  /** `interval_sub`: the driver's `struct mmu_interval_notifier`. */
  readonly intervalSub = new MmuIntervalNotifier();
  /** Times `driverPopulateRange` went back to `again:`. */
  retries = 0;
  /** Invalidations received, for the narration. */
  readonly invalidations: { event: string; start: number; end: number }[] = [];

  constructor(machine: Machine) {
    this.update = new Mutex(machine.sched, 'driver->update');
  }
}

/**
 * The driver's `ops->invalidate()`: "the device driver must perform the update action to the
 * range (mark range read only, or fully unmap, etc.). The device must complete the update before
 * the driver callback returns."
 */
function driverInvalidate(
  driver: MirrorDriver,
  mni: MmuIntervalNotifier,
  range: MmuNotifierRange,
  curSeq: number,
): boolean | Promise<boolean> {
  const update = (): boolean => {
    mmuIntervalSetSeq(mni, curSeq); //                 mmu_interval_set_seq(mni, cur_seq);
    // (unmap the range from the device: visit the entries, not the range, which for
    // MMU_NOTIFY_RELEASE at exit spans the whole address space)
    for (const vpn of driver.devicePageTable.keys())
      if (vpn * PAGE_SIZE >= range.start && vpn * PAGE_SIZE < range.end) driver.devicePageTable.delete(vpn);
    driver.invalidations.push({
      event: MMU_NOTIFY_EVENT_NAMES[range.event]!,
      start: range.start,
      end: range.end,
    });
    driver.update.unlock(); //                         release_lock(driver->update);
    return true; //                                    return true;
  };
  if (!mmuNotifierRangeBlockable(range)) {
    //                                                 if (!mmu_notifier_range_blockable(range) &&
    if (!driver.update.trylock()) return false; //         !trylock(driver->update)) return false;
    return update();
  }
  return driver.update.lock().then(update); //         take_lock(driver->update);
}

/**
 * Registration: `mmu_interval_notifier_insert(&interval_sub, mm, start, length, &ops)`.
 */
export async function driverRegister(
  driver: MirrorDriver,
  mm: MmStruct,
  start: number,
  length: number,
): Promise<number> {
  return mmuIntervalNotifierInsert(driver.intervalSub, mm, start, length, {
    invalidate: (mni, range, curSeq) => driverInvalidate(driver, mni, range, curSeq),
  });
}

/**
 * A deliberate mistake for examples/broken-driver.ts: 'no read_retry' commits the device page
 * table without checking `mmu_interval_read_retry` (docs/mutants.md, D2). null: the correct driver.
 */
export type DriverMistake = 'no read_retry' | null;

/**
 * `driver_populate_range()` of hmm.rst: mirror `[start, end)` into the device page table, asking
 * `defaultFlags` of every page (HMM_PFN_REQ_FAULT, maybe | HMM_PFN_REQ_WRITE). 0 or -errno.
 */
export async function driverPopulateRange(
  driver: MirrorDriver,
  start: number,
  end: number,
  defaultFlags: bigint,
  mistake: DriverMistake = null,
): Promise<number> {
  const intervalSub = driver.intervalSub;
  const mm = intervalSub.mm!;
  const range: HmmRange = {
    //                                                 struct hmm_range range;
    notifier: intervalSub, //                          range.notifier = &interval_sub;
    start, //                                          range.start = ...;
    end, //                                            range.end = ...;
    hmmPfns: new BigUint64Array((end - start) / PAGE_SIZE), // range.hmm_pfns = ...;
    defaultFlags, //                                   (see "Leverage default_flags and pfn_flags_mask")
    pfnFlagsMask: 0n,
    notifierSeq: 0,
    devPrivateOwner: driver, //                        (the owner token of the driver's device memory)
  };
  let ret: number;

  if (!mmgetNotZero(mm))
    //                                                 if (!mmget_not_zero(interval_sub->notifier.mm))
    return -EFAULT; //                                     return -EFAULT;

  for (;;) {
    //                                               again:
    range.notifierSeq = await mmuIntervalReadBegin(intervalSub); // range.notifier_seq = mmu_interval_read_begin(&interval_sub);
    await mmapReadLock(mm); //                         mmap_read_lock(mm);
    ret = await hmmRangeFault(range); //               ret = hmm_range_fault(&range);
    if (ret !== 0) {
      //                                               if (ret) {
      mmapReadUnlock(mm); //                               mmap_read_unlock(mm);
      if (ret === -EBUSY) {
        //                                                 if (ret == -EBUSY)
        driver.retries++;
        continue; //                                              goto again;
      }
      await mmput(mm); //                                  (hmm.rst forgets this mmput: the reference would leak)
      return ret; //                                       return ret;
    } //                                               }
    mmapReadUnlock(mm); //                             mmap_read_unlock(mm);

    await driver.update.lock(); //                     take_lock(driver->update);
    if (mistake !== 'no read_retry' && mmuIntervalReadRetry(intervalSub, range.notifierSeq)) {
      //                                               if (mmu_interval_read_retry(&ni, range.notifier_seq) {
      driver.update.unlock(); //                           release_lock(driver->update);
      driver.retries++;
      continue; //                                         goto again;
    } //                                               }
    break;
  }

  // Use pfns array content to update device page table, under the update lock.
  const first = start / PAGE_SIZE;
  for (let i = 0; i < range.hmmPfns.length; i++) {
    const word = range.hmmPfns[i]!;
    if ((word & HMM_PFN_VALID) === 0n) continue;
    driver.devicePageTable.set(first + i, hmmPfnToPfn(word) * 2 + ((word & HMM_PFN_WRITE) !== 0n ? 1 : 0));
  }

  driver.update.unlock(); //                           release_lock(driver->update);
  await mmput(mm); //                                  (the reference taken by mmget_not_zero)
  return 0; //                                         return 0;
}

/**
 * The same populate with the 2026 entry point (hmm.rst after the lock-drop series, v8 and its
 * fixup): `hmm_range_fault_unlocked_timeout` takes and drops the mmap lock itself, retries -EBUSY
 * with a fresh sequence, and lets faults drop the lock (userfaultfd); the driver keeps only the
 * final `mmu_interval_read_retry` under its update lock.
 */
export async function driverPopulateRangeUnlocked(
  driver: MirrorDriver,
  start: number,
  end: number,
  defaultFlags: bigint,
): Promise<number> {
  const intervalSub = driver.intervalSub;
  const mm = intervalSub.mm!;
  const timeout = HMM_RANGE_DEFAULT_TIMEOUT; //         timeout = msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT); (HZ = 1000)
  const range: HmmRange = {
    notifier: intervalSub, //                          range.notifier = &interval_sub;
    start, //                                          range.start = ...;
    end, //                                            range.end = ...;
    hmmPfns: new BigUint64Array((end - start) / PAGE_SIZE), // range.hmm_pfns = ...;
    defaultFlags,
    pfnFlagsMask: 0n,
    notifierSeq: 0,
    devPrivateOwner: driver,
  };
  let ret: number;

  if (!mmgetNotZero(mm))
    //                                                 if (!mmget_not_zero(interval_sub.mm))
    return -EFAULT; //                                     return -EFAULT;
  for (;;) {
    //                                               again:
    ret = await hmmRangeFaultUnlockedTimeout(range, timeout); // ret = hmm_range_fault_unlocked_timeout(&range, timeout);
    if (ret !== 0) break; //                           if (ret) goto out_put;

    await driver.update.lock(); //                     take_lock(driver->update);
    if (mmuIntervalReadRetry(range.notifier, range.notifierSeq)) {
      //                                               if (mmu_interval_read_retry(range.notifier, range.notifier_seq)) {
      driver.update.unlock(); //                           release_lock(driver->update);
      driver.retries++;
      continue; //                                         goto again;
    } //                                               }
    const first = start / PAGE_SIZE;
    for (let i = 0; i < range.hmmPfns.length; i++) {
      const word = range.hmmPfns[i]!;
      if ((word & HMM_PFN_VALID) === 0n) continue;
      driver.devicePageTable.set(first + i, hmmPfnToPfn(word) * 2 + ((word & HMM_PFN_WRITE) !== 0n ? 1 : 0));
    }
    driver.update.unlock(); //                         release_lock(driver->update);
    break;
  }
  await mmput(mm); //                                out_put: mmput(interval_sub.mm);
  return ret; //                                       return ret;
}

/** The device reading one page through its own page table (what the hardware would do). */
function deviceReadPage(machine: Machine, driver: MirrorDriver, addr: number): Uint8Array | null {
  const entry = driver.devicePageTable.get(addr / PAGE_SIZE);
  if (entry === undefined) return null;
  const out = new Uint8Array(PAGE_SIZE);
  machine.pm.readBytes(Math.floor(entry / 2), 0, out, 0, PAGE_SIZE);
  return out;
}

/** What {@link runMirrorDriverExample} observed. */
export interface MirrorDriverReport {
  /** Address of the mapping. */
  addr: number;
  /** Pages of the mapping. */
  pages: number;
  /** `driver_populate_range` over the whole mapping, for reading. */
  populateRet: number;
  /** Device page-table entries after it, and how many of them are writable. */
  mirrored: number;
  writable: number;
  /** The first byte of every page as the device read it through its page table. */
  deviceBytes: number[];
  /** The invalidations the driver received for munmap of pages 2 and 3. */
  munmapInvalidations: { event: string; start: number; end: number }[];
  /** Entries left after that munmap. */
  mirroredAfterMunmap: number;
  /** Populating across the hole: -EFAULT. */
  holeRet: number;
  /** Populating for writing after mprotect(PROT_READ): -EPERM. */
  readOnlyWriteRet: number;
  /** Populates of pages 4..7 racing a thread that zaps page 6, one per scheduling seed. */
  race: {
    /** Races run. */
    seeds: number;
    /** What each populate returned. */
    rets: number[];
    /** Times the populates went back to `again:` in all (the invalidation won the race). */
    retries: number;
    /** Device entries whose pfn differed from the CPU's after a race, in all (must be 0). */
    stale: number;
  };
  /** 5. The 2026 entry point over pages 4..7 for writing: its result and the writable entries. */
  unlockedRet: number;
  unlockedWritable: number;
  /** Invalidations received in total. */
  invalidations: number;
}

/** Runs the scenario on a fresh machine and reports what the driver saw. */
export async function runMirrorDriverExample(): Promise<MirrorDriverReport> {
  const machine = new Machine({ memory: 64 * 1024 * 1024 });
  const proc = await machine.createProcess();
  const pages = 8;
  const addr = await proc.mmap(
    0,
    pages * PAGE_SIZE,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS,
    -1,
    0,
  );
  for (let i = 0; i < pages; i++) await proc.write(addr + i * PAGE_SIZE, new Uint8Array([0xa0 + i]));

  const driver = new MirrorDriver(machine);
  const reg = await driverRegister(driver, proc.mm, addr, pages * PAGE_SIZE);
  if (reg !== 0) throw new Error(`mmu_interval_notifier_insert: ${reg}`);

  // 1. Mirror the whole mapping for reading; the device then reads it through its own table.
  const populateRet = await driverPopulateRange(driver, addr, addr + pages * PAGE_SIZE, HMM_PFN_REQ_FAULT);
  const mirrored = driver.devicePageTable.size;
  let writable = 0;
  for (const e of driver.devicePageTable.values()) writable += e % 2;
  const deviceBytes: number[] = [];
  for (let i = 0; i < pages; i++)
    deviceBytes.push(deviceReadPage(machine, driver, addr + i * PAGE_SIZE)?.[0] ?? -1);

  // 2. The CPU unmaps pages 2 and 3: the callback drops them from the device.
  const before = driver.invalidations.length;
  await proc.munmap(addr + 2 * PAGE_SIZE, 2 * PAGE_SIZE);
  const munmapInvalidations = driver.invalidations.slice(before);
  const mirroredAfterMunmap = driver.devicePageTable.size;

  // 3. Errors come straight from hmm_range_fault: a hole, and a write to a read-only VMA.
  const holeRet = await driverPopulateRange(driver, addr, addr + 4 * PAGE_SIZE, HMM_PFN_REQ_FAULT);
  await proc.mprotect(addr, 2 * PAGE_SIZE, PROT_READ);
  const readOnlyWriteRet = await driverPopulateRange(
    driver,
    addr,
    addr + 2 * PAGE_SIZE,
    HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE,
  );

  // 4. Populates racing a CPU thread that zaps page 6 (MADV_DONTNEED holds only the mmap read
  // lock, so it runs during the walk), under random schedules: whichever way each race goes, the
  // sequence check keeps the device from keeping a translation the CPU has torn down.
  let retries = 0;
  let stale = 0;
  const rets: number[] = [];
  for (const seed of RACE_SEEDS) {
    await proc.write(addr + 6 * PAGE_SIZE, new Uint8Array([0xa6]));
    machine.sched.policy = new RandomPolicy(new Prng(seed));
    const zapper = machine.sched.spawn('cpu madvise', () =>
      proc.madvise(addr + 6 * PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED),
    );
    const retriesBefore = driver.retries;
    rets.push(
      await driverPopulateRange(driver, addr + 4 * PAGE_SIZE, addr + 8 * PAGE_SIZE, HMM_PFN_REQ_FAULT),
    );
    await machine.sched.join(zapper);
    machine.sched.policy = new RunToBlockPolicy();
    retries += driver.retries - retriesBefore;
    for (const [vpn, entry] of driver.devicePageTable)
      if ((await snapshotPfn(driver, vpn * PAGE_SIZE)) !== Math.floor(entry / 2)) stale++;
  }

  // 5. The same populate through hmm_range_fault_unlocked_timeout (the documented entry point
  // since 2026): the caller does not take the mmap lock; the result is the same.
  const unlockedRet = await driverPopulateRangeUnlocked(
    driver,
    addr + 4 * PAGE_SIZE,
    addr + 8 * PAGE_SIZE,
    HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE,
  );
  let unlockedWritable = 0;
  for (let vpn = addr / PAGE_SIZE + 4; vpn < addr / PAGE_SIZE + 8; vpn++)
    unlockedWritable += (driver.devicePageTable.get(vpn) ?? 0) % 2;

  const report: MirrorDriverReport = {
    addr,
    pages,
    populateRet,
    mirrored,
    writable,
    deviceBytes,
    munmapInvalidations,
    mirroredAfterMunmap,
    holeRet,
    readOnlyWriteRet,
    race: { seeds: RACE_SEEDS.length, rets, retries, stale },
    unlockedRet,
    unlockedWritable,
    invalidations: driver.invalidations.length,
  };
  await mmuIntervalNotifierRemove(driver.intervalSub);
  await proc.exit();
  return report;
}

/** What the CPU page tables map at `addr` now (a no-fault hmm_range_fault), or -1. */
async function snapshotPfn(driver: MirrorDriver, addr: number): Promise<number> {
  const mm = driver.intervalSub.mm!;
  const range: HmmRange = {
    notifier: driver.intervalSub,
    notifierSeq: await mmuIntervalReadBegin(driver.intervalSub),
    start: addr,
    end: addr + PAGE_SIZE,
    hmmPfns: new BigUint64Array(1),
    defaultFlags: 0n,
    pfnFlagsMask: 0n,
    devPrivateOwner: driver,
  };
  await mmapReadLock(mm);
  const ret = await hmmRangeFault(range);
  mmapReadUnlock(mm);
  const word = range.hmmPfns[0]!;
  return ret === 0 && (word & HMM_PFN_VALID) !== 0n ? hmmPfnToPfn(word) : -1;
}

async function main(): Promise<void> {
  const hex = (n: number): string => `0x${n.toString(16)}`;
  const r = await runMirrorDriverExample();
  console.log(`driver_populate_range over ${r.pages} pages (REQ_FAULT): ${r.populateRet}`);
  console.log(`  device page table: ${r.mirrored} entries, ${r.writable} writable`);
  console.log(`  first byte of each page read by the device: ${r.deviceBytes.map(hex).join(' ')}`);
  console.log('munmap of pages 2-3; the invalidate callback received:');
  for (const i of r.munmapInvalidations) console.log(`  ${i.event} [${hex(i.start)}, ${hex(i.end)})`);
  console.log(`  device page table: ${r.mirroredAfterMunmap} entries`);
  console.log(`populate across the hole: ${r.holeRet} (-EFAULT)`);
  console.log(`populate for writing after mprotect(PROT_READ): ${r.readOnlyWriteRet} (-EPERM)`);
  console.log(
    `${r.race.seeds} populates racing MADV_DONTNEED of page 6: returned ${r.race.rets.join(', ')}; ${r.race.retries} went back to again:, ${r.race.stale} stale device entries`,
  );
  console.log(`${r.invalidations} invalidations received in all`);
}

if (argv[1] !== undefined && import.meta.url === pathToFileURL(argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}

/**
 * Two-pass interval notifiers (`invalidate_start` / `invalidate_finish`), the way xe's userptr
 * uses them: a device whose TLB invalidation takes a while starts it in the first pass and waits
 * for it in the finish pass. Because the mm runs every subscription's first pass before any
 * finish pass, several devices mirroring the same range invalidate their TLBs at the same time
 * instead of one after the other.
 *
 * `runTwoPassExample()` mirrors one buffer on two devices, unmaps it, and measures the virtual
 * time the munmap took with one-pass callbacks (each waits for its own TLB invalidation) and
 * with two-pass callbacks; test/examples/two-pass-driver.test.ts checks it. Run directly to see
 * the numbers:
 *
 *   npx tsx examples/two-pass-driver.ts
 */
import { argv } from 'node:process';
import { pathToFileURL } from 'node:url';
import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  MmuIntervalNotifier,
  type MmuIntervalNotifierFinish,
  type MmuIntervalNotifierOps,
  type MmuNotifierRange,
  mmuIntervalNotifierInsert,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../src/index.ts';

/** Virtual ns a device takes to invalidate its TLB for a range (a guess, the same for both). */
export const TLB_INVALIDATE_NS = 20_000;

/** One device mirroring part of an address space. */
class Device {
  readonly sub = new MmuIntervalNotifier();
  /** When the TLB invalidation issued by the first pass completes (the device's fence). */
  fenceAt = 0;
  /** The finish handed to the core: embedded, so the callback allocates nothing (as xe does). */
  readonly finish: MmuIntervalNotifierFinish = { notifier: null };
  /** What the callbacks did, in order, for the narration and the test. */
  readonly log: string[];

  constructor(
    readonly name: string,
    readonly machine: Machine,
    log: string[],
  ) {
    this.log = log;
  }

  /** Stop using the range's translations and start the TLB invalidation: no waiting here. */
  private zapAndIssue(range: MmuNotifierRange, curSeq: number): void {
    mmuIntervalSetSeq(this.sub, curSeq);
    this.fenceAt = this.machine.sched.clock.now + TLB_INVALIDATE_NS;
    this.log.push(`${this.name}: TLB invalidation of [${hex(range.start)}, ${hex(range.end)}) issued`);
  }

  /** Wait for the fence of the invalidation issued earlier. */
  private async waitFence(): Promise<void> {
    const wait = this.fenceAt - this.machine.sched.clock.now;
    if (wait > 0) await this.machine.sched.sleep(wait);
    this.log.push(`${this.name}: TLB invalidation done`);
  }

  /** One pass: issue and wait inside `invalidate` (the device is done when the callback returns). */
  onePassOps(): MmuIntervalNotifierOps {
    return {
      invalidate: async (_sub, range, curSeq) => {
        if (!mmuNotifierRangeBlockable(range)) return false; // it would have to sleep
        this.zapAndIssue(range, curSeq);
        await this.waitFence();
        return true;
      },
    };
  }

  /** Two passes: issue in `invalidateStart`, wait in `invalidateFinish`. */
  twoPassOps(): MmuIntervalNotifierOps {
    return {
      invalidateStart: (_sub, range, curSeq) => {
        if (!mmuNotifierRangeBlockable(range)) return false;
        this.zapAndIssue(range, curSeq);
        return this.finish;
      },
      invalidateFinish: () => this.waitFence(),
    };
  }
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** What {@link runTwoPassExample} measured. */
export interface TwoPassResult {
  /** Devices mirroring the buffer. */
  readonly devices: number;
  /** Virtual ns the munmap took when each device waits inside its one-pass callback. */
  readonly onePassNs: number;
  /** Virtual ns the munmap took with two-pass callbacks. */
  readonly twoPassNs: number;
  /** The callbacks' log with one pass, then with two. */
  readonly onePassLog: readonly string[];
  readonly twoPassLog: readonly string[];
}

async function munmapTime(devices: number, twoPass: boolean): Promise<{ ns: number; log: string[] }> {
  const machine = new Machine({ memory: 16 * 1024 * 1024, hugetlbPages: 0 });
  const proc = await machine.createProcess();
  const len = 16 * PAGE_SIZE;
  const addr = await proc.mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  await proc.store32(addr, 1);
  const log: string[] = [];
  for (let i = 0; i < devices; i++) {
    const d = new Device(`gpu${i}`, machine, log);
    const ret = await mmuIntervalNotifierInsert(
      d.sub,
      proc.mm,
      addr,
      len,
      twoPass ? d.twoPassOps() : d.onePassOps(),
    );
    if (ret !== 0) throw new Error(`mmu_interval_notifier_insert: ${ret}`);
  }
  const t0 = machine.sched.clock.now;
  const ret = await proc.munmap(addr, len);
  if (ret !== 0) throw new Error(`munmap: ${ret}`);
  return { ns: machine.sched.clock.now - t0, log };
}

/** Mirrors a buffer on `devices` devices and times its munmap with one-pass and two-pass callbacks. */
export async function runTwoPassExample(devices = 2): Promise<TwoPassResult> {
  const one = await munmapTime(devices, false);
  const two = await munmapTime(devices, true);
  return { devices, onePassNs: one.ns, twoPassNs: two.ns, onePassLog: one.log, twoPassLog: two.log };
}

if (argv[1] !== undefined && import.meta.url === pathToFileURL(argv[1]).href) {
  const r = await runTwoPassExample();
  console.log(
    `munmap of a buffer mirrored by ${r.devices} devices, TLB invalidation ${TLB_INVALIDATE_NS} ns each:`,
  );
  console.log(`  one pass:  ${r.onePassNs} ns`);
  for (const l of r.onePassLog) console.log(`    ${l}`);
  console.log(`  two passes: ${r.twoPassNs} ns`);
  for (const l of r.twoPassLog) console.log(`    ${l}`);
}

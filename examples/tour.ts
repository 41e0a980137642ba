/**
 * The README's five-minute tour, runnable: a process writes memory, a driver-side interval
 * notifier subscribes to the range, and hmmRangeFault describes it in hmm_pfns words.
 *
 * Run: npx tsx examples/tour.ts
 * @module
 */
import {
  HMM_PFN_REQ_FAULT,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmmPfnToPfn,
  hmmRangeFault,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  MmuIntervalNotifier,
  mmapReadLock,
  mmapReadUnlock,
  mmuIntervalNotifierInsert,
  mmuIntervalReadBegin,
  mmuIntervalSetSeq,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../src/index.ts';

/** Runs the tour; returns hmmRangeFault's result and the words it produced. */
export async function tour(): Promise<{ ret: number; words: bigint[]; written: number }> {
  const machine = new Machine(); // 256 MiB of RAM, THP on madvise
  const proc = await machine.createProcess();
  const addr = await proc.mmap(0, 8 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  await proc.store32(addr, 42); // a CPU write: a page fault, a new page

  // A device subscribes to invalidations of the range and mirrors it (Documentation/mm/hmm.rst).
  const sub = new MmuIntervalNotifier();
  await mmuIntervalNotifierInsert(sub, proc.mm, addr, 8 * PAGE_SIZE, {
    invalidate(s, _range, cur) {
      mmuIntervalSetSeq(s, cur); // and drop the device's translations of the range
      return true;
    },
  });
  const range = {
    notifier: sub,
    notifierSeq: await mmuIntervalReadBegin(sub),
    start: addr,
    end: addr + 8 * PAGE_SIZE,
    hmmPfns: new BigUint64Array(8),
    defaultFlags: HMM_PFN_REQ_FAULT,
    pfnFlagsMask: 0n,
    devPrivateOwner: null,
  };
  await mmapReadLock(proc.mm);
  const ret = await hmmRangeFault(range); // 0, or -EBUSY / -EFAULT / -EPERM
  mmapReadUnlock(proc.mm);
  // range.hmmPfns[i] = pfn | HMM_PFN_VALID [| HMM_PFN_WRITE] | order << HMM_PFN_ORDER_SHIFT
  const written = machine.pm.readU32(hmmPfnToPfn(range.hmmPfns[0]!), 0);
  return { ret, words: [...range.hmmPfns], written };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { ret, words, written } = await tour();
  console.log(`hmmRangeFault returned ${ret}`);
  words.forEach((w, i) => {
    const flags = `${w & HMM_PFN_VALID ? 'VALID' : ''}${w & HMM_PFN_WRITE ? '|WRITE' : ''}`;
    console.log(`  page ${i}: pfn ${hmmPfnToPfn(w)} ${flags}`);
  });
  console.log(`the device would read ${written} from page 0`);
}

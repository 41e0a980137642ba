/**
 * hmm_range_fault_unlocked_timeout (the 2026 lock-drop series, v8) and the userfaultfd it exists
 * for: a missing page of a registered range makes the fault drop the mmap lock and wait for the
 * handler; the locked entry point cannot wait (SIGBUS → -EFAULT); the unlocked one retries with a
 * fresh sequence number, returns -EINTR on a fatal signal, and checks its caller.
 */
import { describe, expect, it } from 'vitest';
import {
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmmPfnToPfn,
} from '../../../src/hmm/hmm-pfn.ts';
import type { HmmRange } from '../../../src/hmm/hmm-range.ts';
import { hmmRangeFault } from '../../../src/hmm/hmm-range-fault.ts';
import { hmmRangeFaultUnlockedTimeout, NSEC_PER_JIFFY } from '../../../src/hmm/hmm-range-fault-unlocked.ts';
import { EBADF, EBUSY, EEXIST, EFAULT, EINTR, EINVAL, ENOENT, ENOMEM } from '../../../src/index.ts';
import { PAGE_SIZE } from '../../../src/mm/constants.ts';
import { mmapReadLock, mmapReadUnlock } from '../../../src/mm/mmap-lock.ts';
import {
  UFFD_API,
  UFFD_EVENT_PAGEFAULT,
  UFFDIO_REGISTER_MODE_MISSING,
  type UffdMsg,
} from '../../../src/mm/userfaultfd.ts';
import { mmuIntervalReadBegin, mmuIntervalReadRetry } from '../../../src/notifier/interval-notifier.ts';
import { UsageError } from '../../../src/sim/errors.ts';
import { BASE, type Env, mapAnon, P, setupEnv } from './helpers.ts';

const N = 4;

function rangeOf(env: Env, start: number, n: number, flags = HMM_PFN_REQ_FAULT): HmmRange {
  return {
    notifier: env.sub,
    notifierSeq: 0,
    start,
    end: start + n * P,
    hmmPfns: new BigUint64Array(n),
    defaultFlags: flags,
    pfnFlagsMask: 0n,
    devPrivateOwner: null,
  };
}

/** A registered buffer and a handler thread answering each fault with UFFDIO_COPY of 0xAB bytes. */
async function uffdEnv() {
  const env = await setupEnv();
  await mapAnon(env, BASE, N * P);
  const uffd = env.proc.userfaultfd();
  expect(uffd.api(UFFD_API)).toBe(0);
  expect(await uffd.register(BASE, N * P, UFFDIO_REGISTER_MODE_MISSING)).toBe(0);
  const seen: UffdMsg[] = [];
  const page = new Uint8Array(PAGE_SIZE).fill(0xab);
  const handler = env.machine.sched.spawn('uffd handler', async () => {
    for (;;) {
      const msg = await uffd.read();
      if (msg === null) return;
      seen.push(msg);
      expect(await uffd.copy(Math.floor(msg.address / PAGE_SIZE) * PAGE_SIZE, page, PAGE_SIZE)).toBe(
        PAGE_SIZE,
      );
    }
  });
  return { env, uffd, seen, handler };
}

describe('userfaultfd', () => {
  it('a CPU read of a missing page waits for the handler, with the mmap lock dropped, then sees its data', async () => {
    const { env, uffd, seen, handler } = await uffdEnv();
    expect(await env.proc.load32(BASE + P + 8)).toBe(0xabababab);
    // Without UFFD_FEATURE_EXACT_ADDRESS the message carries the page's address.
    expect(seen).toEqual([{ event: UFFD_EVENT_PAGEFAULT, flags: 0, address: BASE + P }]);
    // Filled pages fault no more; a write to a filled page needs nothing.
    await env.proc.store32(BASE + P, 7);
    expect(seen.length).toBe(1);
    expect(await env.proc.close(uffd.fd)).toBe(0);
    await env.machine.sched.join(handler);
    // Unregistered: the next missing page is an ordinary zero-page fault.
    expect(await env.proc.load32(BASE + 2 * P)).toBe(0);
  });

  it('UFFDIO_COPY onto a populated page is -EEXIST; outside the range -ENOENT; bad arguments -EINVAL', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, N * P);
    await mapAnon(env, BASE + 8 * P, P);
    const uffd = env.proc.userfaultfd();
    expect(await uffd.register(BASE, N * P, UFFDIO_REGISTER_MODE_MISSING)).toBe(-EINVAL); // no UFFDIO_API
    expect(uffd.api(0x55)).toBe(-EINVAL);
    expect(uffd.api(UFFD_API)).toBe(0);
    expect(await uffd.register(BASE, 9 * P, UFFDIO_REGISTER_MODE_MISSING)).toBe(-EINVAL); // a hole
    expect(await uffd.register(BASE + 1, P, UFFDIO_REGISTER_MODE_MISSING)).toBe(-EINVAL);
    expect(await uffd.register(BASE, N * P, UFFDIO_REGISTER_MODE_MISSING)).toBe(0);
    const page = new Uint8Array(PAGE_SIZE).fill(1);
    expect(await uffd.copy(BASE, page, PAGE_SIZE)).toBe(PAGE_SIZE);
    expect(await uffd.copy(BASE, page, PAGE_SIZE)).toBe(-EEXIST);
    expect(await uffd.copy(BASE + 8 * P, page, PAGE_SIZE)).toBe(-ENOENT);
    expect(await uffd.zeropage(BASE + P, PAGE_SIZE)).toBe(PAGE_SIZE);
    expect(await env.proc.load32(BASE + P)).toBe(0);
    expect(await env.proc.load32(BASE)).toBe(0x01010101);
    // The registration splits the VMA at its edges and a forked child does not inherit it.
    const child = await env.proc.fork();
    expect(child.mm.vmaLookup(BASE + 2 * P)!.uffd).toBe(null);
    expect(await child.load32(BASE + 2 * P)).toBe(0);
    // The child holds the descriptor too: the context lives until both close it.
    await env.proc.close(uffd.fd);
    expect(await uffd.copy(BASE + 3 * P, page, PAGE_SIZE)).toBe(PAGE_SIZE);
    await child.close(uffd.fd);
    expect(await uffd.copy(BASE + 2 * P, page, PAGE_SIZE)).toBe(-EBADF);
  });
});

describe('hmm_range_fault on userfaultfd memory', () => {
  it('the locked entry point cannot let the fault wait: -EFAULT (VM_FAULT_SIGBUS), nothing queued', async () => {
    const { env, uffd, seen } = await uffdEnv();
    const range = rangeOf(env, BASE, N);
    range.notifierSeq = await mmuIntervalReadBegin(env.sub);
    await mmapReadLock(env.mm);
    const ret = await hmmRangeFault(range);
    mmapReadUnlock(env.mm);
    expect(ret).toBe(-EFAULT);
    expect(seen).toEqual([]);
    expect(uffd.pendingFaults).toBe(0);
  });

  it('hmm_range_fault_unlocked_timeout(range, 0): each fault drops the lock, the walk restarts, all pages come back', async () => {
    const { env, seen } = await uffdEnv();
    const range = rangeOf(env, BASE, N);
    const ret = await hmmRangeFaultUnlockedTimeout(range, 0);
    expect(ret).toBe(0);
    expect(env.mm.mmapLock.isLocked()).toBe(false);
    expect(seen.map((m) => m.address)).toEqual([BASE, BASE + P, BASE + 2 * P, BASE + 3 * P]);
    expect(mmuIntervalReadRetry(env.sub, range.notifierSeq)).toBe(false);
    for (let i = 0; i < N; i++) {
      const w = range.hmmPfns[i]!;
      expect(w & (HMM_PFN_VALID | HMM_PFN_WRITE)).toBe(HMM_PFN_VALID | HMM_PFN_WRITE);
      expect(env.machine.pm.readableBytes(hmmPfnToPfn(w))[0]).toBe(0xab);
    }
  });

  it('a bounded timeout succeeds the same way (the deadline restarts after each dropped lock)', async () => {
    const { env, seen } = await uffdEnv();
    const range = rangeOf(env, BASE, N);
    expect(await hmmRangeFaultUnlockedTimeout(range, 1000)).toBe(0);
    expect(seen.length).toBe(N);
  });

  it('the deadline restarts when a fault dropped the lock: a handler slower than the timeout still succeeds', async () => {
    // Each UFFDIO_COPY comes 3 ms (3 jiffies) after its fault, the timeout is 2 jiffies: every
    // attempt after the first starts past the previous deadline, and goes on because the fault
    // that ended the previous attempt dropped the mmap lock.
    const env = await setupEnv();
    await mapAnon(env, BASE, 2 * P);
    const uffd = env.proc.userfaultfd();
    expect(uffd.api(UFFD_API)).toBe(0);
    expect(await uffd.register(BASE, 2 * P, UFFDIO_REGISTER_MODE_MISSING)).toBe(0);
    const sched = env.machine.sched;
    const handler = sched.spawn('slow uffd handler', async () => {
      for (;;) {
        const msg = await uffd.read();
        if (msg === null) return;
        await sched.sleep(3 * NSEC_PER_JIFFY);
        await uffd.copy(msg.address, new Uint8Array(PAGE_SIZE).fill(1), PAGE_SIZE);
      }
    });
    const t0 = sched.clock.now;
    const range = rangeOf(env, BASE, 2);
    expect(await hmmRangeFaultUnlockedTimeout(range, 2)).toBe(0);
    expect(sched.clock.now - t0).toBeGreaterThanOrEqual(6 * NSEC_PER_JIFFY);
    for (let i = 0; i < 2; i++) expect(range.hmmPfns[i]! & HMM_PFN_VALID).toBe(HMM_PFN_VALID);
    expect(await env.proc.close(uffd.fd)).toBe(0);
    await sched.join(handler);
  });

  it('-EBUSY retries keep the deadline: a retry that would start after it gives -EBUSY', async () => {
    // A write fault on the zero page copies it under a CLEAR (wp_page_copy), so the walk that
    // faulted returns -EBUSY and retries; the fault costs 2 ms of virtual time and kept the lock.
    async function call(timeout: number): Promise<number> {
      const env = await setupEnv({ costs: { pageFaultNs: 2 * NSEC_PER_JIFFY } });
      await mapAnon(env, BASE, P);
      expect(await env.proc.load32(BASE)).toBe(0); // the zero page
      const range = rangeOf(env, BASE, 1, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
      const ret = await hmmRangeFaultUnlockedTimeout(range, timeout);
      expect(env.invalidations.length).toBe(1);
      expect(env.mm.mmapLock.isLocked()).toBe(false);
      return ret;
    }
    expect(await call(1)).toBe(-EBUSY);
    expect(await call(3)).toBe(0);
    expect(await call(0)).toBe(0);
  });

  it('-EINTR with a fatal signal pending; the caller must not hold the mmap lock; timeout must be jiffies', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, N * P);
    const range = rangeOf(env, BASE, N);
    await mmapReadLock(env.mm);
    await expect(hmmRangeFaultUnlockedTimeout(range, 0)).rejects.toThrow(UsageError);
    mmapReadUnlock(env.mm);
    await expect(hmmRangeFaultUnlockedTimeout(range, -1)).rejects.toThrow(UsageError);
    env.machine.sched.current.fatalSignalPending = true;
    try {
      expect(await hmmRangeFaultUnlockedTimeout(range, 0)).toBe(-EINTR);
    } finally {
      env.machine.sched.current.fatalSignalPending = false;
    }
    // Without userfaultfd it is hmm_range_fault with the lock taken and dropped for the caller.
    expect(await hmmRangeFaultUnlockedTimeout(range, 0)).toBe(0);
    expect(range.hmmPfns[0]! & HMM_PFN_VALID).toBe(HMM_PFN_VALID);
  });
});

describe('vm_fault_to_errno (the series, both entry points)', () => {
  async function oomCall(kernelVersion: 'mainline' | '6.12'): Promise<number> {
    const env = await setupEnv({ kernelVersion });
    await mapAnon(env, BASE, N * P);
    await env.proc.store32(BASE, 1);
    const pm = env.machine.pm;
    while (pm.allocPages(9) !== 0);
    while (pm.allocPages(0) !== 0);
    const range = rangeOf(env, BASE + P, 1, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
    range.notifierSeq = await mmuIntervalReadBegin(env.sub);
    await mmapReadLock(env.mm);
    const ret = await hmmRangeFault(range);
    mmapReadUnlock(env.mm);
    return ret;
  }

  it('a fault out of memory is -ENOMEM (mainline), -EFAULT with kernelVersion 6.12', async () => {
    expect(await oomCall('mainline')).toBe(-ENOMEM);
    expect(await oomCall('6.12')).toBe(-EFAULT);
  });
});

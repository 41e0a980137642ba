import { describe, expect, it } from 'vitest';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../../../src/mm/constants.ts';
import { oomReapTaskMm } from '../../../src/mm/oom-kill.ts';
import { BusError } from '../../../src/mm/signals.ts';
import { MiB, rejectionOf, smallMachine } from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const A = 0x4000_0000;
const THP = A + 8 * PMD_SIZE;
const PRIV = A + 16 * PMD_SIZE;
const SHARED = A + 20 * PMD_SIZE;

async function victim() {
  const m = smallMachine({ memory: 32 * MiB, thp: 'always' });
  const p = await m.createProcess();
  const anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
  expect(await p.mmap(A, 4 * PAGE_SIZE, RW, anon, -1, 0)).toBe(A);
  expect(await p.mmap(THP, 2 * PMD_SIZE, RW, anon, -1, 0)).toBe(THP);
  const fd = await p.createTmpFile(2 * PAGE_SIZE);
  expect(await p.mmap(SHARED, 2 * PAGE_SIZE, RW, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(SHARED);
  expect(await p.mmap(PRIV, 2 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_FIXED, fd, 0)).toBe(PRIV);
  await p.store32(A, 0x1111);
  await p.store32(THP, 0x2222);
  await p.store32(SHARED, 0x3333);
  await p.store32(SHARED + PAGE_SIZE, 0x4444);
  await p.store32(PRIV, 0x5555); // a private COW copy
  return { m, p };
}

describe('OOM reaper (__oom_reap_task_mm)', () => {
  it('marks the mm MMF_UNSTABLE: faults that would map fresh private memory raise SIGBUS', async () => {
    const { p } = await victim();
    expect(p.mm.mmfUnstable).toBe(false);
    expect(await oomReapTaskMm(p.mm)).toBe(true);
    expect(p.mm.mmfUnstable).toBe(true);
    // Reaped anonymous memory: a read (zero page) and a write (new page) both fail, at PTE level
    // and where a THP would be mapped (do_anonymous_page, do_huge_pmd_anonymous_page).
    for (const access of [() => p.load32(A), () => p.store32(A + PAGE_SIZE, 1), () => p.load32(THP + 64)]) {
      const err = await rejectionOf(access());
      expect(err).toBeInstanceOf(BusError);
    }
    expect(((await rejectionOf(p.store32(THP + PMD_SIZE, 1))) as BusError).addr).toBe(THP + PMD_SIZE);
    // A private file mapping lost its COW copy: even a read fault is refused (finish_fault).
    expect(await rejectionOf(p.load32(PRIV))).toBeInstanceOf(BusError);
    // Shared file memory is not reaped and still faults in normally.
    expect(await p.load32(SHARED)).toBe(0x3333);
    expect(await p.load32(SHARED + PAGE_SIZE)).toBe(0x4444);
  });

  it('leaves the mm stable when it cannot take the mmap lock', async () => {
    const { p } = await victim();
    await p.mm.mmapLock.downWrite();
    expect(await oomReapTaskMm(p.mm)).toBe(false);
    p.mm.mmapLock.upWrite();
    expect(p.mm.mmfUnstable).toBe(false);
    expect(await p.load32(A)).toBe(0x1111);
  });
});

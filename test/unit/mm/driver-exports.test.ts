/**
 * What drivers need from the public API under the kernel's names: folio references and the page
 * lock, migrate-pfn words with exact arithmetic above 2^32, and driver preemption points and
 * delays.
 */
import { describe, expect, it } from 'vitest';
import {
  condResched,
  folioGet,
  folioLock,
  folioPut,
  folioRefCount,
  folioTestLocked,
  folioTrylock,
  folioUnlock,
  folioWaitLocked,
  getPage,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  migratePfn,
  migratePfnToPage,
  mpfnClear,
  mpfnFlags,
  mpfnHas,
  mpfnSet,
  msleep,
  ndelay,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  Prng,
  putPage,
  RandomPolicy,
  UsageError,
  udelay,
} from '../../../src/index.ts';

async function anonPage() {
  const machine = new Machine({ memory: 16 * 1024 * 1024, hugetlbPages: 0 });
  const p = await machine.createProcess();
  const addr = await p.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  await p.store32(addr, 0xabcdef01);
  return { machine, p, pfn: frameHolding(machine, 0xabcdef01) };
}

/** The RAM frame whose first word is `word`. */
function frameHolding(machine: Machine, word: number): number {
  const b = new Uint8Array(4);
  for (let pfn = 1; pfn < machine.pm.ramFrames; pfn++) {
    if (!machine.pm.hasData(pfn)) continue;
    machine.pm.readBytes(pfn, 0, b, 0, 4);
    if (new DataView(b.buffer).getUint32(0, true) === word) return pfn;
  }
  throw new Error('no frame holds the word');
}

describe('folio references and the page lock', () => {
  it('folio_get / folio_put count references; the last put frees the folio', async () => {
    const { machine, p, pfn } = await anonPage();
    const before = folioRefCount(machine, pfn);
    folioGet(machine, pfn);
    getPage(machine, pfn);
    expect(folioRefCount(machine, pfn)).toBe(before + 2);
    folioPut(machine, pfn);
    putPage(machine, pfn);
    expect(folioRefCount(machine, pfn)).toBe(before);
    folioGet(machine, pfn);
    await p.exit();
    // The process is gone; our reference keeps the page until we put it.
    expect(folioRefCount(machine, pfn)).toBe(1);
    const free = machine.pm.freeFrames;
    folioPut(machine, pfn);
    expect(machine.pm.freeFrames).toBe(free + 1);
    expect(() => folioPut(machine, pfn)).toThrow(UsageError);
    expect(() => folioGet(machine, 0)).toThrow(/not a frame/);
  });

  it('folio_lock waits for folio_unlock; trylock fails while held; folio_wait_locked returns after the unlock', async () => {
    const { machine, pfn } = await anonPage();
    const sched = machine.sched;
    sched.policy = new RandomPolicy(new Prng(3));
    expect(folioTrylock(machine, pfn)).toBe(true);
    expect(folioTrylock(machine, pfn)).toBe(false);
    expect(folioTestLocked(machine, pfn)).toBe(true);
    const order: string[] = [];
    const locker = sched.spawn('locker', async () => {
      await folioLock(machine, pfn);
      order.push('locked');
      folioUnlock(machine, pfn);
    });
    const waiter = sched.spawn('waiter', async () => {
      await folioWaitLocked(machine, pfn);
      order.push('unlocked seen');
    });
    await condResched(machine, 'main');
    await condResched(machine, 'main');
    order.push('unlock');
    folioUnlock(machine, pfn);
    await sched.join(locker);
    await sched.join(waiter);
    expect(order[0]).toBe('unlock');
    expect(order).toContain('locked');
    expect(folioTestLocked(machine, pfn)).toBe(false);
  });
});

describe('migrate-pfn words', () => {
  it('keep pfns above 2^32 exact where 32-bit | and & would truncate them', () => {
    const pfn = 2 ** 33 + 5;
    const w = migratePfn(pfn);
    expect(migratePfnToPage(w)).toBe(pfn);
    expect(w | MIGRATE_PFN_MIGRATE).not.toBe(w + MIGRATE_PFN_MIGRATE); // the trap
    const m = mpfnSet(w, MIGRATE_PFN_MIGRATE | MIGRATE_PFN_WRITE);
    expect(m).toBe(w + MIGRATE_PFN_MIGRATE + MIGRATE_PFN_WRITE);
    expect(mpfnHas(m, MIGRATE_PFN_VALID | MIGRATE_PFN_WRITE)).toBe(true);
    expect(mpfnFlags(m)).toBe(MIGRATE_PFN_VALID | MIGRATE_PFN_MIGRATE | MIGRATE_PFN_WRITE);
    const c = mpfnClear(m, MIGRATE_PFN_MIGRATE);
    expect(mpfnHas(c, MIGRATE_PFN_MIGRATE)).toBe(false);
    expect(migratePfnToPage(c)).toBe(pfn);
    expect(mpfnSet(m, MIGRATE_PFN_MIGRATE)).toBe(m);
  });
});

describe('driver preemption points and delays', () => {
  it('ndelay and udelay charge virtual time and pass a point; msleep sleeps', async () => {
    const { machine } = await anonPage();
    const clock = machine.sched.clock;
    const steps = machine.sched.steps;
    const t0 = clock.now;
    await ndelay(machine, 300);
    await udelay(machine, 2);
    expect(clock.now - t0).toBe(2300);
    expect(machine.sched.steps).toBe(steps + 2);
    await msleep(machine, 3);
    expect(clock.now - t0).toBe(2300 + 3e6);
    await expect(ndelay(machine, -1)).rejects.toThrow(UsageError);
  });
});

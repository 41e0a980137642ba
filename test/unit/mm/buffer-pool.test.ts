import { describe, expect, it } from 'vitest';
import { MAP_ANONYMOUS, MAP_PRIVATE, Machine, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../../../src/index.ts';
import { BufferPool } from '../../../src/mm/buffer-pool.ts';
import { ensureEntry, PageTablePool } from '../../../src/mm/page-table.ts';
import { freePgtables } from '../../../src/mm/pgwalk.ts';

const pool = new BufferPool();
const OPTS = { memory: 8 * 1024 * 1024, hugetlbPages: 0, bufferPool: pool };

/** A machine with one process that wrote `value` to a fresh page; returns the machine and the page's bytes. */
async function machineWithWrite(value: number): Promise<{ m: Machine; bytes: number[] }> {
  const m = new Machine(OPTS);
  const p = await m.createProcess();
  const addr = await p.mmap(0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  await p.store32(addr + 8, value);
  const bytes = [...(await p.read(addr, 16)), ...(await p.read(addr + PAGE_SIZE, 4))];
  return { m, bytes };
}

describe('buffer pool and Kernel.dispose', () => {
  it('hands an entry out once, and keeps an entry given twice only once', () => {
    const own = new BufferPool();
    const a = new Uint8Array(64);
    own.give('t', a, 64);
    own.give('t', a, 64);
    expect(own.bytes).toBe(64);
    expect(pool.bytes).toBe(0);
    expect(own.take('t')).toBe(a);
    expect(own.take('t')).toBeUndefined();
    expect(own.bytes).toBe(0);
  });

  it('a machine built from a disposed one starts zeroed and behaves the same', async () => {
    pool.clear();
    const first = await machineWithWrite(0xdeadbeef);
    for (const p of first.m.processes) await p.exit();
    const freeBefore = first.m.pm.freeFrames;
    expect(first.m.dispose()).toBe(true);
    expect(first.m.disposed).toBe(true);
    expect(first.m.pm.refcount.length).toBe(0);
    expect(first.m.pt.words.length).toBe(0);
    expect(pool.bytes).toBeGreaterThan(0);

    const second = new Machine(OPTS);
    expect(second.pm.freeFrames).toBe(freeBefore);
    // Every frame's metadata is as on a fresh machine, and no page table word survived.
    const fresh = new Machine(OPTS);
    expect([...second.pm.flags]).toEqual([...fresh.pm.flags]);
    expect([...second.pm.refcount]).toEqual([...fresh.pm.refcount]);
    expect(second.pt.words.every((w) => w === 0)).toBe(true);
    // A page whose content slot held the first machine's bytes reads as zeros before it is written.
    const again = await machineWithWrite(0x01020304);
    expect(again.bytes).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 4, 3, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(first.bytes).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0xef, 0xbe, 0xad, 0xde, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('a machine without a pool gives nothing to another', async () => {
    pool.clear();
    const m = new Machine({ memory: OPTS.memory, hugetlbPages: 0 });
    expect(m.dispose()).toBe(true);
    expect(pool.bytes).toBe(0);
  });

  it('gives nothing back while a simulated thread is unfinished', async () => {
    const m = new Machine(OPTS);
    m.sched.spawn('parked', () => m.sched.block('forever'));
    await m.sched.yield('let it run');
    expect(m.dispose()).toBe(false);
    expect(m.disposed).toBe(false);
    expect(m.pm.refcount.length).toBeGreaterThan(0);
  });
});

describe('freePgtables with a floor and a ceiling', () => {
  it('visits only the range but frees tables up to the floor and ceiling', () => {
    const pool = new PageTablePool();
    const pgd = pool.alloc();
    ensureEntry(pool, pgd, 5, 1);
    expect(pool.inUse).toBe(4);
    // The range's PTE table spans [0, 512): freed only when the whole span lies within [floor, ceiling).
    freePgtables(pool, pgd, 5, 6, 1, 2 ** 35);
    expect(pool.inUse).toBe(4);
    freePgtables(pool, pgd, 5, 6, 0, 2 ** 35);
    expect(pool.inUse).toBe(1);
  });
});

describe('freePgtables skipping empty entries four at a time', () => {
  it('frees tables at every position of a group of four, and at the ends of a partial range', () => {
    // One mapped page under PGD entry g, PUD entry u and PMD entry d, for every g, u, d around
    // the groups' edges (the walk skips four none entries at once when their lo words are 0).
    const positions = [0, 1, 2, 3, 4, 5, 7, 8, 255, 256, 508, 509, 510, 511];
    for (const g of [0, 1, 3, 4, 254, 255]) {
      for (const u of positions) {
        const d = positions[(g + u) % positions.length]!;
        const pool = new PageTablePool();
        const pgd = pool.alloc();
        const vpn = g * 512 ** 3 + u * 512 ** 2 + d * 512 + 7;
        ensureEntry(pool, pgd, vpn, 1);
        expect(pool.inUse).toBe(4);
        // A range ending just past the page (a partial last group) and exit's whole space.
        freePgtables(pool, pgd, vpn, vpn + 1, 0, 2 ** 36);
        expect(pool.inUse, `g ${g} u ${u} d ${d}`).toBe(1);
        ensureEntry(pool, pgd, vpn, 1);
        freePgtables(pool, pgd, 0, 2 ** 35 + 1);
        expect(pool.inUse, `g ${g} u ${u} d ${d} (whole space)`).toBe(1);
      }
    }
  });
});

/**
 * Memory cgroups (mm/memcontrol.c): charges on fault, COW, swap-in, page cache and migration into
 * holes; transfers on migration both ways (device-private pages keep the charge); uncharge on
 * free; the limit: a fault OOMs, a THP falls back, a hole is not migrated.
 */
import { describe, expect, it } from 'vitest';
import {
  ENOENT,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_NONE,
  HMM_DMIRROR_PROT_WRITE,
  MADV_HUGEPAGE,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  OutOfMemoryKill,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
  UsageError,
} from '../../../src/index.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const P = PAGE_SIZE;

async function boot(max = Infinity, options: ConstructorParameters<typeof Machine>[0] = {}) {
  const m = new Machine({ memory: 64 * 1024 * 1024, hugetlbPages: 0, ...options });
  const g = m.createMemCgroup('job', { max });
  const p = await m.createProcess();
  p.joinMemCgroup(g);
  return { m, g, p };
}

describe('memory cgroup charges', () => {
  it('a write fault charges a page (memory.current, memory.stat anon); a read of the zero page nothing', async () => {
    const { g, p } = await boot();
    const a = await p.mmap(0, 4 * P, RW, ANON, -1, 0);
    await p.load32(a);
    expect(g.current).toBe(0);
    for (let i = 0; i < 3; i++) await p.store32(a + i * P, i);
    expect(g.current).toBe(3 * P);
    expect(g.stat).toEqual({ anon: 3 * P, file: 0, shmem: 0 });
    expect(await p.munmap(a, 4 * P)).toBe(0);
    expect(g.current).toBe(0);
  });

  it('copy-on-write charges the copy to the writer; exit uncharges', async () => {
    const { g, p } = await boot();
    const a = await p.mmap(0, 2 * P, RW, ANON, -1, 0);
    await p.store32(a, 1);
    await p.store32(a + P, 2);
    const c = await p.fork();
    expect(g.current).toBe(2 * P);
    await c.store32(a, 3);
    expect(g.current).toBe(3 * P);
    await c.exit();
    expect(g.current).toBe(2 * P);
    await p.exit();
    expect(g.current).toBe(0);
  });

  it('page cache is charged as file (shmem also as shmem) to the process bringing it in', async () => {
    const { g, p } = await boot();
    const fd = await p.createTmpFile(2 * P);
    expect(await p.pwrite(fd, new Uint8Array(2 * P).fill(1), 0)).toBe(2 * P);
    expect(g.stat).toEqual({ anon: 0, file: 2 * P, shmem: 0 });
    const s = await p.mmap(0, 3 * P, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    await p.load32(s);
    await p.store32(s + P, 1);
    expect(g.stat).toEqual({ anon: 0, file: 4 * P, shmem: 2 * P });
    expect(g.current).toBe(4 * P);
  });

  it('at memory.max a fault is an OOM kill (memory.events max, oom, oom_kill); nothing is charged', async () => {
    const { g, p } = await boot(2 * P);
    const a = await p.mmap(0, 4 * P, RW, ANON, -1, 0);
    await p.store32(a, 1);
    await p.store32(a + P, 1);
    await expect(p.store32(a + 2 * P, 1)).rejects.toThrow(OutOfMemoryKill);
    expect(g.current).toBe(2 * P);
    expect(g.events).toEqual({ max: 1, oom: 1, oomKill: 1 });
    // Reads of untouched memory still map the zero page.
    expect(await p.load32(a + 3 * P)).toBe(0);
  });

  it('a THP that would exceed the limit falls back to a small page (no OOM)', async () => {
    const { g, p } = await boot(PMD_SIZE - P, { thp: 'always' });
    const base = await p.mmap(0, 2 * PMD_SIZE, RW, ANON, -1, 0);
    const a = Math.ceil(base / PMD_SIZE) * PMD_SIZE;
    await p.store32(a, 1);
    expect(g.current).toBe(P);
    expect(g.events).toEqual({ max: 1, oom: 0, oomKill: 0 });
  });

  it('swap-out uncharges and swap-in charges again; swap-in at the limit is an OOM', async () => {
    const { g, p } = await boot(Infinity, { swap: 1024 * 1024 });
    const a = await p.mmap(0, 2 * P, RW, ANON, -1, 0);
    await p.store32(a, 5);
    await p.store32(a + P, 6);
    expect(await p.madvise(a, 2 * P, MADV_PAGEOUT)).toBe(0);
    expect(g.current).toBe(0);
    expect(await p.load32(a)).toBe(5);
    expect(g.current).toBe(P);
    g.max = P;
    await expect(p.load32(a + P)).rejects.toThrow(OutOfMemoryKill);
    expect(g.events.max).toBe(1);
  });

  it('checks its arguments', async () => {
    const { m, p } = await boot();
    expect(() => m.createMemCgroup('job')).toThrow(UsageError);
    expect(() => m.createMemCgroup('x', { max: -1 })).toThrow(UsageError);
    const other = new Machine({ memory: 16 * 1024 * 1024, hugetlbPages: 0 });
    expect(() => p.joinMemCgroup(other.createMemCgroup('job'))).toThrow(UsageError);
  });
});

describe('memory cgroups and device memory (hmm.rst)', () => {
  it('migration to device-private memory and back moves the charge: memory.current does not change', async () => {
    const { m, g, p } = await boot();
    const dev = m.addDmirrorDevice();
    const file = await dev.open(p);
    const a = await p.mmap(0, 4 * P, RW, ANON, -1, 0);
    for (let i = 0; i < 4; i++) await p.store32(a + i * P, i);
    expect(g.current).toBe(4 * P);
    const r = await file.migrateToDev(a, 4);
    expect([r.ret, r.cpages]).toEqual([0, 4]);
    expect(g.current).toBe(4 * P);
    expect(g.stat.anon).toBe(4 * P);
    // Migrating back cannot fail on the limit, even with the group at (or over) it.
    g.max = 0;
    expect((await file.migrateToSys(a, 4)).ret).toBe(0);
    expect(g.current).toBe(4 * P);
    for (let i = 0; i < 4; i++) expect(await p.load32(a + i * P)).toBe(i);
    expect(g.events.max).toBe(0);
    g.max = Infinity;
    await file.migrateToDev(a, 4);
    expect(await p.munmap(a, 4 * P)).toBe(0);
    expect(g.current).toBe(0);
  });

  it('a hole migrated to the device charges the device page; at the limit the hole is not migrated', async () => {
    const { m, g, p } = await boot();
    const dev = m.addDmirrorDevice();
    const file = await dev.open(p);
    const a = await p.mmap(0, 4 * P, RW, ANON, -1, 0);
    expect((await file.migrateToDev(a, 2)).ret).toBe(0);
    expect(g.current).toBe(2 * P);
    let s = await file.snapshot(a, 4);
    expect([...s.prot]).toEqual([
      HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE,
      HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE,
      HMM_DMIRROR_PROT_NONE,
      HMM_DMIRROR_PROT_NONE,
    ]);
    g.max = 2 * P;
    // dmirror reads the range back through its page table: the pages are not there (-ENOENT).
    expect((await file.migrateToDev(a + 2 * P, 2)).ret).toBe(-ENOENT);
    s = await file.snapshot(a + 2 * P, 2);
    expect([...s.prot]).toEqual([HMM_DMIRROR_PROT_NONE, HMM_DMIRROR_PROT_NONE]);
    expect(g.current).toBe(2 * P);
    expect(g.events.max).toBe(2);
    expect(g.events.oom).toBe(0);
  });

  it('a group with no process costs nothing; processes outside every group are not charged', async () => {
    const m = new Machine({ memory: 16 * 1024 * 1024, hugetlbPages: 0 });
    const g = m.createMemCgroup('idle');
    const p = await m.createProcess();
    const a = await p.mmap(0, P, RW, ANON, -1, 0);
    await p.store32(a, 1);
    expect(g.current).toBe(0);
    expect(await p.madvise(a, P, MADV_HUGEPAGE)).toBe(0);
  });
});

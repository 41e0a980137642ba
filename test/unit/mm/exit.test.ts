/** exit(2) and the address-space lifetime: everything comes back, mm_users / mm_count, events. */
import { describe, expect, it } from 'vitest';
import {
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  MMU_NOTIFY_UNMAP,
  mmdrop,
  mmget,
  mmgetNotZero,
  mmgrab,
  mmput,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
  ULONG_MAX,
} from '../../../src/index.ts';
import { diffAt } from './bytes.ts';
import { MiB, pattern, recordInvalidations } from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const P = PAGE_SIZE;
const A = 0x4000_0000;

async function boot(options: ConstructorParameters<typeof Machine>[0] = {}) {
  const m = new Machine({ memory: 32 * MiB, hugetlbPages: 2, swap: MiB, thp: 'always', ...options });
  const free0 = m.pm.freeFrames;
  const p = await m.createProcess();
  return { m, p, free0 };
}

type Proc = Awaited<ReturnType<typeof boot>>['p'];

/** Uses every kind of memory: anonymous, THP, shmem, file (private and shared), hugetlb, swap. */
async function useEverything(p: Proc): Promise<void> {
  expect(await p.mmap(A, PMD_SIZE + 4 * P, RW, ANON | MAP_FIXED, -1, 0)).toBe(A);
  await p.write(A, pattern(64)); // a THP
  await p.write(A + PMD_SIZE, pattern(4 * P, 2)); // small pages
  expect(await p.madvise(A + PMD_SIZE, 2 * P, MADV_PAGEOUT)).toBe(0); // two in swap
  const sh = await p.mmap(0, 2 * P, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  await p.write(sh, pattern(2 * P, 3));
  const fd = await p.createTmpFile(3 * P);
  const f = await p.mmap(0, 3 * P, RW, MAP_SHARED, fd, 0);
  await p.write(f, pattern(3 * P, 4));
  const pf = await p.mmap(0, 3 * P, RW, MAP_PRIVATE, fd, 0);
  await p.store32(pf + P, 9);
  const h = await p.mmap(0, PMD_SIZE, RW, ANON | MAP_HUGETLB, -1, 0);
  await p.store32(h, 1);
}

describe('exit', () => {
  it('returns every frame, page table, swap slot and huge page', async () => {
    const { m, p, free0 } = await boot();
    await useEverything(p);
    expect(m.pm.freeFrames).toBeLessThan(free0);
    expect(m.swap.inUse).toBe(2);
    expect(m.hugetlb.freeHugePages).toBe(1);
    expect(m.pt.inUse).toBeGreaterThan(1);
    await p.exit();
    expect(m.pm.freeFrames).toBe(free0);
    expect(m.swap.inUse).toBe(0);
    expect(m.hugetlb.freeHugePages).toBe(2);
    expect(m.pt.inUse).toBe(0);
    expect(p.mm.vmas).toEqual([]);
    expect([...p.mm.rss]).toEqual([0, 0, 0, 0]);
    expect(p.mm.hugetlbPages).toBe(0);
  });

  it('drops mm_users and mm_count to zero: the mm is torn down and its PGD freed', async () => {
    const { m, p } = await boot();
    const mm = p.mm;
    expect([mm.mmUsers, mm.mmCount]).toEqual([1, 1]);
    expect(m.mms.has(mm)).toBe(true);
    await p.exit();
    expect([mm.mmUsers, mm.mmCount, mm.exited, mm.pgd]).toEqual([0, 0, true, 0]);
    expect(m.mms.has(mm)).toBe(false);
    expect(mmgetNotZero(mm)).toBe(false);
  });

  it('an mm_users reference (mmget) keeps the address space alive after exit until mmput', async () => {
    const { m, p, free0 } = await boot();
    await p.mmap(A, P, RW, ANON | MAP_FIXED, -1, 0);
    await p.store32(A, 5);
    mmget(p.mm);
    await p.exit();
    expect([p.mm.mmUsers, p.mm.exited, p.mm.vmas.length]).toEqual([1, false, 1]);
    expect(m.pm.freeFrames).toBe(free0 - 1);
    await mmput(p.mm);
    expect([p.mm.mmUsers, p.mm.mmCount, p.mm.exited]).toEqual([0, 0, true]);
    expect(m.pm.freeFrames).toBe(free0);
    expect(m.pt.inUse).toBe(0);
  });

  it('an mm_count reference (mmgrab) keeps only the structure: pages go, the PGD stays until mmdrop', async () => {
    const { m, p, free0 } = await boot();
    await p.mmap(A, P, RW, ANON | MAP_FIXED, -1, 0);
    await p.store32(A, 5);
    mmgrab(p.mm);
    expect(mmgetNotZero(p.mm)).toBe(true); // a user reference taken and given back
    await mmput(p.mm);
    await p.exit();
    expect([p.mm.mmUsers, p.mm.mmCount, p.mm.exited]).toEqual([0, 1, true]);
    expect(p.mm.vmas).toEqual([]);
    expect(m.pm.freeFrames).toBe(free0);
    expect(m.pt.inUse).toBe(1);
    expect(p.mm.pgd).not.toBe(0);
    mmdrop(p.mm);
    expect([p.mm.mmCount, p.mm.pgd, m.pt.inUse]).toEqual([0, 0, 0]);
    expect(m.mms.has(p.mm)).toBe(false);
  });

  it('announces one UNMAP over the whole address space', async () => {
    const { m, p } = await boot();
    await p.mmap(A, P, RW, ANON | MAP_FIXED, -1, 0);
    await p.store32(A, 5);
    const rec = recordInvalidations(m);
    await p.exit();
    rec.stop();
    expect(rec.events.map((e) => [e.mm, e.event, e.start, e.end])).toEqual([
      [p.mm.id, MMU_NOTIFY_UNMAP, 0, ULONG_MAX],
    ]);
  });

  it('a parent exiting leaves the child its copy-on-write pages, swap slots and files', async () => {
    const { m, p, free0 } = await boot();
    await useEverything(p);
    const c = await p.fork();
    expect(m.swap.inUse).toBe(2);
    await p.exit();
    expect(m.swap.inUse).toBe(2); // still referenced by the child
    expect(diffAt(await c.read(A, 64), pattern(64))).toBe(-1);
    expect(diffAt(await c.read(A + PMD_SIZE, 4 * P), pattern(4 * P, 2))).toBe(-1);
    expect(m.swap.inUse).toBe(0);
    const sh = c.mm.vmas.find((v) => v.file?.shmem)!.start;
    expect(diffAt(await c.read(sh, 2 * P), pattern(2 * P, 3))).toBe(-1);
    await c.exit();
    expect(m.pm.freeFrames).toBe(free0);
    expect(m.hugetlb.freeHugePages).toBe(2);
    expect(m.pt.inUse).toBe(0);
  });

  it('a child exiting first leaves the parent intact, then the parent returns the rest', async () => {
    const { m, p, free0 } = await boot();
    await useEverything(p);
    const c = await p.fork();
    await c.store32(A + 3 * P, 1); // a private copy in the child
    await c.exit();
    expect(diffAt(await p.read(A + PMD_SIZE, 4 * P), pattern(4 * P, 2))).toBe(-1);
    await p.exit();
    expect(m.pm.freeFrames).toBe(free0);
    expect(m.swap.inUse).toBe(0);
    expect(m.pt.inUse).toBe(0);
  });
});

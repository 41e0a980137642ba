/**
 * 1 GiB (gigantic) hugetlb pages mapped by PUD leaves: the pool boot reserves
 * (`hugepagesz=1G hugepages=N`), and every path a PUD leaf crosses — fault, fork and COW, zap,
 * GUP pins and unsharing, mprotect, mremap, MADV_DONTFORK, pagemap, vmsplice, hugetlbfs memfds.
 */
import { describe, expect, it } from 'vitest';
import {
  FOLL_LONGTERM,
  FOLL_PIN,
  getUserPages,
  HPAGE_PUD_ORDER,
  MADV_DONTFORK,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGE_1GB,
  MAP_HUGE_2MB,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MFD_HUGE_SHIFT,
  MFD_HUGETLB,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  mmapReadLock,
  mmapReadUnlock,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
  PUD_SIZE,
  unpinUserPage,
} from '../../../src/mm/index.ts';
import { MMU_NOTIFY_CLEAR } from '../../../src/mm/mmu-notifier.ts';
import { PG_anon_exclusive, PG_hugetlb } from '../../../src/mm/page-flags.ts';
import { PhysMem } from '../../../src/mm/physmem.ts';
import { Pipe } from '../../../src/mm/pipe.ts';
import { PTE_PRESENT } from '../../../src/mm/pte.ts';
import { PM_PRESENT, pagemapGetEntry } from '../../../src/selftest/harness/pagemap.ts';
import { EINVAL, ENOMEM, ENOSPC } from '../../../src/sim/errno.ts';
import { leafAt, pattern, recordInvalidations, smallMachine } from './helpers.ts';

const GiB = PUD_SIZE;
const NR = 2 ** HPAGE_PUD_ORDER;
const RW = PROT_READ | PROT_WRITE;
const HUGE_1G = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_HUGETLB | MAP_HUGE_1GB;
const A = 4 * GiB;
const B = 8 * GiB;

/** A machine with `pages` gigantic pages (memory: one GiB more than they take) and a process. */
async function gigantic(pages: number) {
  const m = smallMachine({ memory: (pages + 1) * GiB, giganticPages: pages });
  const p = await m.createProcess();
  return { m, p };
}

/** `gigantic(pages)` with a 1 GiB private hugetlb mapping at A. */
async function mapped(pages: number) {
  const env = await gigantic(pages);
  expect(await env.p.mmap(A, GiB, RW, HUGE_1G, -1, 0)).toBe(A);
  return env;
}

describe('the 1 GiB pool (hugepagesz=1G hugepages=N)', () => {
  it('takes 1 GiB-aligned runs of free memory from the top; the first GiB (zero pages) never', () => {
    const pm = new PhysMem(3 * GiB);
    const free = pm.freeFrames;
    const a = pm.allocGigantic(HPAGE_PUD_ORDER);
    const b = pm.allocGigantic(HPAGE_PUD_ORDER);
    expect([a, b]).toEqual([2 * NR, NR]);
    expect(pm.allocGigantic(HPAGE_PUD_ORDER)).toBe(0);
    expect(pm.freeFrames).toBe(free - 2 * NR);
    expect([pm.order[a], pm.order[a + NR - 1], pm.folioHead(a + 12345)]).toEqual([18, 18, a]);
    // The rest of the first GiB still serves the page allocator.
    expect(pm.allocPages(9)).toBeGreaterThan(0);
  });

  it('a machine reserves them at boot; too many for its memory is a clear error', async () => {
    const { m } = await gigantic(2);
    expect([m.hugetlbGigantic.nrHugePages, m.hugetlbGigantic.freeHugePages]).toEqual([2, 2]);
    expect([m.hugetlbGigantic.size, m.hugetlbGigantic.level, m.hugetlbGigantic.order]).toEqual([GiB, 3, 18]);
    expect(() => smallMachine({ memory: 2 * GiB, giganticPages: 2 })).toThrow(/giganticPages/);
  });
});

describe('mmap(MAP_HUGETLB | MAP_HUGE_1GB)', () => {
  it('reserves one gigantic page per GiB; none left is -ENOMEM; an unknown size -EINVAL', async () => {
    const { m, p } = await gigantic(1);
    expect(await p.mmap(A, 2 * GiB, RW, HUGE_1G, -1, 0)).toBe(-ENOMEM);
    expect(await p.mmap(A, GiB, RW, HUGE_1G, -1, 0)).toBe(A);
    expect(m.hugetlbGigantic.resvHugePages).toBe(1);
    expect(m.hugetlb.resvHugePages).toBe(0);
    expect(await p.mmap(B, GiB, RW, HUGE_1G, -1, 0)).toBe(-ENOMEM);
    expect(await p.mmap(B, GiB, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (25 << 26), -1, 0)).toBe(
      -EINVAL,
    );
    // A MAP_FIXED address must be 1 GiB-aligned; a length rounds up to a whole page.
    expect(await p.mmap(B + PMD_SIZE, GiB, RW, HUGE_1G, -1, 0)).toBe(-EINVAL);
    expect(await p.munmap(A, GiB)).toBe(0);
    expect(
      await p.mmap(0, 4096, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_1GB, -1, 0),
    ).toSatisfy((a: number) => a > 0 && a % GiB === 0);
  });
});

describe('hugetlb PUD leaves', () => {
  it('a fault maps the whole gigantic page with one PUD leaf (read-only on a read)', async () => {
    const { m, p } = await mapped(1);
    expect(await p.read(A + 0x1234_5678, 4)).toEqual(new Uint8Array(4));
    const e = leafAt(m, p.mm, A + 0x1234_5678);
    expect([e.level, e.kind, e.leaf, e.write]).toEqual([3, PTE_PRESENT, true, false]);
    expect(m.pm.flags[e.pfn]! & PG_hugetlb).toBe(PG_hugetlb);
    expect([m.pm.entireMapcount[e.pfn], m.pm.refcount[e.pfn]]).toEqual([1, 1]);
    expect(leafAt(m, p.mm, A + GiB - PAGE_SIZE).pfn).toBe(e.pfn);
    expect(p.mm.hugetlbPages).toBe(NR);
    expect(m.hugetlbGigantic.freeHugePages).toBe(0);
    await p.write(A + GiB - 8, pattern(8));
    const w = leafAt(m, p.mm, A);
    expect([w.pfn, w.write, w.dirty]).toEqual([e.pfn, true, true]);
    expect(await p.read(A + GiB - 8, 8)).toEqual(pattern(8));
    expect(pagemapGetEntry(p, A + 0x3000_0000)).toBe(PM_PRESENT);
  });

  it('fork shares the PUD leaf (CLEAR over the GiB); the child’s write copies all 1 GiB', async () => {
    const { m, p } = await mapped(2);
    await p.write(A + 5 * PAGE_SIZE, pattern(16, 3));
    const old = leafAt(m, p.mm, A).pfn;
    const rec = recordInvalidations(m);
    const c = await p.fork();
    expect(rec.events).toEqual([
      { mm: p.mm.id, event: MMU_NOTIFY_CLEAR, start: A, end: A + GiB, owner: null },
    ]);
    const ce = leafAt(m, c.mm, A);
    expect([ce.level, ce.pfn, ce.write, leafAt(m, p.mm, A).write]).toEqual([3, old, false, false]);
    expect([m.pm.entireMapcount[old], m.pm.refcount[old], c.mm.hugetlbPages]).toEqual([2, 2, NR]);
    expect(m.pm.flags[old]! & PG_anon_exclusive).toBe(0);
    rec.events.length = 0;
    await c.write(A + GiB - 1, Uint8Array.of(7));
    expect(rec.events).toEqual([
      { mm: c.mm.id, event: MMU_NOTIFY_CLEAR, start: A, end: A + GiB, owner: null },
    ]);
    const copy = leafAt(m, c.mm, A);
    expect([copy.level, copy.write]).toEqual([3, true]);
    expect(copy.pfn).not.toBe(old);
    expect(m.hugetlbGigantic.freeHugePages).toBe(0);
    expect(await c.read(A + 5 * PAGE_SIZE, 16)).toEqual(pattern(16, 3));
    expect(await c.read(A + GiB - 1, 1)).toEqual(Uint8Array.of(7));
    expect(await p.read(A + GiB - 1, 1)).toEqual(Uint8Array.of(0));
    expect([m.pm.entireMapcount[old], m.pm.refcount[old]]).toEqual([1, 1]);
    await c.exit();
    expect(m.hugetlbGigantic.freeHugePages).toBe(1);
  });

  it('munmap zaps the PUD leaf and gives the page back; a partial munmap is -EINVAL', async () => {
    const { m, p } = await mapped(1);
    await p.write(A, Uint8Array.of(1));
    expect(await p.munmap(A, PMD_SIZE)).toBe(-EINVAL);
    expect(leafAt(m, p.mm, A).level).toBe(3);
    expect(await p.munmap(A, GiB)).toBe(0);
    expect(leafAt(m, p.mm, A).kind).toBe(0);
    expect([m.hugetlbGigantic.freeHugePages, m.hugetlbGigantic.resvHugePages, p.mm.hugetlbPages]).toEqual([
      1, 0, 0,
    ]);
  });

  it('a R/O longterm pin of a page shared with a child unshares it (a copy, still read-only); unpinned, all is freed', async () => {
    const { m, p } = await mapped(2);
    await p.write(A, Uint8Array.of(9));
    const old = leafAt(m, p.mm, A).pfn;
    const c = await p.fork();
    await mmapReadLock(p.mm);
    const pages = await getUserPages(p.mm, A + 3 * PAGE_SIZE, 2, FOLL_PIN | FOLL_LONGTERM);
    mmapReadUnlock(p.mm);
    const e = leafAt(m, p.mm, A);
    expect(e.pfn).not.toBe(old);
    expect([e.level, e.write]).toEqual([3, false]);
    expect(pages).toEqual([e.pfn + 3, e.pfn + 4]);
    expect(m.pm.flags[e.pfn]! & PG_anon_exclusive).toBe(PG_anon_exclusive);
    // The pin is reliable: the parent's write reuses the exclusive page in place.
    await p.write(A + 3 * PAGE_SIZE, Uint8Array.of(5));
    expect(leafAt(m, p.mm, A).pfn).toBe(e.pfn);
    expect(m.pm.readableBytes(e.pfn + 3)[0]).toBe(5);
    expect(await c.read(A, 1)).toEqual(Uint8Array.of(9));
    for (const pfn of pages as number[]) unpinUserPage(p.mm, pfn);
    await c.exit();
    await p.exit();
    expect(m.hugetlbGigantic.freeHugePages).toBe(2);
  });

  it('mprotect changes the PUD leaf in place; a range not 1 GiB-aligned is -EINVAL', async () => {
    const { m, p } = await mapped(1);
    await p.write(A, Uint8Array.of(1));
    const pfn = leafAt(m, p.mm, A).pfn;
    expect(await p.mprotect(A, PMD_SIZE, PROT_READ)).toBe(-EINVAL);
    expect(await p.mprotect(A, GiB, PROT_READ)).toBe(0);
    const e = leafAt(m, p.mm, A + 77 * PAGE_SIZE);
    expect([e.level, e.pfn, e.write, e.leaf]).toEqual([3, pfn, false, true]);
    expect(await p.mprotect(A, GiB, RW)).toBe(0);
    await p.write(A + 1, Uint8Array.of(2));
    expect(leafAt(m, p.mm, A).pfn).toBe(pfn);
  });

  it('mremap moves the PUD leaf to a 1 GiB-aligned address; unaligned is -EINVAL', async () => {
    const { m, p } = await mapped(1);
    await p.write(A + 100, pattern(8));
    const pfn = leafAt(m, p.mm, A).pfn;
    expect(await p.mremap(A, GiB, GiB, MREMAP_MAYMOVE | MREMAP_FIXED, B + PMD_SIZE)).toBe(-EINVAL);
    expect(await p.mremap(A, GiB, GiB, MREMAP_MAYMOVE | MREMAP_FIXED, B)).toBe(B);
    expect(leafAt(m, p.mm, A).kind).toBe(0);
    const e = leafAt(m, p.mm, B);
    expect([e.level, e.pfn, e.write]).toEqual([3, pfn, true]);
    expect(await p.read(B + 100, 8)).toEqual(pattern(8));
    expect(m.hugetlbGigantic.resvHugePages).toBe(0);
    expect(await p.munmap(B, GiB)).toBe(0);
    expect(m.hugetlbGigantic.freeHugePages).toBe(1);
  });

  it('MADV_DONTFORK leaves the child a hole where the parent’s PUD leaf is', async () => {
    const { m, p } = await mapped(1);
    await p.write(A, Uint8Array.of(1));
    expect(await p.madvise(A, GiB, MADV_DONTFORK)).toBe(0);
    const c = await p.fork();
    expect(c.mm.vmaLookup(A)).toBeNull();
    expect(leafAt(m, c.mm, A).kind).toBe(0);
    expect(m.pm.entireMapcount[leafAt(m, p.mm, A).pfn]).toBe(1);
  });

  it('vmsplice takes page references into the gigantic folio (its head counts them)', async () => {
    const { m, p } = await mapped(1);
    await p.write(A + PAGE_SIZE, pattern(4));
    const head = leafAt(m, p.mm, A).pfn;
    const pipe = new Pipe(m);
    expect(await pipe.vmsplice(p.mm, A, 2 * PAGE_SIZE)).toBe(2 * PAGE_SIZE);
    expect(m.pm.refcount[head]).toBe(3);
    const got = new Uint8Array(2 * PAGE_SIZE);
    expect(pipe.read(got)).toBe(2 * PAGE_SIZE);
    expect(got.subarray(PAGE_SIZE, PAGE_SIZE + 4)).toEqual(pattern(4));
    expect(m.pm.refcount[head]).toBe(1);
  });

  it('a 1 GiB memset stores one shared content slot, not 1 GiB of host memory', async () => {
    const { m, p } = await mapped(1);
    const before = process.memoryUsage().arrayBuffers;
    const { cpuFill } = await import('../../../src/mm/access.ts');
    await cpuFill(p.mm, A, 0x5a, GiB);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
    expect(await p.read(A + GiB - 3, 3)).toEqual(Uint8Array.of(0x5a, 0x5a, 0x5a));
    await p.write(A + PAGE_SIZE, Uint8Array.of(1));
    expect(await p.read(A + PAGE_SIZE, 2)).toEqual(Uint8Array.of(1, 0x5a));
    expect(m.hugetlbGigantic.freeHugePages).toBe(0);
  });
});

describe('hugetlbfs memfd of 1 GiB pages', () => {
  it('fallocate takes a gigantic page; shared and private mappings map it with PUD leaves; a private write copies it', async () => {
    const { m, p } = await gigantic(2);
    const fd = await p.memfdCreate(MFD_HUGETLB | (30 << MFD_HUGE_SHIFT));
    expect(fd).toBeGreaterThanOrEqual(3);
    expect(await p.fallocate(fd, 0, 0, GiB)).toBe(0);
    expect(m.hugetlbGigantic.freeHugePages).toBe(1);
    // A shared mapping of a page the file holds reserves nothing; a private one reserves its copy.
    expect(await p.mmap(B, GiB, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(B);
    expect(m.hugetlbGigantic.resvHugePages).toBe(0);
    // A hugetlbfs file's offset must be aligned to its own page size (MAP_HUGE_* bits are ignored).
    expect(await p.mmap(A, GiB, RW, MAP_PRIVATE | MAP_FIXED, fd, PMD_SIZE)).toBe(-EINVAL);
    expect(await p.mmap(A, GiB, RW, MAP_PRIVATE | MAP_FIXED | MAP_HUGE_2MB, fd, 0)).toBe(A);
    expect(m.hugetlbGigantic.resvHugePages).toBe(1);
    // The last free page is promised to the private mapping: the file cannot have it.
    expect(await p.fallocate(fd, 0, GiB, 1)).toBe(-ENOSPC);
    await p.read(A, 1);
    await p.read(B, 1);
    const s = leafAt(m, p.mm, B);
    const r = leafAt(m, p.mm, A);
    expect([s.level, r.level, s.write, r.write, r.pfn]).toEqual([3, 3, false, false, s.pfn]);
    await p.write(A + 8, Uint8Array.of(3));
    const w = leafAt(m, p.mm, A);
    expect([w.level, w.write]).toEqual([3, true]);
    expect(w.pfn).not.toBe(s.pfn);
    expect(await p.read(B + 8, 1)).toEqual(Uint8Array.of(0));
    expect([m.hugetlbGigantic.freeHugePages, m.hugetlbGigantic.resvHugePages]).toEqual([0, 0]);
    await p.close(fd);
    expect(await p.munmap(A, GiB)).toBe(0);
    expect(await p.munmap(B, GiB)).toBe(0);
    expect(m.hugetlbGigantic.freeHugePages).toBe(2);
  });
});

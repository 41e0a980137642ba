/** fork(2): copy-on-write isolation, shared mappings, rss of the child, swap, THP and hugetlb. */
import { describe, expect, it } from 'vitest';
import {
  ENOMEM,
  FOLL_LONGTERM,
  FOLL_PIN,
  FOLL_WRITE,
  getUserPages,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  MM_ANONPAGES,
  MM_FILEPAGES,
  MM_SHMEMPAGES,
  MM_SWAPENTS,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_PROTECTION_PAGE,
  mmapReadLock,
  mmapReadUnlock,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
  SyscallError,
  unpinUserPage,
} from '../../../src/index.ts';
import { diffAt } from './bytes.ts';
import { leafAt, MiB, pattern, recordInvalidations } from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const FIXED = ANON | MAP_FIXED;
const P = PAGE_SIZE;
const A = 0x4000_0000;
/** The PTE kind of a swap entry (src/mm/pte.ts). */
const KIND_SWAP = 3;

async function boot(options: ConstructorParameters<typeof Machine>[0] = {}) {
  const m = new Machine({ memory: 32 * MiB, hugetlbPages: 0, ...options });
  const free0 = m.pm.freeFrames;
  const p = await m.createProcess();
  return { m, p, free0 };
}

describe('fork of private anonymous memory', () => {
  it('copy-on-write isolates parent and child in both directions', async () => {
    const { m, p, free0 } = await boot();
    expect(await p.mmap(A, 2 * P, RW, FIXED, -1, 0)).toBe(A);
    await p.write(A, pattern(2 * P, 1));
    const rec = recordInvalidations(m);
    const c = await p.fork();
    rec.stop();
    expect(c.pid).not.toBe(p.pid);
    expect(rec.events.map((e) => [e.mm, e.event, e.start, e.end])).toEqual([
      [p.mm.id, MMU_NOTIFY_PROTECTION_PAGE, A, A + 2 * P],
    ]);
    // Both map the same, now read-only, pages.
    const pp = leafAt(m, p.mm, A);
    const cp = leafAt(m, c.mm, A);
    expect([pp.pfn, pp.write, cp.write]).toEqual([cp.pfn, false, false]);
    expect(m.pm.freeFrames).toBe(free0 - 2);
    expect(diffAt(await c.read(A, 2 * P), pattern(2 * P, 1))).toBe(-1);
    // The child's write copies; the parent keeps the original.
    await c.store32(A, 0xc0c0);
    expect(leafAt(m, c.mm, A).pfn).not.toBe(pp.pfn);
    expect(await p.load32(A)).toBe(pattern(4, 1).reduce((v, b, i) => v + b * 256 ** i, 0));
    // The parent is the last mapper of the original: it writes in place.
    await p.store32(A, 0xbaba);
    expect(leafAt(m, p.mm, A).pfn).toBe(pp.pfn);
    expect(await c.load32(A)).toBe(0xc0c0);
    // The parent writes first on the second page: it copies, the child keeps the original.
    const second = leafAt(m, p.mm, A + P).pfn;
    await p.store32(A + P, 0x5555);
    expect(leafAt(m, p.mm, A + P).pfn).not.toBe(second);
    expect(leafAt(m, c.mm, A + P).pfn).toBe(second);
    expect(diffAt(await c.read(A + P, P), pattern(2 * P, 1).subarray(P))).toBe(-1);
    expect(m.pm.freeFrames).toBe(free0 - 4);
  });

  it('the child gets the parent rss (pages mapped, not the zero page) and VMAs', async () => {
    const { p } = await boot();
    expect(await p.mmap(A, 4 * P, RW, FIXED, -1, 0)).toBe(A);
    for (let i = 0; i < 3; i++) await p.store32(A + i * P, i);
    await p.load32(A + 3 * P);
    const fd = await p.createTmpFile(2 * P);
    const f = await p.mmap(0, 2 * P, PROT_READ, MAP_PRIVATE, fd, 0);
    await p.read(f, 2 * P);
    expect([...p.mm.rss]).toEqual([2, 3, 0, 0]);
    const c = await p.fork();
    // The private file VMA has no anonymous pages: not copied, the child faults it in later.
    expect([...c.mm.rss]).toEqual([0, 3, 0, 0]);
    expect(c.mm.vmas.map((v) => [v.start, v.end, v.flags])).toEqual(
      p.mm.vmas.map((v) => [v.start, v.end, v.flags]),
    );
    expect(await c.load32(A + 2 * P)).toBe(2);
    await c.read(f, 2 * P);
    expect(c.mm.rss[MM_FILEPAGES]).toBe(2);
  });

  it('a forked child joins the machine’s process list (copy_process adds the task)', async () => {
    const { m, p } = await boot();
    expect(await p.mmap(A, 2 * P, RW, FIXED, -1, 0)).toBe(A);
    const c = await p.fork();
    const g = await c.fork();
    expect(m.processes).toEqual([p, c, g]);
    await c.exit();
    // An exited task stays listed (it is marked exited), as before for created processes.
    expect(m.processes).toEqual([p, c, g]);
    expect(c.exited).toBe(true);
  });

  it('a grandchild shares the pages too; each writer gets its own copy', async () => {
    const { p } = await boot();
    expect(await p.mmap(A, P, RW, FIXED, -1, 0)).toBe(A);
    await p.store32(A, 1);
    const c = await p.fork();
    const g = await c.fork();
    await g.store32(A, 3);
    await c.store32(A, 2);
    expect([await p.load32(A), await c.load32(A), await g.load32(A)]).toEqual([1, 2, 3]);
  });
});

describe('fork of shared and file mappings', () => {
  it('shared anonymous memory stays shared (not copied: the child faults it in)', async () => {
    const { m, p } = await boot();
    const a = await p.mmap(0, 2 * P, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    await p.store32(a, 1);
    const rec = recordInvalidations(m);
    const c = await p.fork();
    rec.stop();
    expect(rec.events).toEqual([]);
    expect(c.mm.rss[MM_SHMEMPAGES]).toBe(0);
    await c.store32(a, 2);
    expect(await p.load32(a)).toBe(2);
    await p.store32(a + P, 3);
    expect(await c.load32(a + P)).toBe(3);
    expect(leafAt(m, c.mm, a).pfn).toBe(leafAt(m, p.mm, a).pfn);
    expect(c.mm.rss[MM_SHMEMPAGES]).toBe(2);
  });

  it('a shared file mapping stays shared', async () => {
    const { p } = await boot();
    const fd = await p.createTmpFile(P);
    const a = await p.mmap(0, P, RW, MAP_SHARED, fd, 0);
    await p.store32(a, 10);
    const c = await p.fork();
    expect(await c.load32(a)).toBe(10);
    await c.store32(a, 11);
    expect(await p.load32(a)).toBe(11);
    // The descriptor was inherited: the child can map the same file.
    const b = await c.mmap(0, P, PROT_READ, MAP_SHARED, fd, 0);
    expect(await c.load32(b)).toBe(11);
  });

  it('a private file mapping: COW copies are inherited and isolated; untouched pages follow the file', async () => {
    const { p } = await boot();
    const fd = await p.createTmpFile(2 * P);
    const shared = await p.mmap(0, 2 * P, RW, MAP_SHARED, fd, 0);
    await p.store32(shared, 100);
    await p.store32(shared + P, 200);
    const priv = await p.mmap(0, 2 * P, RW, MAP_PRIVATE, fd, 0);
    await p.store32(priv, 101); // a private copy of page 0
    const c = await p.fork();
    expect(c.mm.rss[MM_ANONPAGES]).toBe(1);
    expect(await c.load32(priv)).toBe(101);
    await c.store32(priv, 102);
    expect(await p.load32(priv)).toBe(101);
    await p.store32(priv, 103);
    expect(await c.load32(priv)).toBe(102);
    // Page 1 was never written privately: both see the file change.
    await p.store32(shared + P, 201);
    expect(await c.load32(priv + P)).toBe(201);
    expect(await p.load32(priv + P)).toBe(201);
    await c.store32(priv + P, 202);
    expect(await p.load32(priv + P)).toBe(201);
    expect(await p.load32(shared + P)).toBe(201);
  });
});

describe('fork of swapped, huge and hugetlb memory', () => {
  it('swapped-out pages: the slot is shared (count 2), both read the same data, slots freed after', async () => {
    const { m, p } = await boot({ swap: MiB });
    expect(await p.mmap(A, 2 * P, RW, FIXED, -1, 0)).toBe(A);
    await p.write(A, pattern(2 * P, 5));
    expect(await p.madvise(A, 2 * P, MADV_PAGEOUT)).toBe(0);
    const e = leafAt(m, p.mm, A);
    expect(e.kind).toBe(KIND_SWAP);
    const c = await p.fork();
    expect(m.swap.swapMap[e.pfn]).toBe(2);
    expect(m.swap.inUse).toBe(2);
    expect(c.mm.rss[MM_SWAPENTS]).toBe(2);
    expect(c.mm.rss[MM_ANONPAGES]).toBe(0);
    expect(diffAt(await c.read(A, 2 * P), pattern(2 * P, 5))).toBe(-1);
    expect(m.swap.swapMap[e.pfn]).toBe(1);
    expect(m.swap.inUse).toBe(2);
    await c.store32(A, 1); // the child's copy is private
    expect(diffAt(await p.read(A, 2 * P), pattern(2 * P, 5))).toBe(-1);
    expect(m.swap.inUse).toBe(0);
    expect(p.mm.rss[MM_SWAPENTS]).toBe(0);
  });

  it('a THP is shared by its PMD; the first write splits the writer and copies one page', async () => {
    const { m, p, free0 } = await boot({ thp: 'always' });
    expect(await p.mmap(A, PMD_SIZE, RW, FIXED, -1, 0)).toBe(A);
    await p.store32(A, 1);
    await p.store32(A + P, 2);
    const head = leafAt(m, p.mm, A).pfn;
    const c = await p.fork();
    const cl = leafAt(m, c.mm, A);
    expect([cl.level, cl.leaf, cl.pfn, cl.write]).toEqual([2, true, head, false]);
    expect(c.mm.rss[MM_ANONPAGES]).toBe(512);
    const rec = recordInvalidations(m);
    await c.store32(A, 10);
    rec.stop();
    expect(rec.events.map((e) => [e.mm, e.event, e.start, e.end])).toEqual([
      [c.mm.id, MMU_NOTIFY_CLEAR, A, A + PMD_SIZE],
      [c.mm.id, MMU_NOTIFY_CLEAR, A, A + P],
    ]);
    expect(leafAt(m, c.mm, A).level).toBe(1);
    expect(leafAt(m, c.mm, A + P).pfn).toBe(head + 1);
    expect(leafAt(m, p.mm, A).leaf).toBe(true); // the parent keeps its PMD
    expect(m.pm.freeFrames).toBe(free0 - 513);
    expect([await p.load32(A), await p.load32(A + P)]).toEqual([1, 2]);
    expect([await c.load32(A), await c.load32(A + P)]).toEqual([10, 2]);
    await p.store32(A + P, 20);
    expect([await c.load32(A), await c.load32(A + P)]).toEqual([10, 2]);
    expect([await p.load32(A), await p.load32(A + P)]).toEqual([1, 20]);
  });

  it('private hugetlb: shared after fork, a write copies the huge page from the pool', async () => {
    const { m, p } = await boot({ hugetlbPages: 2 });
    const h = await p.mmap(0, PMD_SIZE, RW, ANON | MAP_HUGETLB, -1, 0);
    await p.store32(h + 4, 0x1234);
    expect(m.hugetlb.freeHugePages).toBe(1);
    const c = await p.fork();
    expect(c.mm.hugetlbPages).toBe(512);
    expect(leafAt(m, c.mm, h).pfn).toBe(leafAt(m, p.mm, h).pfn);
    expect(await c.load32(h + 4)).toBe(0x1234);
    await c.store32(h + 4, 0x5678);
    expect(m.hugetlb.freeHugePages).toBe(0);
    expect(leafAt(m, c.mm, h).pfn).not.toBe(leafAt(m, p.mm, h).pfn);
    expect(await p.load32(h + 4)).toBe(0x1234);
    await p.store32(h + 8, 1); // the parent is the only mapper left: no copy
    expect(m.hugetlb.freeHugePages).toBe(0);
    expect(await c.load32(h + 8)).toBe(0);
    await c.exit();
    expect(m.hugetlb.freeHugePages).toBe(1);
  });
});

describe('fork when the copy of a pinned page finds no memory', () => {
  it('fails with SyscallError ENOMEM, tears the half-built child down and leaves the parent intact', async () => {
    const { m, p, free0 } = await boot();
    expect(await p.mmap(A, 2 * P, RW, FIXED, -1, 0)).toBe(A);
    await p.store32(A, 7);
    await p.store32(A + P, 8);
    // Pin page 0 (FOLL_PIN): fork must copy it for the child at once (copy_present_page).
    await mmapReadLock(p.mm);
    const pages = await getUserPages(p.mm, A, 1, FOLL_PIN | FOLL_WRITE);
    mmapReadUnlock(p.mm);
    expect(Array.isArray(pages)).toBe(true);
    const pinned = (pages as number[])[0]!;
    // Use up every free frame.
    const hog: number[] = [];
    for (let f = m.pm.allocPages(0); f !== 0; f = m.pm.allocPages(0)) hog.push(f);
    const mms = m.mms.size;
    const err = await p.fork().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as SyscallError).errno).toBe(ENOMEM);
    expect(m.mms.size).toBe(mms); // the child's mm is gone
    expect(m.processes).toEqual([p]); // and no task was added
    for (const f of hog) m.pm.freePages(f);
    expect(await p.load32(A)).toBe(7);
    expect(await p.load32(A + P)).toBe(8);
    unpinUserPage(p.mm, pinned);
    await p.exit();
    expect(m.pm.freeFrames).toBe(free0);
  });
});

describe('fork of a pinned PMD-mapped THP (copy_huge_pmd)', () => {
  it('splits the parent PMD and copies every page for the child; the pinned pages stay mapped in the parent', async () => {
    const { m, p, free0 } = await boot({ thp: 'always' });
    expect(await p.mmap(A, PMD_SIZE, RW, FIXED, -1, 0)).toBe(A);
    await p.write(A, pattern(64, 3));
    await p.store32(A + PMD_SIZE - 4, 0xfeedf00d);
    const head = leafAt(m, p.mm, A).pfn;
    expect(leafAt(m, p.mm, A).level).toBe(2);
    await mmapReadLock(p.mm);
    const pages = await getUserPages(p.mm, A, 1, FOLL_PIN | FOLL_LONGTERM | FOLL_WRITE);
    mmapReadUnlock(p.mm);
    expect(pages).toEqual([head]);
    const rec = recordInvalidations(m);
    const c = await p.fork();
    // folio_try_dup_anon_rmap_pmd refused the maybe-pinned THP: CLEAR for the split, inside the
    // fork's PROTECTION_PAGE.
    expect(rec.events).toEqual([
      { mm: p.mm.id, event: MMU_NOTIFY_PROTECTION_PAGE, start: A, end: A + PMD_SIZE, owner: null },
      { mm: p.mm.id, event: MMU_NOTIFY_CLEAR, start: A, end: A + PMD_SIZE, owner: null },
    ]);
    // The parent: PTEs mapping the same (pinned) pages, still writable and exclusive.
    for (const off of [0, 1, 511]) {
      const e = leafAt(m, p.mm, A + off * P);
      expect([e.level, e.pfn, e.write]).toEqual([1, head + off, true]);
    }
    expect(m.pm.entireMapcount[head]).toBe(0);
    expect(m.pm.mapcount[head + 7]).toBe(1);
    // The child: its own small pages, copies of the data.
    const seen = new Set<number>();
    for (let off = 0; off < 512; off++) {
      const e = leafAt(m, c.mm, A + off * P);
      expect(e.level).toBe(1);
      expect(e.pfn < head || e.pfn >= head + 512).toBe(true);
      seen.add(e.pfn);
    }
    expect(seen.size).toBe(512);
    expect(c.mm.rss[MM_ANONPAGES]).toBe(512);
    expect(await c.read(A, 64)).toEqual(pattern(64, 3));
    expect(await c.load32(A + PMD_SIZE - 4)).toBe(0xfeedf00d);
    // Writes stay private on both sides, and the parent's write needs no COW (no CLEAR).
    rec.events.length = 0;
    await p.store32(A, 0x11111111);
    expect(rec.events).toEqual([]);
    expect(leafAt(m, p.mm, A).pfn).toBe(head);
    await c.store32(A + P, 0x22222222);
    expect(await c.load32(A)).not.toBe(0x11111111);
    expect(await p.load32(A + P)).not.toBe(0x22222222);
    unpinUserPage(p.mm, head);
    await c.exit();
    await p.exit();
    expect(m.pm.freeFrames).toBe(free0);
  });

  it('an unpinned THP is still shared copy-on-write by the PMD', async () => {
    const { m, p } = await boot({ thp: 'always' });
    expect(await p.mmap(A, PMD_SIZE, RW, FIXED, -1, 0)).toBe(A);
    await p.store32(A, 1);
    const head = leafAt(m, p.mm, A).pfn;
    const c = await p.fork();
    expect([leafAt(m, p.mm, A).level, leafAt(m, c.mm, A).level]).toEqual([2, 2]);
    expect(leafAt(m, c.mm, A).pfn).toBe(head);
    expect(m.pm.entireMapcount[head]).toBe(2);
  });
});

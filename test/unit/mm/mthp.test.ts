/**
 * Multi-size THP (per-size enablement, PTE-mapped large folios, their COW, swap-out), vmsplice
 * pipes, MADV_DONTFORK/DOFORK, and hugetlb's mapcount-based reuse and unsharing.
 */
import { describe, expect, it } from 'vitest';
import {
  FOLL_LONGTERM,
  FOLL_PIN,
  getUserPages,
  MADV_DOFORK,
  MADV_DONTFORK,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MM_ANONPAGES,
  mmapReadLock,
  mmapReadUnlock,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  UsageError,
  unpinUserPage,
} from '../../../src/index.ts';
import { PG_anon_exclusive } from '../../../src/mm/page-flags.ts';
import { PIPE_DEF_BUFFERS, Pipe } from '../../../src/mm/pipe.ts';
import { KiB, leafAt, MiB, pteAt, smallMachine } from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const FIXED = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
const P = PAGE_SIZE;
const A = 0x4000_0000;
const KIND_SWAP = 3;

describe('multi-size THP', () => {
  it('starts with every size below the PMD never and the PMD size inherit; rejects bad sizes and modes', () => {
    const m = smallMachine();
    expect(m.thpSizes.sizesKb).toEqual([16, 32, 64, 128, 256, 512, 1024, 2048]);
    expect(m.thpSizes.mode(9)).toBe('inherit');
    expect(m.thpSizes.mode(4)).toBe('never');
    expect(() => m.thpSizes.set(8, 'always')).toThrow(UsageError);
    expect(() => m.thpSizes.set(64, 'sometimes' as 'always')).toThrow(UsageError);
    expect(m.thpSizes.anySmallEnabled).toBe(false);
  });

  it('a write fault maps a whole aligned 64 kB folio with one exclusive PTE per page', async () => {
    const m = smallMachine({ thp: 'never' });
    m.thpSizes.set(64, 'always');
    const p = await m.createProcess();
    await p.mmap(A, 64 * KiB * 2, RW, FIXED, -1, 0);
    await p.write(A + 5 * P + 3, Uint8Array.of(7));
    const head = pteAt(m, p.mm, A).pfn;
    expect(m.pm.order[head]).toBe(4);
    expect(m.pm.refcount[head]).toBe(16);
    for (let i = 0; i < 16; i++) {
      const e = pteAt(m, p.mm, A + i * P);
      expect(e.pfn).toBe(head + i);
      expect(e.write).toBe(true);
      expect(m.pm.mapcount[head + i]).toBe(1);
      expect(m.pm.flags[head + i]! & PG_anon_exclusive).not.toBe(0);
    }
    expect(p.mm.rss[MM_ANONPAGES]).toBe(16);
    // A read maps the zero page: large folios come with write faults only.
    await p.read(A + 64 * KiB, 1);
    expect(m.pm.isZeroPfn(pteAt(m, p.mm, A + 64 * KiB).pfn)).toBe(true);
  });

  it('honours madvise and inherit, VM_NOHUGEPAGE, and falls back when the range is not empty', async () => {
    const m = smallMachine({ thp: 'madvise' });
    m.thpSizes.set(32, 'madvise');
    m.thpSizes.set(16, 'inherit');
    const p = await m.createProcess();
    await p.mmap(A, 128 * KiB, RW, FIXED, -1, 0);
    await p.write(A, Uint8Array.of(1));
    expect(m.pm.order[pteAt(m, p.mm, A).pfn]).toBe(0); // not madvised: no size allowed
    await p.madvise(A + 32 * KiB, 96 * KiB, MADV_HUGEPAGE);
    await p.write(A + 32 * KiB, Uint8Array.of(1));
    expect(m.pm.order[pteAt(m, p.mm, A + 32 * KiB).pfn]).toBe(3);
    // A page already mapped in the 32 kB range: the 16 kB half without it still gets a folio.
    await p.read(A + 64 * KiB, 1);
    await p.write(A + 80 * KiB, Uint8Array.of(1));
    expect(m.pm.order[pteAt(m, p.mm, A + 80 * KiB).pfn]).toBe(2);
    await p.madvise(A + 96 * KiB, 32 * KiB, MADV_NOHUGEPAGE);
    await p.write(A + 96 * KiB, Uint8Array.of(1));
    expect(m.pm.order[pteAt(m, p.mm, A + 96 * KiB).pfn]).toBe(0);
  });

  it('COW after fork copies single pages; the folio stays whole while the child maps all of it', async () => {
    const m = smallMachine({ thp: 'never' });
    m.thpSizes.set(16, 'always');
    const p = await m.createProcess();
    await p.mmap(A, 16 * KiB, RW, FIXED, -1, 0);
    await p.write(A, new Uint8Array(16 * KiB).fill(1));
    const head = pteAt(m, p.mm, A).pfn;
    const child = await p.fork();
    for (let i = 0; i < 4; i++) expect(m.pm.flags[head + i]! & PG_anon_exclusive).toBe(0);
    await p.write(A + P, Uint8Array.of(9));
    const copy = pteAt(m, p.mm, A + P).pfn;
    expect(copy).not.toBe(head + 1);
    expect(m.pm.order[copy]).toBe(0);
    expect(m.pm.order[head]).toBe(2); // every page still mapped (by the child): no deferred split
    expect((await child.read(A + P, 1))[0]).toBe(1);
    // Another page of the still-shared folio: copied too (a large folio is never reused in 6.12).
    await p.write(A, Uint8Array.of(5));
    expect(pteAt(m, p.mm, A).pfn).not.toBe(head);
    expect((await child.read(A, 1))[0]).toBe(1);
  });

  it('MADV_PAGEOUT swaps every page of an exclusive PTE-mapped folio out, and it reads back', async () => {
    const m = smallMachine({ thp: 'never', swap: 4 * MiB });
    m.thpSizes.set(32, 'always');
    const p = await m.createProcess();
    await p.mmap(A, 32 * KiB, RW, FIXED, -1, 0);
    const data = new Uint8Array(32 * KiB).map((_, i) => i % 251);
    await p.write(A, data);
    expect(await p.madvise(A, 32 * KiB, MADV_PAGEOUT)).toBe(0);
    for (let i = 0; i < 8; i++) expect(leafAt(m, p.mm, A + i * P).kind).toBe(KIND_SWAP);
    expect(await p.read(A, 32 * KiB)).toEqual(data);
  });
});

describe('vmsplice pipe', () => {
  it('holds references (no unsharing), at most 16 pages, and reads what the pages hold then', async () => {
    const m = smallMachine();
    const p = await m.createProcess();
    await p.mmap(A, 20 * P, RW, FIXED, -1, 0);
    await p.write(A, new Uint8Array(20 * P).fill(3));
    const pfn = pteAt(m, p.mm, A).pfn;
    const pipe = new Pipe(m);
    expect(await pipe.vmsplice(p.mm, A + 100, 20 * P)).toBe(PIPE_DEF_BUFFERS * P - 100);
    expect(m.pm.refcount[pfn]).toBe(2);
    expect(m.pm.flags[pfn]! & PG_anon_exclusive).not.toBe(0);
    await p.write(A + 100, Uint8Array.of(8)); // exclusive and writable: written in place
    const out = new Uint8Array(4);
    expect(pipe.read(out)).toBe(4);
    expect([...out]).toEqual([8, 3, 3, 3]);
    pipe.close();
    expect(m.pm.refcount[pfn]).toBe(1);
    expect(pipe.size).toBe(0);
  });
});

describe('MADV_DONTFORK / MADV_DOFORK', () => {
  it('leaves the range out of the child, and DOFORK merges the VMAs again', async () => {
    const m = smallMachine();
    const p = await m.createProcess();
    await p.mmap(A, 4 * P, RW, FIXED, -1, 0);
    await p.write(A, new Uint8Array(4 * P).fill(1));
    expect(await p.madvise(A + P, 2 * P, MADV_DONTFORK)).toBe(0);
    expect(p.mm.vmas.length).toBe(3);
    const child = await p.fork();
    expect(child.mm.vmas.map((v) => [v.start - A, v.end - A])).toEqual([
      [0, P],
      [3 * P, 4 * P],
    ]);
    expect(await p.madvise(A, 4 * P, MADV_DOFORK)).toBe(0);
    expect(p.mm.vmas.map((v) => [v.start - A, v.end - A])).toEqual([[0, 4 * P]]);
  });
});

describe('hugetlb COW rules', () => {
  it('reuses a page whose only mapping is ours even with other references (the vmsplice leak)', async () => {
    const m = smallMachine({ hugetlbPages: 3 });
    const p = await m.createProcess();
    const H = 2 * MiB;
    await p.mmap(A, H, RW, FIXED | MAP_HUGETLB, -1, 0);
    await p.write(A, Uint8Array.of(1));
    const child = await p.fork();
    const pipe = new Pipe(m);
    expect(await pipe.vmsplice(child.mm, A, P)).toBe(P);
    await child.exit();
    const head = leafAt(m, p.mm, A).pfn;
    await p.write(A, Uint8Array.of(2)); // mapcount 1: reused, so the pipe sees the write
    expect(leafAt(m, p.mm, A).pfn).toBe(head);
    const out = new Uint8Array(1);
    pipe.read(out);
    expect(out[0]).toBe(2);
    pipe.close();
  });

  it('a R/O long-term pin of a shared page unshares it (copy mapped read-only)', async () => {
    const m = smallMachine({ hugetlbPages: 3 });
    const p = await m.createProcess();
    const H = 2 * MiB;
    await p.mmap(A, H, RW, FIXED | MAP_HUGETLB, -1, 0);
    await p.write(A, Uint8Array.of(1));
    const child = await p.fork();
    const shared = leafAt(m, p.mm, A).pfn;
    await mmapReadLock(p.mm);
    const pages = await getUserPages(p.mm, A, 1, FOLL_PIN | FOLL_LONGTERM);
    mmapReadUnlock(p.mm);
    if (typeof pages === 'number') throw new Error(`pin failed: ${pages}`);
    const e = leafAt(m, p.mm, A);
    expect(e.pfn).not.toBe(shared);
    expect(e.write).toBe(false);
    expect(m.pm.folioHead(pages[0]!)).toBe(e.pfn);
    // The write reuses the now exclusive page: the pin sees it.
    await p.write(A, Uint8Array.of(4));
    expect(m.pm.readableBytes(pages[0]!)[0]).toBe(4);
    expect((await child.read(A, 1))[0]).toBe(1);
    unpinUserPage(p.mm, pages[0]!);
  });
});

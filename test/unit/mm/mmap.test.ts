/** mmap(2): argument checks with Linux's errno values, placement, every kind of mapping, MAP_POPULATE. */
import { describe, expect, it } from 'vitest';
import {
  EBADF,
  EINVAL,
  ENOMEM,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  MM_ANONPAGES,
  MM_FILEPAGES,
  MM_SWAPENTS,
  MMAP_BASE,
  MMAP_MIN_ADDR,
  MMU_NOTIFY_UNMAP,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  SegmentationFault,
  TASK_SIZE,
  VM_ACCOUNT,
  VM_DONTEXPAND,
  VM_EXEC,
  VM_HUGETLB,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
} from '../../../src/index.ts';
import { diffAt, zeros } from './bytes.ts';
import { leafAt, MiB, pattern, recordInvalidations, rejectionOf } from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const SHANON = MAP_SHARED | MAP_ANONYMOUS;
const P = PAGE_SIZE;
const BASE = 0x4000_0000;

async function boot(options: ConstructorParameters<typeof Machine>[0] = {}) {
  const m = new Machine({ memory: 32 * MiB, hugetlbPages: 0, ...options });
  const free0 = m.pm.freeFrames;
  const p = await m.createProcess();
  return { m, p, free0 };
}

function rssOf(p: { mm: { rss: number[] } }): number[] {
  return [...p.mm.rss];
}

describe('mmap argument checks', () => {
  it('a zero length is -EINVAL and maps nothing', async () => {
    const { p } = await boot();
    expect(await p.mmap(0, 0, RW, ANON, -1, 0)).toBe(-EINVAL);
    expect(await p.mmap(BASE, 0, RW, ANON | MAP_FIXED, -1, 0)).toBe(-EINVAL);
    expect(p.mm.vmas).toHaveLength(0);
  });

  it('an offset that is not page aligned is -EINVAL, for files and anonymous memory', async () => {
    const { p } = await boot();
    const fd = await p.createTmpFile(4 * P);
    expect(await p.mmap(0, P, PROT_READ, MAP_SHARED, fd, 100)).toBe(-EINVAL);
    expect(await p.mmap(0, P, PROT_READ, MAP_PRIVATE, fd, P + 1)).toBe(-EINVAL);
    expect(await p.mmap(0, P, RW, ANON, -1, 12)).toBe(-EINVAL);
    expect(p.mm.vmas).toHaveLength(0);
  });

  it('a mapping type that is neither MAP_SHARED nor MAP_PRIVATE is -EINVAL', async () => {
    const { p } = await boot();
    const fd = await p.createTmpFile(P);
    expect(await p.mmap(0, P, RW, MAP_ANONYMOUS, -1, 0)).toBe(-EINVAL);
    expect(await p.mmap(0, P, RW, 0, fd, 0)).toBe(-EINVAL);
    expect(await p.mmap(0, P, RW, 0x04 | MAP_ANONYMOUS, -1, 0)).toBe(-EINVAL);
    expect(p.mm.vmas).toHaveLength(0);
  });

  it('MAP_FIXED at an address that is not page aligned is -EINVAL', async () => {
    const { p } = await boot();
    expect(await p.mmap(BASE + 100, P, RW, ANON | MAP_FIXED, -1, 0)).toBe(-EINVAL);
    expect(await p.mmap(BASE + P / 2, 2 * P, RW, SHANON | MAP_FIXED, -1, 0)).toBe(-EINVAL);
    expect(p.mm.vmas).toHaveLength(0);
  });

  it('a bad file descriptor is -EBADF (and fd is ignored for anonymous mappings)', async () => {
    const { p } = await boot();
    expect(await p.mmap(0, P, PROT_READ, MAP_PRIVATE, 42, 0)).toBe(-EBADF);
    expect(await p.mmap(0, P, PROT_READ, MAP_SHARED, -1, 0)).toBe(-EBADF);
    const a = await p.mmap(0, P, RW, ANON, 42, 0);
    expect(a).toBeGreaterThan(0);
    expect(p.mm.vmas).toHaveLength(1);
  });

  it('a length larger than the address space is -ENOMEM; so is MAP_FIXED running past TASK_SIZE', async () => {
    const { p } = await boot();
    expect(await p.mmap(0, TASK_SIZE + P, RW, ANON, -1, 0)).toBe(-ENOMEM);
    expect(await p.mmap(0, 2 ** 47, RW, ANON, -1, 0)).toBe(-ENOMEM);
    expect(await p.mmap(TASK_SIZE - P, 2 * P, RW, ANON | MAP_FIXED, -1, 0)).toBe(-ENOMEM);
    expect(p.mm.vmas).toHaveLength(0);
  });
});

describe('mmap placement', () => {
  it('places mappings top-down from the mmap base, each right below the previous one', async () => {
    const { p } = await boot();
    const a = await p.mmap(0, 3 * P, RW, ANON, -1, 0);
    expect(a).toBe(MMAP_BASE - 3 * P);
    const b = await p.mmap(0, 2 * P, RW, ANON, -1, 0);
    expect(b).toBe(a - 2 * P);
    const c = await p.mmap(0, 100, RW, ANON, -1, 0); // the length is rounded up to a page
    expect(c).toBe(b - P);
    // A hole left by munmap is reused when the request fits in it (the highest free range wins).
    expect(await p.munmap(b, 2 * P)).toBe(0);
    expect(await p.mmap(0, P, RW, ANON, -1, 0)).toBe(a - P);
  });

  it('honours a hint address when the range is free, rounding it down to a page', async () => {
    const { p } = await boot();
    expect(await p.mmap(BASE, 2 * P, RW, ANON, -1, 0)).toBe(BASE);
    expect(await p.mmap(BASE + 16 * P + 123, P, RW, ANON, -1, 0)).toBe(BASE + 16 * P);
    // An occupied hint is only a hint: the mapping goes elsewhere and the old one is intact.
    await p.store32(BASE, 0x1234);
    const c = await p.mmap(BASE, 2 * P, RW, ANON, -1, 0);
    expect(c).not.toBe(BASE);
    expect(c).toBe(MMAP_BASE - 2 * P);
    expect(await p.load32(BASE)).toBe(0x1234);
    // A hint below mmap_min_addr is raised to it (round_hint_to_min).
    expect(await p.mmap(P, P, RW, ANON, -1, 0)).toBe(MMAP_MIN_ADDR);
    expect(await p.mmap(P, P, RW, ANON, -1, 0)).toBe(c - P); // now taken: placed top-down
  });

  it('MAP_FIXED replaces what is mapped there: old pages are freed, an UNMAP is announced', async () => {
    const { m, p, free0 } = await boot();
    expect(await p.mmap(BASE, 4 * P, RW, ANON | MAP_FIXED, -1, 0)).toBe(BASE);
    for (let i = 0; i < 4; i++) await p.write(BASE + i * P, pattern(P, i + 1));
    expect(m.pm.freeFrames).toBe(free0 - 4);
    const rec = recordInvalidations(m);
    expect(await p.mmap(BASE + P, 2 * P, PROT_READ, ANON | MAP_FIXED, -1, 0)).toBe(BASE + P);
    rec.stop();
    expect(rec.events.map((e) => [e.event, e.start, e.end])).toEqual([
      [MMU_NOTIFY_UNMAP, BASE + P, BASE + 3 * P],
    ]);
    expect(m.pm.freeFrames).toBe(free0 - 2);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(2);
    expect(p.mm.vmas.map((v) => [v.start, v.end])).toEqual([
      [BASE, BASE + P],
      [BASE + P, BASE + 3 * P],
      [BASE + 3 * P, BASE + 4 * P],
    ]);
    expect(p.mm.vmas[1]!.flags & (VM_READ | VM_WRITE)).toBe(VM_READ);
    // The new mapping is fresh (zeros), the pages around it keep their data.
    expect(diffAt(await p.read(BASE + P, 2 * P), zeros(2 * P))).toBe(-1);
    expect(diffAt(await p.read(BASE, P), pattern(P, 1))).toBe(-1);
    expect(diffAt(await p.read(BASE + 3 * P, P), pattern(P, 4))).toBe(-1);
  });
});

describe('kinds of mapping', () => {
  it('private anonymous: VMA flags, zero page on read, a private page on write', async () => {
    const { m, p, free0 } = await boot();
    const a = await p.mmap(0, 4 * P, RW | PROT_EXEC, ANON, -1, 0);
    const vma = p.mm.vmas[0]!;
    expect([vma.start, vma.end, vma.isAnonymous, vma.file]).toEqual([a, a + 4 * P, true, null]);
    // A private writable mapping is charged to the overcommit accounting (VM_ACCOUNT).
    expect(vma.flags).toBe(VM_READ | VM_WRITE | VM_EXEC | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT);
    expect(diffAt(await p.read(a, 4 * P), zeros(4 * P))).toBe(-1);
    expect(m.pm.freeFrames).toBe(free0); // reads map the shared zero page
    expect(p.mm.rss[MM_ANONPAGES]).toBe(0);
    await p.write(a + P, pattern(P));
    expect(m.pm.freeFrames).toBe(free0 - 1);
    expect(rssOf(p)).toEqual([0, 1, 0, 0]);
    expect(diffAt(await p.read(a + P, P), pattern(P))).toBe(-1);
  });

  it('shared anonymous: a shmem object shared by every mapper, counted as shmem pages', async () => {
    const { m, p, free0 } = await boot();
    const a = await p.mmap(0, 2 * P, RW, SHANON, -1, 0);
    const vma = p.mm.vmas[0]!;
    expect(vma.flags & (VM_SHARED | VM_MAYSHARE)).toBe(VM_SHARED | VM_MAYSHARE);
    expect(vma.isAnonymous).toBe(false); // shmem-backed, like shmem_zero_setup
    expect(vma.file?.shmem).toBe(true);
    await p.write(a, pattern(2 * P, 7));
    expect(rssOf(p)).toEqual([0, 0, 0, 2]);
    expect(m.pm.freeFrames).toBe(free0 - 2);
    expect(diffAt(await p.read(a, 2 * P), pattern(2 * P, 7))).toBe(-1);
  });

  it('shared file: every shared mapping of the file sees the same page cache', async () => {
    const { p } = await boot();
    const fd = await p.createTmpFile(3 * P);
    const a = await p.mmap(0, 3 * P, RW, MAP_SHARED, fd, 0);
    const b = await p.mmap(0, 2 * P, PROT_READ, MAP_SHARED, fd, P); // file pages 1 and 2
    await p.write(a + P, pattern(P, 3));
    expect(diffAt(await p.read(b, P), pattern(P, 3))).toBe(-1);
    expect(p.mm.vmas.find((v) => v.start === b)!.pgoff).toBe(1);
    expect(p.mm.rss[MM_FILEPAGES]).toBe(2);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(0);
  });

  it('private file: reads come from the file, writes go to private anonymous copies', async () => {
    const { p } = await boot();
    const fd = await p.createTmpFile(2 * P);
    const shared = await p.mmap(0, 2 * P, RW, MAP_SHARED, fd, 0);
    await p.write(shared, pattern(2 * P, 9));
    const priv = await p.mmap(0, 2 * P, RW, MAP_PRIVATE, fd, 0);
    expect(diffAt(await p.read(priv, 2 * P), pattern(2 * P, 9))).toBe(-1);
    await p.store32(priv, 0xcafef00d);
    expect(await p.load32(priv)).toBe(0xcafef00d);
    expect(diffAt(await p.read(shared, 4), pattern(4, 9))).toBe(-1); // the file is untouched
    // A later write through the shared mapping is seen where the private mapping has no copy.
    await p.store32(shared + P, 0x11223344);
    expect(await p.load32(priv + P)).toBe(0x11223344);
    expect(await p.load32(priv)).toBe(0xcafef00d);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
  });

  it('MAP_HUGETLB: 2 MiB aligned, length rounded up to huge pages, backed by the pool', async () => {
    const { m, p } = await boot({ hugetlbPages: 4 });
    const a = await p.mmap(0, P, RW, ANON | MAP_HUGETLB, -1, 0);
    expect(a % PMD_SIZE).toBe(0);
    const vma = p.mm.vmaLookup(a)!;
    expect([vma.start, vma.end]).toEqual([a, a + PMD_SIZE]);
    expect(vma.flags & (VM_HUGETLB | VM_DONTEXPAND)).toBe(VM_HUGETLB | VM_DONTEXPAND); // as hugetlbfs sets them
    await p.write(a + PMD_SIZE - 4, new Uint8Array([1, 2, 3, 4]));
    expect(m.hugetlb.freeHugePages).toBe(3);
    expect(p.mm.hugetlbPages).toBe(512);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(0); // hugetlb is not in the rss counters
    const leaf = leafAt(m, p.mm, a);
    expect([leaf.level, leaf.leaf]).toEqual([2, true]);
    // A hint is rounded up to a huge page boundary.
    expect(await p.mmap(BASE + P, P, RW, ANON | MAP_HUGETLB, -1, 0)).toBe(BASE + PMD_SIZE);
    const b = await p.mmap(0, 3 * MiB, RW, ANON | MAP_HUGETLB, -1, 0); // rounds to 4 MiB
    expect(p.mm.vmaLookup(b)!.size).toBe(2 * PMD_SIZE);
    expect(b % PMD_SIZE).toBe(0);
  });

  it('MAP_HUGETLB: -ENOMEM when the pool lacks free huge pages; MAP_FIXED must be 2 MiB aligned', async () => {
    const { p } = await boot({ hugetlbPages: 2 });
    expect(await p.mmap(0, 3 * PMD_SIZE, RW, ANON | MAP_HUGETLB, -1, 0)).toBe(-ENOMEM);
    const a = await p.mmap(0, 2 * PMD_SIZE, RW, ANON | MAP_HUGETLB | MAP_POPULATE, -1, 0);
    expect(a).toBeGreaterThan(0);
    expect(p.mm.hugetlbPages).toBe(1024);
    expect(await p.mmap(0, PMD_SIZE, RW, ANON | MAP_HUGETLB, -1, 0)).toBe(-ENOMEM);
    expect(await p.munmap(a, PMD_SIZE)).toBe(0);
    expect(await p.mmap(BASE + P, PMD_SIZE, RW, ANON | MAP_HUGETLB | MAP_FIXED, -1, 0)).toBe(-EINVAL);
    expect(await p.mmap(BASE, PMD_SIZE, RW, ANON | MAP_HUGETLB | MAP_FIXED, -1, 0)).toBe(BASE);
  });

  it('MAP_HUGETLB with a regular file is -EINVAL', async () => {
    const { p } = await boot({ hugetlbPages: 1 });
    const fd = await p.createTmpFile(PMD_SIZE);
    expect(await p.mmap(0, PMD_SIZE, RW, MAP_PRIVATE | MAP_HUGETLB, fd, 0)).toBe(-EINVAL);
  });

  it('PROT_NONE maps the range but no access is allowed', async () => {
    const { p } = await boot();
    const a = await p.mmap(0, P, PROT_NONE, ANON, -1, 0);
    expect(p.mm.vmas).toHaveLength(1);
    const err = await rejectionOf(p.read(a, 1));
    expect(err).toBeInstanceOf(SegmentationFault);
  });
});

describe('MAP_POPULATE', () => {
  it('private writable anonymous: every page allocated and writable', async () => {
    const { m, p, free0 } = await boot();
    const a = await p.mmap(0, 8 * P, RW, ANON | MAP_POPULATE, -1, 0);
    expect(rssOf(p)).toEqual([0, 8, 0, 0]);
    expect(m.pm.freeFrames).toBe(free0 - 8);
    for (let i = 0; i < 8; i++) {
      const e = leafAt(m, p.mm, a + i * P);
      expect([e.level, e.write]).toEqual([1, true]);
    }
  });

  it('private read-only anonymous: the zero page everywhere, nothing allocated', async () => {
    const { m, p, free0 } = await boot();
    const a = await p.mmap(0, 4 * P, PROT_READ, ANON | MAP_POPULATE, -1, 0);
    expect(rssOf(p)).toEqual([0, 0, 0, 0]);
    expect(m.pm.freeFrames).toBe(free0);
    const e = leafAt(m, p.mm, a + 3 * P);
    expect([e.level, e.special, e.pfn]).toEqual([1, true, 1]);
  });

  it('shared anonymous: shmem pages', async () => {
    const { p } = await boot();
    await p.mmap(0, 4 * P, RW, SHANON | MAP_POPULATE, -1, 0);
    expect(rssOf(p)).toEqual([0, 0, 0, 4]);
  });

  it('files: shared maps the page cache; private writable breaks COW (as populate writes)', async () => {
    const { p } = await boot();
    const fd = await p.createTmpFile(3 * P);
    await p.mmap(0, 3 * P, RW, MAP_SHARED | MAP_POPULATE, fd, 0);
    expect(rssOf(p)).toEqual([3, 0, 0, 0]);
    await p.mmap(0, 3 * P, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    expect(rssOf(p)).toEqual([6, 0, 0, 0]);
    await p.mmap(0, 3 * P, RW, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    expect(rssOf(p)).toEqual([6, 3, 0, 0]);
  });

  it('stops quietly at the end of the file (the mmap still succeeds)', async () => {
    const { p } = await boot();
    const fd = await p.createTmpFile(2 * P - 10);
    const a = await p.mmap(0, 5 * P, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
    expect(a).toBeGreaterThan(0);
    expect(p.mm.rss[MM_FILEPAGES]).toBe(2);
    expect(p.mm.rss[MM_SWAPENTS]).toBe(0);
  });
});

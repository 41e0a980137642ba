/**
 * The memory cow.c runs each test function on (its `run_with_*` and `do_run_with_*`): a base page,
 * swapped out or not; a THP of each size — PMD-mapped, PTE-mapped, a single PTE of it, swapped
 * out, partly mremap()'ed or partly shared with a child; hugetlb; and for the non-anonymous tests
 * the shared zero page, a memfd, a tmpfile, the huge zero page and a hugetlb memfd.
 * @module
 */
import {
  MADV_DOFORK,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_HUGE_SHIFT,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MFD_HUGE_SHIFT,
  MFD_HUGETLB,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '../../mm/index.ts';
import { EINVAL } from '../../sim/errno.ts';
import { type CowEnv, cowFork, memset, pagemapIsPopulated, pagemapIsSwapped } from './runtime.ts';
import type { NonAnonTestFn, TestFn } from './tests.ts';

const pagesize = PAGE_SIZE;
const pmdsize = PMD_SIZE;

/** `range_is_swapped`. */
function rangeIsSwapped(env: CowEnv, addr: number, size: number): boolean {
  for (let a = addr; a < addr + size; a += pagesize) if (!pagemapIsSwapped(env.process, a)) return false;
  return true;
}

/** `do_run_with_base_page`. */
export async function doRunWithBasePage(env: CowEnv, fn: TestFn, swapout: boolean): Promise<void> {
  const { process: p, ksft } = env;
  const mem = await p.mmap(0, pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem < 0) {
    ksft.fail('mmap() failed');
    return;
  }
  const ret = await p.madvise(mem, pagesize, MADV_NOHUGEPAGE);
  // Ignore if not around on a kernel.
  if (ret && ret !== -EINVAL) {
    ksft.fail('MADV_NOHUGEPAGE failed');
  } else {
    // Populate a base page.
    await memset(p, mem, 1, pagesize);
    if (swapout) await p.madvise(mem, pagesize, MADV_PAGEOUT);
    if (swapout && !pagemapIsSwapped(p, mem)) ksft.skip('MADV_PAGEOUT did not work, is swap enabled?');
    else await fn(env, mem, pagesize, false);
  }
  await p.munmap(mem, pagesize);
}

/** `enum thp_run`. */
export type ThpRun =
  | 'THP_RUN_PMD'
  | 'THP_RUN_PMD_SWAPOUT'
  | 'THP_RUN_PTE'
  | 'THP_RUN_PTE_SWAPOUT'
  | 'THP_RUN_SINGLE_PTE'
  | 'THP_RUN_SINGLE_PTE_SWAPOUT'
  | 'THP_RUN_PARTIAL_MREMAP'
  | 'THP_RUN_PARTIAL_SHARED';

/** `do_run_with_thp`. */
export async function doRunWithThp(env: CowEnv, fn: TestFn, thpRun: ThpRun, thpsize: number): Promise<void> {
  const { process: p, ksft } = env;
  // For alignment purposes, we need twice the thp size.
  const mmapSize = 2 * thpsize;
  const mmapMem = await p.mmap(0, mmapSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mmapMem < 0) {
    ksft.fail('mmap() failed');
    return;
  }
  let mremapMem = -1;
  let mremapSize = 0;
  try {
    // We need a THP-aligned memory area.
    const mem = Math.floor((mmapMem + thpsize) / thpsize) * thpsize;
    if (await p.madvise(mem, thpsize, MADV_HUGEPAGE)) {
      ksft.fail('MADV_HUGEPAGE failed');
      return;
    }
    // Try to populate a THP. Touch the first sub-page and test if we get the last sub-page
    // populated automatically.
    await p.write(mem, Uint8Array.of(1));
    if (!pagemapIsPopulated(p, mem + thpsize - pagesize)) {
      ksft.skip('Did not get a THP populated');
      return;
    }
    await memset(p, mem, 1, thpsize);
    let size = thpsize;
    switch (thpRun) {
      case 'THP_RUN_PMD':
      case 'THP_RUN_PMD_SWAPOUT':
        if (thpsize !== pmdsize) throw new Error('assert(thpsize == pmdsize)');
        break;
      case 'THP_RUN_PTE':
      case 'THP_RUN_PTE_SWAPOUT':
        // Trigger PTE-mapping the THP by temporarily mapping a single subpage R/O. This is a
        // noop if the THP is not pmdsize (and therefore already PTE-mapped).
        if (await p.mprotect(mem + pagesize, pagesize, PROT_READ)) {
          ksft.fail('mprotect() failed');
          return;
        }
        if (await p.mprotect(mem + pagesize, pagesize, PROT_READ | PROT_WRITE)) {
          ksft.fail('mprotect() failed');
          return;
        }
        break;
      case 'THP_RUN_SINGLE_PTE':
      case 'THP_RUN_SINGLE_PTE_SWAPOUT':
        // Discard all but a single subpage of that PTE-mapped THP.
        if (await p.madvise(mem + pagesize, thpsize - pagesize, MADV_DONTNEED)) {
          ksft.fail('MADV_DONTNEED failed');
          return;
        }
        size = pagesize;
        break;
      case 'THP_RUN_PARTIAL_MREMAP': {
        // Remap half of the THP. We need some new memory location for that.
        mremapSize = thpsize / 2;
        mremapMem = await p.mmap(0, mremapSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mremapMem < 0) {
          ksft.fail('mmap() failed');
          return;
        }
        const tmp = await p.mremap(
          mem + mremapSize,
          mremapSize,
          mremapSize,
          MREMAP_MAYMOVE | MREMAP_FIXED,
          mremapMem,
        );
        if (tmp !== mremapMem) {
          ksft.fail('mremap() failed');
          return;
        }
        size = mremapSize;
        break;
      }
      case 'THP_RUN_PARTIAL_SHARED': {
        // Share the first page of the THP with a child and quit the child. This will result in
        // some parts of the THP never have been shared.
        if (await p.madvise(mem + pagesize, thpsize - pagesize, MADV_DONTFORK)) {
          ksft.fail('MADV_DONTFORK failed');
          return;
        }
        const child = await cowFork(env, async () => 0);
        await child.wait();
        // Allow for sharing all pages again.
        if (await p.madvise(mem + pagesize, thpsize - pagesize, MADV_DOFORK)) {
          ksft.fail('MADV_DOFORK failed');
          return;
        }
        break;
      }
    }
    if (
      thpRun === 'THP_RUN_PMD_SWAPOUT' ||
      thpRun === 'THP_RUN_PTE_SWAPOUT' ||
      thpRun === 'THP_RUN_SINGLE_PTE_SWAPOUT'
    ) {
      await p.madvise(mem, size, MADV_PAGEOUT);
      if (!rangeIsSwapped(env, mem, size)) {
        ksft.skip('MADV_PAGEOUT did not work, is swap enabled?');
        return;
      }
    }
    await fn(env, mem, size, false);
  } finally {
    await p.munmap(mmapMem, mmapSize);
    if (mremapMem >= 0) await p.munmap(mremapMem, mremapSize);
  }
}

/** `run_with_hugetlb`: a private anonymous huge page of 2 MiB (PMD-mapped) or 1 GiB (PUD-mapped). */
export async function runWithHugetlb(env: CowEnv, fn: TestFn, hugetlbsize: number): Promise<void> {
  const { process: p, ksft } = env;
  // `flags |= __builtin_ctzll(hugetlbsize) << MAP_HUGE_SHIFT`.
  const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (Math.log2(hugetlbsize) << MAP_HUGE_SHIFT);
  const mem = await p.mmap(0, hugetlbsize, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (mem < 0) {
    ksft.skip('need more free huge pages');
    return;
  }
  // Populate an huge page.
  await memset(p, mem, 1, hugetlbsize);
  // We need a total of two hugetlb pages to handle COW/unsharing properly, otherwise we might
  // get zapped by a SIGBUS.
  const dummy = await p.mmap(0, hugetlbsize, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (dummy < 0) ksft.skip('need more free huge pages');
  else {
    await p.munmap(dummy, hugetlbsize);
    await fn(env, mem, hugetlbsize, true);
  }
  await p.munmap(mem, hugetlbsize);
}

/** `run_with_zeropage`. */
export async function runWithZeropage(env: CowEnv, fn: NonAnonTestFn): Promise<void> {
  const { process: p, ksft } = env;
  const mem = await p.mmap(0, pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem < 0) {
    ksft.fail('mmap() failed');
    return;
  }
  const smem = await p.mmap(0, pagesize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (smem < 0) ksft.fail('mmap() failed');
  else {
    // Read from the page to populate the shared zeropage.
    await p.read(mem, 1);
    await p.read(smem, 1);
    await fn(env, mem, smem, pagesize);
    await p.munmap(smem, pagesize);
  }
  await p.munmap(mem, pagesize);
}

/** `run_with_huge_zeropage` (the huge zero page is enabled: `use_zero_page` is 1 by default). */
export async function runWithHugeZeropage(env: CowEnv, fn: NonAnonTestFn): Promise<void> {
  const { process: p, ksft } = env;
  const mmapSize = 2 * pmdsize;
  const mmapMem = await p.mmap(0, mmapSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mmapMem < 0) {
    ksft.fail('mmap() failed');
    return;
  }
  const mmapSmem = await p.mmap(0, mmapSize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  try {
    if (mmapSmem < 0) {
      ksft.fail('mmap() failed');
      return;
    }
    // We need a THP-aligned memory area.
    const mem = Math.floor((mmapMem + pmdsize) / pmdsize) * pmdsize;
    const smem = Math.floor((mmapSmem + pmdsize) / pmdsize) * pmdsize;
    let ret = await p.madvise(mem, pmdsize, MADV_HUGEPAGE);
    ret |= await p.madvise(smem, pmdsize, MADV_HUGEPAGE);
    if (ret) {
      ksft.fail('MADV_HUGEPAGE failed');
      return;
    }
    // Read from the memory to populate the huge shared zeropage. Read from the first sub-page
    // and test if we get another sub-page populated automatically.
    await p.read(mem, 1);
    await p.read(smem, 1);
    if (!pagemapIsPopulated(p, mem + pagesize) || !pagemapIsPopulated(p, smem + pagesize)) {
      ksft.skip('Did not get THPs populated');
      return;
    }
    await fn(env, mem, smem, pmdsize);
  } finally {
    await p.munmap(mmapMem, mmapSize);
    if (mmapSmem >= 0) await p.munmap(mmapSmem, mmapSize);
  }
}

/**
 * What `run_with_memfd`, `run_with_tmpfile` and `run_with_memfd_hugetlb` share: the file at `fd`
 * mapped private read-write (`mem`) and shared read-only (`smem`), both faulted in by a read, the
 * test run on them, both unmapped. A failed private mapping is reported with `privateFailed`.
 */
async function runOnFileMappings(
  env: CowEnv,
  fn: NonAnonTestFn,
  fd: number,
  size: number,
  privateFailed: () => void,
): Promise<void> {
  const { process: p, ksft } = env;
  // Create a private mapping of the memfd.
  const mem = await p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  if (mem < 0) {
    privateFailed();
    return;
  }
  const smem = await p.mmap(0, size, PROT_READ, MAP_SHARED, fd, 0);
  if (smem < 0) ksft.fail('mmap() failed');
  else {
    // Fault the page in.
    await p.read(mem, 1);
    await p.read(smem, 1);
    await fn(env, mem, smem, size);
    await p.munmap(smem, size);
  }
  await p.munmap(mem, size);
}

/**
 * `run_with_memfd` and `run_with_tmpfile`: a one-page file of zeroes (`memfd_create`, or
 * `tmpfile()` on the guest's tmpfs `/tmp`: both shmem files), mapped private read-write and
 * shared read-only, both faulted in by a read.
 */
export async function runWithShmemFile(env: CowEnv, fn: NonAnonTestFn): Promise<void> {
  const { process: p, ksft } = env;
  // File consists of a single page filled with zeroes (memfd_create/tmpfile + fallocate).
  const fd = await p.createTmpFile(pagesize, true);
  await runOnFileMappings(env, fn, fd, pagesize, () => ksft.fail('mmap() failed'));
  await p.close(fd);
}

/** `run_with_memfd_hugetlb`: one huge page of a hugetlbfs memfd, mapped private R/W and shared R/O. */
export async function runWithMemfdHugetlb(
  env: CowEnv,
  fn: NonAnonTestFn,
  hugetlbsize: number,
): Promise<void> {
  const { process: p, ksft } = env;
  const flags = MFD_HUGETLB | (Math.log2(hugetlbsize) << MFD_HUGE_SHIFT);
  const fd = await p.memfdCreate(flags);
  if (fd < 0) {
    ksft.skip('memfd_create() failed');
    return;
  }
  // File consists of a single page filled with zeroes.
  if (await p.fallocate(fd, 0, 0, hugetlbsize)) ksft.skip('need more free huge pages');
  else await runOnFileMappings(env, fn, fd, hugetlbsize, () => ksft.skip('need more free huge pages'));
  await p.close(fd);
}

/**
 * hmm-tests.c, huge mappings: anon_write_huge (a THP), anon_write_hugetlbfs and compound
 * (hugetlb), each in the device-private and device-coherent variants.
 */

import {
  HMM_DMIRROR_PROT_PMD,
  HMM_DMIRROR_PROT_PUD,
  HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE,
} from '../../devices/dmirror/index.ts';
import {
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from '../../mm/index.ts';
import { expect } from '../expect.ts';
import {
  ALIGN,
  assertInts,
  cpuFillInts,
  cpuReadInts,
  defaultHugePageSize,
  fillMirror,
  HMM_DMIRROR_SNAPSHOT,
  HMM_DMIRROR_WRITE,
  hmmBufferAlloc,
  hmmBufferFree,
  hmmDmirrorCmd,
  hugetlbFreeDefaultPages,
  readPmdPagesize,
  SelftestFile,
  TWOMEG,
} from '../harness.ts';

/** The tests of this file, registered in declaration order. */
export const selftests = new SelftestFile('huge', 'hmm-tests.c: huge pages');
const { TEST_F_hmm } = selftests;

/* Write private anonymous huge page. */
TEST_F_hmm('anon_write_huge', async (self) => {
  const { process } = self;
  let size = 2 * readPmdPagesize();
  const buffer = hmmBufferAlloc(size);
  buffer.ptr = await process.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
  expect(buffer.ptr).toBeGreaterThan(0);

  size /= 2;
  const npages = size >> self.page_shift;
  const map = ALIGN(buffer.ptr, size);
  expect(await process.madvise(map, size, MADV_HUGEPAGE)).toBe(0);
  const oldPtr = buffer.ptr;
  buffer.ptr = map;

  // Initialize data that the device will write to buffer->ptr.
  fillMirror(buffer, size / 4, (i) => i);

  // Simulate a device writing system memory.
  const ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_WRITE, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);
  expect(buffer.faults).toBe(1);

  // Check what the device wrote.
  assertInts('ptr', await cpuReadInts(process, buffer.ptr, 0, size / 4), 0, size / 4, (i) => i);

  buffer.ptr = oldPtr;
  await hmmBufferFree(process, buffer);
});

/* Write huge TLBFS page. */
TEST_F_hmm('anon_write_hugetlbfs', async (self) => {
  const { machine, process } = self;
  const defaultHsize = defaultHugePageSize();
  // The kernel skips without a free huge page; this machine reserves one, so one must be free.
  expect(hugetlbFreeDefaultPages(machine)).toBeGreaterThan(0);

  const size = ALIGN(TWOMEG, defaultHsize);
  const npages = size >> self.page_shift;
  const buffer = hmmBufferAlloc(size);
  buffer.ptr = await process.mmap(
    0,
    size,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
    -1,
    0,
  );
  // The kernel skips ("Huge page could not be allocated"); here the reserved page must be had.
  expect(buffer.ptr).toBeGreaterThan(0);

  // Initialize data that the device will write to buffer->ptr.
  fillMirror(buffer, size / 4, (i) => i);

  // Simulate a device writing system memory.
  const ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_WRITE, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);
  expect(buffer.faults).toBe(1);

  // Check what the device wrote.
  assertInts('ptr', await cpuReadInts(process, buffer.ptr, 0, size / 4), 0, size / 4, (i) => i);

  expect(await process.munmap(buffer.ptr, buffer.size)).toBe(0);
  buffer.ptr = 0;
  await hmmBufferFree(process, buffer);
});

/*
 * Test the hmm_range_fault() handling of large pages (PMD or PUD) that should be mapped by a
 * large page table entry.
 */
TEST_F_hmm('compound', async (self) => {
  const { machine, process } = self;
  const defaultHsize = defaultHugePageSize();
  // Skip test if we can't allocate a hugetlbfs page (this machine reserves one).
  expect(hugetlbFreeDefaultPages(machine)).toBeGreaterThan(0);

  const size = ALIGN(TWOMEG, defaultHsize);
  const npages = size >> self.page_shift;
  const buffer = hmmBufferAlloc(size, npages);
  buffer.ptr = await process.mmap(
    0,
    size,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
    -1,
    0,
  );
  // The kernel returns silently (a pass) when the mmap fails; the reserved page must be had here.
  expect(buffer.ptr).toBeGreaterThan(0);

  // Initialize the pages the device will snapshot in buffer->ptr.
  await cpuFillInts(process, buffer.ptr, 0, size / 4, (i) => i);

  // Simulate a device snapshotting CPU pagetables.
  let ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Check what the device saw: one huge page, reported at PMD or PUD level for every page.
  let m = buffer.mirror;
  let prot =
    HMM_DMIRROR_PROT_WRITE | (m[0]! & HMM_DMIRROR_PROT_PUD ? HMM_DMIRROR_PROT_PUD : HMM_DMIRROR_PROT_PMD);
  for (let i = 0; i < npages; ++i) if (m[i] !== prot) expect(m[i], `m[${i}]`).toBe(prot);

  // Make the region read-only.
  expect(await process.mprotect(buffer.ptr, size, PROT_READ)).toBe(0);

  // Simulate a device snapshotting CPU pagetables.
  ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Check what the device saw after mprotect(PROT_READ).
  m = buffer.mirror;
  prot = HMM_DMIRROR_PROT_READ | (m[0]! & HMM_DMIRROR_PROT_PUD ? HMM_DMIRROR_PROT_PUD : HMM_DMIRROR_PROT_PMD);
  for (let i = 0; i < npages; ++i) if (m[i] !== prot) expect(m[i], `m[${i}]`).toBe(prot);

  expect(await process.munmap(buffer.ptr, buffer.size)).toBe(0);
  buffer.ptr = 0;
  await hmmBufferFree(process, buffer);
});

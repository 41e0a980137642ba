/**
 * hmm-tests.c, migration of transparent huge pages to and from device memory:
 * migrate_anon_huge_empty, migrate_anon_huge_zero, migrate_anon_huge_free,
 * migrate_anon_huge_fault, migrate_partial_unmap_fault, migrate_remap_fault,
 * migrate_anon_huge_err and migrate_anon_huge_zero_err, each in the device-private and
 * device-coherent variants. The machine has THP (2 MiB PMDs), so none of them skips.
 */

import {
  HMM_DMIRROR_FLAG_FAIL_ALLOC,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_PMD,
  HMM_DMIRROR_PROT_WRITE,
} from '../../devices/dmirror/index.ts';
import {
  MADV_COLLAPSE,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_READ,
  PROT_WRITE,
} from '../../mm/index.ts';
import { expect } from '../expect.ts';
import {
  ALIGN,
  assertInts,
  cpuFillInts,
  cpuReadInts,
  HMM_DMIRROR_FLAGS,
  HMM_DMIRROR_SNAPSHOT,
  hmmBufferAlloc,
  hmmBufferFree,
  hmmDmirrorCmd,
  hmmIsCoherentType,
  hmmMigrateDevToSys,
  hmmMigrateSysToDev,
  mirrorInts,
  PM_PRESENT,
  PM_SWAP,
  pagemapGetEntry,
  readPmdPagesize,
  SelftestFile,
  TWOMEG,
} from '../harness.ts';

/** `ASSERT_EQ(ptr[i], f(i))` stopping at the first mismatch (the C loops that `break`). */
function assertIntsFirst(what: string, ints: Int32Array, count: number, f: (i: number) => number): void {
  for (let i = 0; i < count; i++) {
    if (ints[i] !== (f(i) | 0)) {
      expect(ints[i], `${what}[${i}]`).toBe(f(i) | 0);
      break;
    }
  }
}

/** The tests of this file, registered in declaration order. */
export const selftests = new SelftestFile('thp-migrate', 'hmm-tests.c: THP migration');
const { TEST_F_hmm } = selftests;

/* Migrate private anonymous huge empty page. */
TEST_F_hmm('migrate_anon_huge_empty', async (self) => {
  const { process } = self;
  const size = readPmdPagesize();
  const buffer = hmmBufferAlloc(2 * size, size);
  buffer.mirror.fill(0xff);

  buffer.ptr = await process.mmap(0, 2 * size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
  expect(buffer.ptr).toBeGreaterThan(0);

  const npages = size >> self.page_shift;
  const map = ALIGN(buffer.ptr, size);
  const ret0 = await process.madvise(map, size, MADV_HUGEPAGE);
  expect(ret0).toBe(0);
  const oldPtr = buffer.ptr;
  buffer.ptr = map;

  // Migrate memory to device.
  const ret = await hmmMigrateSysToDev(self.fd, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Check what the device read.
  assertInts('mirror', mirrorInts(buffer), 0, size / 4, () => 0);

  buffer.ptr = oldPtr;
  await hmmBufferFree(process, buffer);
});

/* Migrate private anonymous huge zero page. */
TEST_F_hmm('migrate_anon_huge_zero', async (self) => {
  const { process } = self;
  const size = readPmdPagesize();
  const buffer = hmmBufferAlloc(2 * size, size);
  buffer.mirror.fill(0xff);

  buffer.ptr = await process.mmap(0, 2 * size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
  expect(buffer.ptr).toBeGreaterThan(0);

  const npages = size >> self.page_shift;
  const map = ALIGN(buffer.ptr, size);
  let ret = await process.madvise(map, size, MADV_HUGEPAGE);
  expect(ret).toBe(0);
  const oldPtr = buffer.ptr;
  buffer.ptr = map;

  // Initialize a read-only zero huge page.
  const val = await process.load32(buffer.ptr);
  expect(val).toBe(0);

  // Migrate memory to device.
  ret = await hmmMigrateSysToDev(self.fd, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Check what the device read.
  assertInts('mirror', mirrorInts(buffer), 0, size / 4, () => 0);

  // Fault pages back to system memory and check them (if it asserts once, it probably will
  // 500,000 times).
  assertIntsFirst('ptr', await cpuReadInts(process, buffer.ptr, 0, size / 4), size / 4, () => 0);

  buffer.ptr = oldPtr;
  await hmmBufferFree(process, buffer);
});

/* Migrate private anonymous huge page and free. */
TEST_F_hmm('migrate_anon_huge_free', async (self) => {
  const { process } = self;
  const size = readPmdPagesize();
  const buffer = hmmBufferAlloc(2 * size, size);
  buffer.mirror.fill(0xff);

  buffer.ptr = await process.mmap(
    0,
    2 * size,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS,
    buffer.fd,
    0,
  );
  expect(buffer.ptr).toBeGreaterThan(0);

  const npages = size >> self.page_shift;
  const map = ALIGN(buffer.ptr, size);
  let ret = await process.madvise(map, size, MADV_HUGEPAGE);
  expect(ret).toBe(0);
  const oldPtr = buffer.ptr;
  buffer.ptr = map;

  // Initialize buffer in system memory.
  await cpuFillInts(process, buffer.ptr, 0, size / 4, (i) => i);

  // Migrate memory to device.
  ret = await hmmMigrateSysToDev(self.fd, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Check what the device read.
  assertInts('mirror', mirrorInts(buffer), 0, size / 4, (i) => i);

  // Try freeing it.
  ret = await process.madvise(map, size, MADV_FREE);
  expect(ret).toBe(0);

  buffer.ptr = oldPtr;
  await hmmBufferFree(process, buffer);
});

/* Migrate private anonymous huge page and fault back to sysmem. */
TEST_F_hmm('migrate_anon_huge_fault', async (self, variant) => {
  const { process } = self;
  const size = readPmdPagesize();
  const buffer = hmmBufferAlloc(2 * size, size);
  buffer.mirror.fill(0xff);

  buffer.ptr = await process.mmap(
    0,
    2 * size,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS,
    buffer.fd,
    0,
  );
  expect(buffer.ptr).toBeGreaterThan(0);

  const npages = size >> self.page_shift;
  const map = ALIGN(buffer.ptr, size);
  const oldPtr = buffer.ptr;
  buffer.ptr = map;

  // Initialize buffer in system memory.
  await cpuFillInts(process, buffer.ptr, 0, size / 4, (i) => i);

  let ret = await process.madvise(map, size, MADV_COLLAPSE);
  expect(ret).toBe(0);

  // Migrate memory to device.
  ret = await hmmMigrateSysToDev(self.fd, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Check what the device read.
  assertInts('mirror', mirrorInts(buffer), 0, size / 4, (i) => i);

  if (!hmmIsCoherentType(variant.device_number)) {
    ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages);
    expect(ret).toBe(0);
    expect(buffer.cpages).toBe(npages);

    const m = buffer.mirror;
    for (let i = 0; i < npages; ++i) {
      expect(m[i], `m[${i}]`).toBe(
        HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD,
      );
    }

    // /proc/self/pagemap: every page is a swap-like (device-private) entry, none present.
    for (let i = 0; i < npages; ++i) {
      const entry = pagemapGetEntry(process, buffer.ptr + i * self.page_size);
      expect(entry & PM_SWAP, `pagemap[${i}] swap`).not.toBe(0n);
      expect(entry & PM_PRESENT, `pagemap[${i}] present`).toBe(0n);
    }
  }

  // Fault pages back to system memory and check them.
  assertInts('ptr', await cpuReadInts(process, buffer.ptr, 0, size / 4), 0, size / 4, (i) => i);

  buffer.ptr = oldPtr;
  await hmmBufferFree(process, buffer);
});

/* Migrate memory and fault back to sysmem after partially unmapping. */
TEST_F_hmm('migrate_partial_unmap_fault', async (self) => {
  const { process } = self;
  let size = readPmdPagesize();
  if (!size) size = TWOMEG;
  const unmapSize = size / 2;
  const offsets = [0, size / 4, size / 2];

  for (let useThp = 0; useThp < 2; ++useThp) {
    for (let j = 0; j < offsets.length; ++j) {
      const buffer = hmmBufferAlloc(2 * size, size);
      buffer.mirror.fill(0xff);

      buffer.ptr = await process.mmap(
        0,
        2 * size,
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS,
        buffer.fd,
        0,
      );
      expect(buffer.ptr).toBeGreaterThan(0);

      const npages = size >> self.page_shift;
      const map = ALIGN(buffer.ptr, size);
      let ret = await process.madvise(map, size, useThp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
      expect(ret).toBe(0);
      const oldPtr = buffer.ptr;
      buffer.ptr = map;

      // Initialize buffer in system memory.
      await cpuFillInts(process, buffer.ptr, 0, size / 4, (i) => i);

      // Migrate memory to device.
      ret = await hmmMigrateSysToDev(self.fd, buffer, npages);
      expect(ret).toBe(0);
      expect(buffer.cpages).toBe(npages);

      // Check what the device read.
      assertInts('mirror', mirrorInts(buffer), 0, size / 4, (i) => i);

      await process.munmap(buffer.ptr + offsets[j]!, unmapSize);

      // Fault pages back to system memory and check them.
      const what = `ptr (use_thp=${useThp}, offset=${offsets[j]})`;
      const lo = offsets[j]! / 4;
      const hi = (offsets[j]! + unmapSize) / 4;
      if (lo > 0) assertInts(what, await cpuReadInts(process, buffer.ptr, 0, lo), 0, lo, (i) => i);
      if (hi < size / 4)
        assertInts(what, await cpuReadInts(process, buffer.ptr, hi, size / 4), hi, size / 4, (i) => i);

      buffer.ptr = oldPtr;
      await hmmBufferFree(process, buffer);
    }
  }
});

TEST_F_hmm('migrate_remap_fault', async (self) => {
  const { process } = self;
  let size = readPmdPagesize();
  if (!size) size = TWOMEG;
  const offsets = [0, size / 4, size / 2];

  for (let before = 0; before < 2; ++before) {
    for (let dontUnmap = 0; dontUnmap < 2; ++dontUnmap) {
      for (let useThp = 0; useThp < 2; ++useThp) {
        for (let j = 0; j < offsets.length; ++j) {
          let flags = MREMAP_MAYMOVE | MREMAP_FIXED;
          if (dontUnmap) flags |= MREMAP_DONTUNMAP;
          const what = `(before=${before}, dont_unmap=${dontUnmap}, use_thp=${useThp}, offset=${offsets[j]})`;

          const buffer = hmmBufferAlloc(8 * size, size);
          buffer.mirror.fill(0xff);

          buffer.ptr = await process.mmap(
            0,
            buffer.size,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            buffer.fd,
            0,
          );
          expect(buffer.ptr).toBeGreaterThan(0);

          const npages = size >> self.page_shift;
          const map = ALIGN(buffer.ptr, size);
          let ret = await process.madvise(map, size, useThp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
          expect(ret).toBe(0);
          const oldPtr = buffer.ptr;
          await process.munmap(map + size, size * 2);
          buffer.ptr = map;

          // Initialize buffer in system memory.
          await cpuFillInts(process, buffer.ptr, 0, size / 4, (i) => i);

          let newPtr = 0;
          if (before) {
            newPtr = await process.mremap(map, size, size, flags, map + size + offsets[j]!);
            expect(newPtr, `mremap ${what}`).toBeGreaterThan(0);
            buffer.ptr = newPtr;
          }

          // Migrate memory to device.
          ret = await hmmMigrateSysToDev(self.fd, buffer, npages);
          expect(ret, `migrate ${what}`).toBe(0);
          expect(buffer.cpages).toBe(npages);

          // Check what the device read.
          assertInts(`mirror ${what}`, mirrorInts(buffer), 0, size / 4, (i) => i);

          if (!before) {
            newPtr = await process.mremap(map, size, size, flags, map + size + offsets[j]!);
            expect(newPtr, `mremap ${what}`).toBeGreaterThan(0);
            buffer.ptr = newPtr;
          }

          // Fault pages back to system memory and check them.
          assertInts(
            `ptr ${what}`,
            await cpuReadInts(process, buffer.ptr, 0, size / 4),
            0,
            size / 4,
            (i) => i,
          );

          await process.munmap(newPtr, size);
          buffer.ptr = oldPtr;
          await hmmBufferFree(process, buffer);
        }
      }
    }
  }
});

/* Migrate private anonymous huge page with allocation errors. */
TEST_F_hmm('migrate_anon_huge_err', async (self) => {
  const { process } = self;
  const size = readPmdPagesize();
  const buffer = hmmBufferAlloc(2 * size, 2 * size);
  buffer.mirror.fill(0xff);

  let oldPtr = await process.mmap(
    0,
    2 * size,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS,
    buffer.fd,
    0,
  );
  expect(oldPtr).toBeGreaterThan(0);

  const npages = size >> self.page_shift;
  let map = ALIGN(oldPtr, size);
  let ret = await process.madvise(map, size, MADV_HUGEPAGE);
  expect(ret).toBe(0);
  buffer.ptr = map;

  // Initialize buffer in system memory.
  await cpuFillInts(process, buffer.ptr, 0, size / 4, (i) => i);

  // Migrate memory to device but force a THP allocation error.
  ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_FLAGS, buffer, HMM_DMIRROR_FLAG_FAIL_ALLOC);
  expect(ret).toBe(0);
  ret = await hmmMigrateSysToDev(self.fd, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Check what the device read.
  assertIntsFirst('mirror', mirrorInts(buffer), size / 4, (i) => i);

  // Try faulting back a single (PAGE_SIZE) page.
  expect(await process.load32(buffer.ptr + 2048 * 4)).toBe(2048);

  // unmap and remap the region to reset things.
  ret = await process.munmap(oldPtr, 2 * size);
  expect(ret).toBe(0);
  oldPtr = await process.mmap(0, 2 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
  expect(oldPtr).toBeGreaterThan(0);
  map = ALIGN(oldPtr, size);
  ret = await process.madvise(map, size, MADV_HUGEPAGE);
  expect(ret).toBe(0);
  buffer.ptr = map;

  // Initialize buffer in system memory.
  await cpuFillInts(process, buffer.ptr, 0, size / 4, (i) => i);

  // Migrate THP to device.
  ret = await hmmMigrateSysToDev(self.fd, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Force an allocation error when faulting back a THP resident in the device.
  ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_FLAGS, buffer, HMM_DMIRROR_FLAG_FAIL_ALLOC);
  expect(ret).toBe(0);

  ret = await hmmMigrateDevToSys(self.fd, buffer, npages);
  expect(ret).toBe(0);
  expect(await process.load32(buffer.ptr + 2048 * 4)).toBe(2048);

  buffer.ptr = oldPtr;
  await hmmBufferFree(process, buffer);
});

/* Migrate private anonymous huge zero page with allocation errors. */
TEST_F_hmm('migrate_anon_huge_zero_err', async (self) => {
  const { process } = self;
  const size = readPmdPagesize();
  const buffer = hmmBufferAlloc(2 * size, 2 * size);
  buffer.mirror.fill(0xff);

  let oldPtr = await process.mmap(0, 2 * size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
  expect(oldPtr).toBeGreaterThan(0);

  const npages = size >> self.page_shift;
  let map = ALIGN(oldPtr, size);
  let ret = await process.madvise(map, size, MADV_HUGEPAGE);
  expect(ret).toBe(0);
  buffer.ptr = map;

  // Migrate memory to device but force a THP allocation error.
  ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_FLAGS, buffer, HMM_DMIRROR_FLAG_FAIL_ALLOC);
  expect(ret).toBe(0);
  ret = await hmmMigrateSysToDev(self.fd, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Check what the device read.
  assertInts('mirror', mirrorInts(buffer), 0, size / 4, () => 0);

  // Try faulting back a single (PAGE_SIZE) page.
  expect(await process.load32(buffer.ptr + 2048 * 4)).toBe(0);

  // unmap and remap the region to reset things.
  ret = await process.munmap(oldPtr, 2 * size);
  expect(ret).toBe(0);
  oldPtr = await process.mmap(0, 2 * size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
  expect(oldPtr).toBeGreaterThan(0);
  map = ALIGN(oldPtr, size);
  ret = await process.madvise(map, size, MADV_HUGEPAGE);
  expect(ret).toBe(0);
  buffer.ptr = map;

  // Initialize buffer in system memory (zero THP page). The C test reads through the pointer
  // taken before the remap, which works only because the new mapping lands at the same
  // address; the port reads the new mapping.
  expect(await process.load32(buffer.ptr)).toBe(0);

  // Migrate memory to device but force a THP allocation error.
  ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_FLAGS, buffer, HMM_DMIRROR_FLAG_FAIL_ALLOC);
  expect(ret).toBe(0);
  ret = await hmmMigrateSysToDev(self.fd, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Fault the device memory back and check it.
  assertInts('ptr', await cpuReadInts(process, buffer.ptr, 0, size / 4), 0, size / 4, () => 0);

  buffer.ptr = oldPtr;
  await hmmBufferFree(process, buffer);
});

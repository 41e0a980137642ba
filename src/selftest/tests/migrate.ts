/**
 * hmm-tests.c, migration of base pages between system and device memory: migrate,
 * migrate_file_private, migrate_fault, migrate_release, migrate_shared, migrate_mixed (hmm2),
 * migrate_multiple, snapshot (hmm2) and double_map (hmm2), each in the device-private and
 * device-coherent variants.
 */

import {
  HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,
  HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_ERROR,
  HMM_DMIRROR_PROT_NONE,
  HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_PROT_ZERO,
} from '../../devices/dmirror/index.ts';
import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_NONE, PROT_READ, PROT_WRITE } from '../../mm/index.ts';
import { EINVAL, ENOENT } from '../../sim/errno.ts';
import { expect } from '../expect.ts';
import {
  ALIGN,
  assertInts,
  cpuFillInts,
  cpuReadInts,
  HMM_BUFFER_SIZE,
  HMM_DMIRROR_READ,
  HMM_DMIRROR_RELEASE,
  HMM_DMIRROR_SNAPSHOT,
  hmmBufferAlloc,
  hmmBufferFree,
  hmmCreateFile,
  hmmDmirrorCmd,
  hmmIsCoherentType,
  hmmMigrateDevToSys,
  hmmMigrateSysToDev,
  mirrorInts,
  NTIMES,
  SelftestFile,
} from '../harness.ts';

/** The tests of this file, registered in declaration order. */
export const selftests = new SelftestFile('migrate', 'hmm-tests.c: migration');
const { TEST_F_hmm, TEST_F_hmm2 } = selftests;

/* Migrate anonymous memory to device private memory. */
TEST_F_hmm('migrate', async (self) => {
  const { process } = self;
  const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
  expect(npages).not.toBe(0);
  const size = npages << self.page_shift;
  const buffer = hmmBufferAlloc(size);
  buffer.ptr = await process.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
  expect(buffer.ptr).toBeGreaterThan(0);

  // Initialize buffer in system memory.
  await cpuFillInts(process, buffer.ptr, 0, size / 4, (i) => i);

  // Migrate memory to device.
  const ret = await hmmMigrateSysToDev(self.fd, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Check what the device read.
  assertInts('mirror', mirrorInts(buffer), 0, size / 4, (i) => i);

  await hmmBufferFree(process, buffer);
});

/* Migrate private file memory to device private memory. */
TEST_F_hmm('migrate_file_private', async (self) => {
  const { process } = self;
  const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
  expect(npages).not.toBe(0);
  const size = npages << self.page_shift;

  const fd = await hmmCreateFile(process, size);
  expect(fd).toBeGreaterThanOrEqual(0);

  const buffer = hmmBufferAlloc(size);
  buffer.fd = fd;
  buffer.ptr = await process.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, buffer.fd, 0);
  expect(buffer.ptr).toBeGreaterThan(0);

  // Initialize buffer in system memory: every page becomes an anonymous copy of the file page.
  await cpuFillInts(process, buffer.ptr, 0, size / 4, (i) => i);

  // Migrate memory to device.
  const ret = await hmmMigrateSysToDev(self.fd, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Check what the device read.
  assertInts('mirror', mirrorInts(buffer), 0, size / 4, (i) => i);

  await hmmBufferFree(process, buffer);
});

/*
 * Migrate anonymous memory to device private memory and fault some of it back to system
 * memory, then try migrating the resulting mix of system and device private memory to the
 * device.
 */
TEST_F_hmm('migrate_fault', async (self) => {
  const { process } = self;
  const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
  expect(npages).not.toBe(0);
  const size = npages << self.page_shift;
  const buffer = hmmBufferAlloc(size);
  buffer.ptr = await process.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
  expect(buffer.ptr).toBeGreaterThan(0);

  // Initialize buffer in system memory.
  await cpuFillInts(process, buffer.ptr, 0, size / 4, (i) => i);

  // Migrate memory to device.
  let ret = await hmmMigrateSysToDev(self.fd, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Check what the device read.
  assertInts('mirror', mirrorInts(buffer), 0, size / 4, (i) => i);

  // Fault half the pages back to system memory and check them.
  assertInts('ptr', await cpuReadInts(process, buffer.ptr, 0, size / 8), 0, size / 8, (i) => i);

  // Migrate memory to the device again.
  ret = await hmmMigrateSysToDev(self.fd, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Check what the device read.
  assertInts('mirror', mirrorInts(buffer), 0, size / 4, (i) => i);

  await hmmBufferFree(process, buffer);
});

TEST_F_hmm('migrate_release', async (self) => {
  const { process } = self;
  const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
  expect(npages).not.toBe(0);
  const size = npages << self.page_shift;
  const buffer = hmmBufferAlloc(size);
  buffer.ptr = await process.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
  expect(buffer.ptr).toBeGreaterThan(0);

  // Initialize buffer in system memory.
  await cpuFillInts(process, buffer.ptr, 0, size / 4, (i) => i);

  // Migrate memory to device.
  let ret = await hmmMigrateSysToDev(self.fd, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Check what the device read.
  assertInts('mirror', mirrorInts(buffer), 0, size / 4, (i) => i);

  // Release device memory.
  ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_RELEASE, buffer, npages);
  expect(ret).toBe(0);

  // Fault pages back to system memory and check them.
  assertInts('ptr', await cpuReadInts(process, buffer.ptr, 0, size / 8), 0, size / 8, (i) => i);

  await hmmBufferFree(process, buffer);
});

/* Migrate anonymous shared memory to device private memory. */
TEST_F_hmm('migrate_shared', async (self) => {
  const { process } = self;
  const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
  expect(npages).not.toBe(0);
  const size = npages << self.page_shift;
  const buffer = hmmBufferAlloc(size);
  buffer.ptr = await process.mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, buffer.fd, 0);
  expect(buffer.ptr).toBeGreaterThan(0);

  // Migrate memory to device.
  const ret = await hmmMigrateSysToDev(self.fd, buffer, npages);
  expect(ret).toBe(-ENOENT);

  await hmmBufferFree(process, buffer);
});

/* Try to migrate various memory types to device private memory. */
TEST_F_hmm2('migrate_mixed', async (self) => {
  const { process } = self;
  const npages = 6;
  const size = npages << self.page_shift;
  const buffer = hmmBufferAlloc(size);

  // Reserve a range of addresses.
  buffer.ptr = await process.mmap(0, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
  expect(buffer.ptr).toBeGreaterThan(0);
  const p = buffer.ptr;

  // Migrating a protected area should be an error.
  let ret = await hmmMigrateSysToDev(self.fd1, buffer, npages);
  expect(ret).toBe(-EINVAL);

  // Punch a hole after the first page address.
  ret = await process.munmap(buffer.ptr + self.page_size, self.page_size);
  expect(ret).toBe(0);

  // We expect an error if the vma doesn't cover the range.
  ret = await hmmMigrateSysToDev(self.fd1, buffer, 3);
  expect(ret).toBe(-EINVAL);

  // Page 2 will be a read-only zero page.
  ret = await process.mprotect(buffer.ptr + 2 * self.page_size, self.page_size, PROT_READ);
  expect(ret).toBe(0);
  const val = (await process.load32(buffer.ptr + 2 * self.page_size)) + 3;
  expect(val).toBe(3);

  // Page 3 will be read-only.
  ret = await process.mprotect(buffer.ptr + 3 * self.page_size, self.page_size, PROT_READ | PROT_WRITE);
  expect(ret).toBe(0);
  await process.store32(buffer.ptr + 3 * self.page_size, val);
  ret = await process.mprotect(buffer.ptr + 3 * self.page_size, self.page_size, PROT_READ);
  expect(ret).toBe(0);

  // Page 4-5 will be read-write.
  ret = await process.mprotect(buffer.ptr + 4 * self.page_size, 2 * self.page_size, PROT_READ | PROT_WRITE);
  expect(ret).toBe(0);
  await process.store32(buffer.ptr + 4 * self.page_size, val);
  await process.store32(buffer.ptr + 5 * self.page_size, val);

  // Now try to migrate pages 2-5 to device 1.
  buffer.ptr = p + 2 * self.page_size;
  ret = await hmmMigrateSysToDev(self.fd1, buffer, 4);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(4);

  // Page 5 won't be migrated to device 0 because it's on device 1.
  buffer.ptr = p + 5 * self.page_size;
  ret = await hmmMigrateSysToDev(self.fd0, buffer, 1);
  expect(ret).toBe(-ENOENT);

  buffer.ptr = p;
  await hmmBufferFree(process, buffer);
});

/*
 * Migrate anonymous memory to device memory and back to system memory multiple times. In case
 * of private zone configuration, this is done through fault pages accessed by CPU. In case of
 * coherent zone configuration, the pages from the device should be explicitly migrated back to
 * system memory. The reason is Coherent device zone has coherent access by CPU, therefore it
 * will not generate any page fault.
 */
TEST_F_hmm('migrate_multiple', async (self, variant) => {
  const { process } = self;
  const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
  expect(npages).not.toBe(0);
  const size = npages << self.page_shift;

  for (let c = 0; c < NTIMES; c++) {
    const buffer = hmmBufferAlloc(size);
    buffer.ptr = await process.mmap(
      0,
      size,
      PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS,
      buffer.fd,
      0,
    );
    expect(buffer.ptr).toBeGreaterThan(0);

    // Initialize buffer in system memory.
    await cpuFillInts(process, buffer.ptr, 0, size / 4, (i) => i);

    // Migrate memory to device.
    let ret = await hmmMigrateSysToDev(self.fd, buffer, npages);
    expect(ret).toBe(0);
    expect(buffer.cpages).toBe(npages);

    // Check what the device read.
    assertInts(`mirror (c=${c})`, mirrorInts(buffer), 0, size / 4, (i) => i);

    // Migrate back to system memory and check them.
    if (hmmIsCoherentType(variant.device_number)) {
      ret = await hmmMigrateDevToSys(self.fd, buffer, npages);
      expect(ret).toBe(0);
      expect(buffer.cpages).toBe(npages);
    }

    assertInts(`ptr (c=${c})`, await cpuReadInts(process, buffer.ptr, 0, size / 4), 0, size / 4, (i) => i);

    await hmmBufferFree(process, buffer);
  }
});

/* Test memory snapshot without faulting in pages accessed by the device. */
TEST_F_hmm2('snapshot', async (self, variant) => {
  const { process } = self;
  const npages = 7;
  const size = npages << self.page_shift;
  const buffer = hmmBufferAlloc(size, npages);

  // Reserve a range of addresses.
  buffer.ptr = await process.mmap(0, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
  expect(buffer.ptr).toBeGreaterThan(0);
  const p = buffer.ptr;

  // Punch a hole after the first page address.
  let ret = await process.munmap(buffer.ptr + self.page_size, self.page_size);
  expect(ret).toBe(0);

  // Page 2 will be read-only zero page.
  ret = await process.mprotect(buffer.ptr + 2 * self.page_size, self.page_size, PROT_READ);
  expect(ret).toBe(0);
  const val = (await process.load32(buffer.ptr + 2 * self.page_size)) + 3;
  expect(val).toBe(3);

  // Page 3 will be read-only.
  ret = await process.mprotect(buffer.ptr + 3 * self.page_size, self.page_size, PROT_READ | PROT_WRITE);
  expect(ret).toBe(0);
  await process.store32(buffer.ptr + 3 * self.page_size, val);
  ret = await process.mprotect(buffer.ptr + 3 * self.page_size, self.page_size, PROT_READ);
  expect(ret).toBe(0);

  // Page 4-6 will be read-write.
  ret = await process.mprotect(buffer.ptr + 4 * self.page_size, 3 * self.page_size, PROT_READ | PROT_WRITE);
  expect(ret).toBe(0);
  await process.store32(buffer.ptr + 4 * self.page_size, val);

  // Page 5 will be migrated to device 0.
  buffer.ptr = p + 5 * self.page_size;
  ret = await hmmMigrateSysToDev(self.fd0, buffer, 1);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(1);

  // Page 6 will be migrated to device 1.
  buffer.ptr = p + 6 * self.page_size;
  ret = await hmmMigrateSysToDev(self.fd1, buffer, 1);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(1);

  // Simulate a device snapshotting CPU pagetables.
  buffer.ptr = p;
  ret = await hmmDmirrorCmd(self.fd0, HMM_DMIRROR_SNAPSHOT, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Check what the device saw.
  const m = buffer.mirror;
  expect(m[0]).toBe(HMM_DMIRROR_PROT_ERROR);
  expect(m[1]).toBe(HMM_DMIRROR_PROT_ERROR);
  expect(m[2]).toBe(HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ);
  expect(m[3]).toBe(HMM_DMIRROR_PROT_READ);
  expect(m[4]).toBe(HMM_DMIRROR_PROT_WRITE);
  if (!hmmIsCoherentType(variant.device_number0)) {
    expect(m[5]).toBe(HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE);
    expect(m[6]).toBe(HMM_DMIRROR_PROT_NONE);
  } else {
    expect(m[5]).toBe(HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | HMM_DMIRROR_PROT_WRITE);
    expect(m[6]).toBe(HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE | HMM_DMIRROR_PROT_WRITE);
  }

  await hmmBufferFree(process, buffer);
});

/* Test two devices reading the same memory (double mapped). */
TEST_F_hmm2('double_map', async (self) => {
  const { process } = self;
  const npages = 6;
  const size = npages << self.page_shift;
  const buffer = hmmBufferAlloc(size);

  // Reserve a range of addresses.
  buffer.ptr = await process.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
  expect(buffer.ptr).toBeGreaterThan(0);

  // Initialize buffer in system memory.
  await cpuFillInts(process, buffer.ptr, 0, size / 4, (i) => i);

  // Make region read-only.
  let ret = await process.mprotect(buffer.ptr, size, PROT_READ);
  expect(ret).toBe(0);

  // Simulate device 0 reading system memory.
  ret = await hmmDmirrorCmd(self.fd0, HMM_DMIRROR_READ, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);
  expect(buffer.faults).toBe(1);

  // Check what the device read.
  assertInts('mirror', mirrorInts(buffer), 0, size / 4, (i) => i);

  // Simulate device 1 reading system memory.
  ret = await hmmDmirrorCmd(self.fd1, HMM_DMIRROR_READ, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);
  expect(buffer.faults).toBe(1);

  // Check what the device read.
  assertInts('mirror', mirrorInts(buffer), 0, size / 4, (i) => i);

  // Migrate pages to device 1 and try to read from device 0.
  ret = await hmmMigrateSysToDev(self.fd1, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  ret = await hmmDmirrorCmd(self.fd0, HMM_DMIRROR_READ, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);
  expect(buffer.faults).toBe(1);

  // Check what device 0 read.
  assertInts('mirror', mirrorInts(buffer), 0, size / 4, (i) => i);

  await hmmBufferFree(process, buffer);
});

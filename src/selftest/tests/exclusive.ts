/**
 * hmm-tests.c, device-exclusive (atomic) access: exclusive, exclusive_mprotect and
 * exclusive_cow, each in the device-private and device-coherent variants.
 */

import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../mm/index.ts';
import { EPERM } from '../../sim/errno.ts';
import { expect } from '../expect.ts';
import {
  ALIGN,
  assertExited,
  assertInts,
  cpuFillInts,
  cpuIncrementInts,
  cpuReadInts,
  HMM_BUFFER_SIZE,
  HMM_DMIRROR_CHECK_EXCLUSIVE,
  HMM_DMIRROR_EXCLUSIVE,
  HMM_DMIRROR_WRITE,
  hmmBufferAlloc,
  hmmBufferFree,
  hmmDmirrorCmd,
  hmmFork,
  mirrorInts,
  SelftestFile,
} from '../harness.ts';

/** The tests of this file, registered in declaration order. */
export const selftests = new SelftestFile('exclusive', 'hmm-tests.c: exclusive access');
const { TEST_F_hmm } = selftests;

/* Basic check of exclusive faulting. */
TEST_F_hmm('exclusive', async (self) => {
  const { process } = self;
  const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
  expect(npages).not.toBe(0);
  const size = npages << self.page_shift;
  const buffer = hmmBufferAlloc(size);
  buffer.ptr = await process.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
  expect(buffer.ptr).toBeGreaterThan(0);

  // Initialize buffer in system memory.
  await cpuFillInts(process, buffer.ptr, 0, size / 4, (i) => i);

  // Map memory exclusively for device access.
  let ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_EXCLUSIVE, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Check what the device read.
  assertInts('mirror', mirrorInts(buffer), 0, size / 4, (i) => i);

  // Fault pages back to system memory and check them.
  await cpuIncrementInts(process, buffer.ptr, 0, size / 4, (i) => i);

  assertInts('ptr', await cpuReadInts(process, buffer.ptr, 0, size / 4), 0, size / 4, (i) => i + 1);

  // Check atomic access revoked.
  ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_CHECK_EXCLUSIVE, buffer, npages);
  expect(ret).toBe(0);

  await hmmBufferFree(process, buffer);
});

TEST_F_hmm('exclusive_mprotect', async (self) => {
  const { process } = self;
  const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
  expect(npages).not.toBe(0);
  const size = npages << self.page_shift;
  const buffer = hmmBufferAlloc(size);
  buffer.ptr = await process.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
  expect(buffer.ptr).toBeGreaterThan(0);

  // Initialize buffer in system memory.
  await cpuFillInts(process, buffer.ptr, 0, size / 4, (i) => i);

  // Map memory exclusively for device access.
  let ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_EXCLUSIVE, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Check what the device read.
  assertInts('mirror', mirrorInts(buffer), 0, size / 4, (i) => i);

  ret = await process.mprotect(buffer.ptr, size, PROT_READ);
  expect(ret).toBe(0);

  // Simulate a device writing system memory.
  ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_WRITE, buffer, npages);
  expect(ret).toBe(-EPERM);

  await hmmBufferFree(process, buffer);
});

/* Check copy-on-write works. */
TEST_F_hmm('exclusive_cow', async (self) => {
  const { machine, process } = self;
  const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
  expect(npages).not.toBe(0);
  const size = npages << self.page_shift;
  const buffer = hmmBufferAlloc(size);
  buffer.ptr = await process.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
  expect(buffer.ptr).toBeGreaterThan(0);

  // Initialize buffer in system memory.
  await cpuFillInts(process, buffer.ptr, 0, size / 4, (i) => i);

  // Map memory exclusively for device access.
  const ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_EXCLUSIVE, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  const pid = await hmmFork(machine, process, async ({ process: child }) => {
    // Child verifies COW independently, then _exit(0)s so it does not run the test teardown.
    await cpuIncrementInts(child, buffer.ptr, 0, size / 4, (i) => i);
    assertInts('child ptr', await cpuReadInts(child, buffer.ptr, 0, size / 4), 0, size / 4, (i) => i + 1);
    await child.exit(); // _exit(0)
  });

  // Parent: also increment to verify COW works for both processes.
  await cpuIncrementInts(process, buffer.ptr, 0, size / 4, (i) => i);
  assertInts('ptr', await cpuReadInts(process, buffer.ptr, 0, size / 4), 0, size / 4, (i) => i + 1);

  // Parent: wait for child and then free the buffer.
  const status = await pid.waitpid();
  expect(status.pid).toBe(pid.pid);
  assertExited(status);
  expect(status.exitStatus).toBe(0);

  await hmmBufferFree(process, buffer);
});

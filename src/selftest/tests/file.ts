/**
 * hmm-tests.c, file and device-file mappings: file_read, file_write (a shared tmpfile) and
 * mixedmap (the dmirror device file itself), each in the device-private and device-coherent
 * variants.
 */

import { HMM_DMIRROR_PROT_READ } from '../../devices/dmirror/index.ts';
import { MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from '../../mm/index.ts';
import { expect } from '../expect.ts';
import {
  ALIGN,
  assertInts,
  cpuReadInts,
  fillMirror,
  HMM_BUFFER_SIZE,
  HMM_DMIRROR_READ,
  HMM_DMIRROR_SNAPSHOT,
  HMM_DMIRROR_WRITE,
  hmmBufferAlloc,
  hmmBufferFree,
  hmmCreateFile,
  hmmDmirrorCmd,
  mirrorInts,
  SelftestFile,
} from '../harness.ts';

/** The tests of this file, registered in declaration order. */
export const selftests = new SelftestFile('file', 'hmm-tests.c: files');
const { TEST_F_hmm } = selftests;

/* Read mmap'ed file memory. */
TEST_F_hmm('file_read', async (self) => {
  const { process } = self;
  const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
  expect(npages).not.toBe(0);
  const size = npages << self.page_shift;

  const fd = await hmmCreateFile(process, size);
  expect(fd).toBeGreaterThanOrEqual(0);

  const buffer = hmmBufferAlloc(size);
  buffer.fd = fd;

  // Write initial contents of the file.
  fillMirror(buffer, size / 4, (i) => i);
  const len = await process.pwrite(fd, buffer.mirror, 0);
  expect(len).toBe(size);
  buffer.mirror.fill(0);

  buffer.ptr = await process.mmap(0, size, PROT_READ, MAP_SHARED, buffer.fd, 0);
  expect(buffer.ptr).toBeGreaterThan(0);

  // Simulate a device reading system memory.
  const ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_READ, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);
  expect(buffer.faults).toBe(1);

  // Check what the device read.
  assertInts('mirror', mirrorInts(buffer), 0, size / 4, (i) => i);

  await hmmBufferFree(process, buffer);
});

/* Write mmap'ed file memory. */
TEST_F_hmm('file_write', async (self) => {
  const { process } = self;
  const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
  expect(npages).not.toBe(0);
  const size = npages << self.page_shift;

  const fd = await hmmCreateFile(process, size);
  expect(fd).toBeGreaterThanOrEqual(0);

  const buffer = hmmBufferAlloc(size);
  buffer.fd = fd;
  buffer.ptr = await process.mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED, buffer.fd, 0);
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

  // Check that the device also wrote the file.
  const len = await process.pread(fd, buffer.mirror, 0);
  expect(len).toBe(size);
  assertInts('mirror', mirrorInts(buffer), 0, size / 4, (i) => i);

  await hmmBufferFree(process, buffer);
});

/* Test memory snapshot without faulting in pages accessed by the device. */
TEST_F_hmm('mixedmap', async (self) => {
  const { process } = self;
  const npages = 1;
  const size = npages << self.page_shift;
  const buffer = hmmBufferAlloc(size, npages);

  // Reserve a range of addresses: a mapping of the device file itself.
  buffer.ptr = await process.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, self.fd.fd, 0);
  expect(buffer.ptr).toBeGreaterThan(0);

  // Simulate a device snapshotting CPU pagetables.
  const ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Check what the device saw.
  const m = buffer.mirror;
  expect(m[0]).toBe(HMM_DMIRROR_PROT_READ);

  await hmmBufferFree(process, buffer);
});

/**
 * hmm-tests.c, device memory and fork: anon_write_child (a forked child writes its copy through
 * its own device file, with and without the parent's pages migrated, with and without THP),
 * hmm_gup_test (get_user_pages and pin_user_pages on device pages) and hmm_cow_in_device (a
 * copy-on-write break of device pages), each in the device-private and device-coherent variants.
 */

import { HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL, HMM_DMIRROR_PROT_WRITE } from '../../devices/dmirror/index.ts';
import {
  FOLL_LONGTERM,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from '../../mm/index.ts';
import { expect } from '../expect.ts';
import {
  ALIGN,
  assertExited,
  assertInts,
  cpuFillInts,
  cpuReadInts,
  fillMirror,
  GUP_BASIC_TEST,
  GUP_FAST_BENCHMARK,
  gupTestExec,
  HMM_BUFFER_SIZE,
  HMM_DMIRROR_SNAPSHOT,
  HMM_DMIRROR_WRITE,
  type HmmBuffer,
  hmmBufferAlloc,
  hmmBufferFree,
  hmmDmirrorCmd,
  hmmFork,
  hmmIsCoherentType,
  hmmMigrateSysToDev,
  hmmOpen,
  mirrorInts,
  PIN_FAST_BENCHMARK,
  PIN_LONGTERM_BENCHMARK,
  readPmdPagesize,
  SelftestFile,
  SIGKILL,
} from '../harness.ts';

/** The child's copy of the parent's heap after fork: the buffer struct and its mirror. */
function forkHeap(buffer: HmmBuffer): HmmBuffer {
  return { ...buffer, mirror: buffer.mirror.slice() };
}

/** The tests of this file, registered in declaration order. */
export const selftests = new SelftestFile('child', 'hmm-tests.c: fork and device memory');
const { TEST_F_hmm } = selftests;

/*
 * Check that a device writing an anonymous private mapping will copy-on-write if a child
 * process inherits the mapping.
 *
 * Also verifies after fork() memory the device can be read by child.
 */
TEST_F_hmm('anon_write_child', async (self) => {
  const { machine, process } = self;
  for (let migrate = 0; migrate < 2; ++migrate) {
    for (let useThp = 0; useThp < 2; ++useThp) {
      const npages = ALIGN(useThp ? readPmdPagesize() : HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
      expect(npages).not.toBe(0);
      const size = npages << self.page_shift;

      const buffer = hmmBufferAlloc(size * 2, size);
      buffer.ptr = await process.mmap(
        0,
        size * 2,
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS,
        buffer.fd,
        0,
      );
      expect(buffer.ptr).toBeGreaterThan(0);

      const oldPtr = buffer.ptr;
      if (useThp) {
        const map = ALIGN(buffer.ptr, size);
        const ret = await process.madvise(map, size, MADV_HUGEPAGE);
        expect(ret).toBe(0);
        buffer.ptr = map;
      }

      // Initialize buffer->ptr so we can tell if it is written.
      await cpuFillInts(process, buffer.ptr, 0, size / 4, (i) => i);

      // Initialize data that the device will write to buffer->ptr.
      fillMirror(buffer, size / 4, (i) => -i);

      if (migrate) {
        const ret = await hmmMigrateSysToDev(self.fd, buffer, npages);
        expect(ret).toBe(0);
        expect(buffer.cpages).toBe(npages);
      }

      const childBuffer = forkHeap(buffer);
      const pid = await hmmFork(machine, process, async ({ process: child }) => {
        // Check that we see the parent's values.
        assertInts(
          'child ptr',
          await cpuReadInts(child, childBuffer.ptr, 0, size / 4),
          0,
          size / 4,
          (i) => i,
        );
        if (!migrate) assertInts('child mirror', mirrorInts(childBuffer), 0, size / 4, (i) => -i);

        // The child process needs its own mirror to its own mm.
        const childFd = await hmmOpen(machine, child, 0);
        expect(childFd.fd).toBeGreaterThanOrEqual(0);

        // Simulate a device writing system memory.
        const ret = await hmmDmirrorCmd(childFd, HMM_DMIRROR_WRITE, childBuffer, npages);
        expect(ret).toBe(0);
        expect(childBuffer.cpages).toBe(npages);
        expect(childBuffer.faults).toBe(1);

        // Check what the device wrote.
        if (!migrate) {
          assertInts(
            'child ptr',
            await cpuReadInts(child, childBuffer.ptr, 0, size / 4),
            0,
            size / 4,
            (i) => -i,
          );
        }

        await childFd.close();
        await child.exit(); // _exit(0)
      });

      // waitpid(pid, &ret, 0); ASSERT_EQ(WIFEXITED(ret), 1);
      assertExited(await pid.waitpid());
      expect(pid.process.exited).toBe(true);

      // Check that the parent's buffer did not change.
      assertInts(
        `ptr (migrate=${migrate}, use_thp=${useThp})`,
        await cpuReadInts(process, buffer.ptr, 0, size / 4),
        0,
        size / 4,
        (i) => i,
      );

      buffer.ptr = oldPtr;
      await hmmBufferFree(process, buffer);
    }
  }
});

/*
 * Test get user device pages through gup_test. Setting PIN_LONGTERM flag. This should trigger
 * a migration back to system memory for both, private and coherent type pages. The machine
 * always has the gup_test debugfs file.
 */
TEST_F_hmm('hmm_gup_test', async (self, variant) => {
  const { process } = self;
  const npages = 4;
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

  expect(await gupTestExec(process, buffer.ptr, GUP_BASIC_TEST, 1, self.page_size, 0)).toBe(0);
  expect(
    await gupTestExec(process, buffer.ptr + 1 * self.page_size, GUP_FAST_BENCHMARK, 1, self.page_size, 0),
  ).toBe(0);
  expect(
    await gupTestExec(
      process,
      buffer.ptr + 2 * self.page_size,
      PIN_FAST_BENCHMARK,
      1,
      self.page_size,
      FOLL_LONGTERM,
    ),
  ).toBe(0);
  expect(
    await gupTestExec(process, buffer.ptr + 3 * self.page_size, PIN_LONGTERM_BENCHMARK, 1, self.page_size, 0),
  ).toBe(0);

  // Take snapshot to CPU pagetables.
  ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);
  const m = buffer.mirror;
  if (hmmIsCoherentType(variant.device_number)) {
    expect(m[0]).toBe(HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | HMM_DMIRROR_PROT_WRITE);
    expect(m[1]).toBe(HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | HMM_DMIRROR_PROT_WRITE);
  } else {
    expect(m[0]).toBe(HMM_DMIRROR_PROT_WRITE);
    expect(m[1]).toBe(HMM_DMIRROR_PROT_WRITE);
  }
  expect(m[2]).toBe(HMM_DMIRROR_PROT_WRITE);
  expect(m[3]).toBe(HMM_DMIRROR_PROT_WRITE);
  // Check again the content on the pages. Make sure there's no corrupted data.
  assertInts('ptr', await cpuReadInts(process, buffer.ptr, 0, size / 4), 0, size / 4, (i) => i);

  await hmmBufferFree(process, buffer);
});

/*
 * Test copy-on-write in device pages. In case of writing to COW private page(s), a page fault
 * will migrate pages back to system memory first. Then, these pages will be duplicated. In
 * case of COW device coherent type, pages are duplicated directly from device memory.
 */
TEST_F_hmm('hmm_cow_in_device', async (self) => {
  const { machine, process } = self;
  const npages = 4;
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

  // Child process waits for SIGKILL from the parent.
  const pid = await hmmFork(machine, process, (child) => child.untilKilled());

  // Parent process writes to COW pages(s) and gets a new copy in system. In case of device
  // private pages, this write causes a migration to system mem first.
  await cpuFillInts(process, buffer.ptr, 0, size / 4, (i) => i);

  // Terminate child and wait.
  expect(await pid.kill(SIGKILL)).toBe(0);
  const status = await pid.waitpid();
  expect(status.pid).toBe(pid.pid);
  expect(status.signaled).toBe(true);
  expect(status.termsig).toBe(SIGKILL);

  // Take snapshot to CPU pagetables.
  ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);
  const m = buffer.mirror;
  for (let i = 0; i < npages; i++) expect(m[i], `m[${i}]`).toBe(HMM_DMIRROR_PROT_WRITE);

  await hmmBufferFree(process, buffer);
});

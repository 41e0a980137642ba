/**
 * hmm-tests.c, the lock-drop series' test (2026, v8 "selftests/mm: add HMM test for mmap
 * lock-dropping faults"): userfaultfd_read, in the device-private and device-coherent variants.
 * A handler thread answers UFFD_EVENT_PAGEFAULT messages with UFFDIO_COPY of 0xAB bytes while the
 * device reads the registered buffer through HMM_DMIRROR_READ_UNLOCKED.
 *
 * Port notes: the handler's `poll()` on the userfaultfd and a stop eventfd becomes a blocking
 * `read()` that returns null once the userfaultfd is released; the stop signal is therefore the
 * userfaultfd's close (the C test writes the eventfd, joins the thread, then closes both).
 */
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../mm/index.ts';
import {
  UFFD_API,
  UFFD_EVENT_PAGEFAULT,
  UFFDIO_REGISTER_MODE_MISSING,
  type Userfaultfd,
} from '../../mm/userfaultfd.ts';
import { expect } from '../expect.ts';
import {
  HMM_DMIRROR_READ_UNLOCKED,
  hmmBufferAlloc,
  hmmBufferFree,
  hmmDmirrorCmd,
  SelftestFile,
} from '../harness.ts';

/** The tests of this file, registered in declaration order. */
export const selftests = new SelftestFile('userfaultfd', 'hmm-tests.c: userfaultfd (lock-drop series)');
const { TEST_F_hmm } = selftests;

/** `struct uffd_thread_args`. */
interface UffdThreadArgs {
  uffd: Userfaultfd;
  pageBuffer: Uint8Array;
  pageSize: number;
}

/** `uffd_handler_thread`: answers each missing-page fault with a page of 0xAB. */
async function uffdHandlerThread(args: UffdThreadArgs): Promise<void> {
  for (;;) {
    const msg = await args.uffd.read();
    if (msg === null) break; // the stop signal
    if (msg.event !== UFFD_EVENT_PAGEFAULT) break;
    // Fill the page with a known pattern.
    args.pageBuffer.fill(0xab);
    const dst = Math.floor(msg.address / args.pageSize) * args.pageSize;
    const ret = await args.uffd.copy(dst, args.pageBuffer, args.pageSize);
    if (ret < 0) break;
  }
}

/*
 * Test that HMM can fault in pages backed by userfaultfd using the
 * hmm_range_fault_unlocked_timeout() path with no timeout.
 */
TEST_F_hmm('userfaultfd_read', async (self) => {
  const { process, machine } = self;
  const npages = 4;
  const size = npages << self.page_shift;

  // Create userfaultfd.
  const uffd = process.userfaultfd();
  expect(uffd.fd).toBeGreaterThanOrEqual(0);
  expect(uffd.api(UFFD_API)).toBe(0);

  const buffer = hmmBufferAlloc(size);
  buffer.fd = -1;

  // Create anonymous mapping.
  buffer.ptr = await process.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  expect(buffer.ptr).toBeGreaterThan(0);

  // Register the region with userfaultfd.
  expect(await uffd.register(buffer.ptr, size, UFFDIO_REGISTER_MODE_MISSING)).toBe(0);

  // Set up the handler thread.
  const args: UffdThreadArgs = { uffd, pageBuffer: new Uint8Array(self.page_size), pageSize: self.page_size };
  const thread = machine.sched.spawn('uffd_handler_thread', () => uffdHandlerThread(args));

  // The unlocked read path lets the mmap lock be dropped during the fault.
  const ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_READ_UNLOCKED, buffer, npages);
  expect(ret).toBe(0);
  expect(buffer.cpages).toBe(npages);

  // Verify the device read the data filled by the uffd handler.
  for (let i = 0; i < size; ++i) expect(buffer.mirror[i]).toBe(0xab);

  expect(await process.close(uffd.fd)).toBe(0);
  await machine.sched.join(thread);
  await hmmBufferFree(process, buffer);
});

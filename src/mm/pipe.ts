/**
 * A pipe that `vmsplice()` fills with references to user pages (fs/splice.c, fs/pipe.c):
 * `vmsplice_to_pipe` takes the pages of the user range with `get_user_pages_fast` and no
 * FOLL_PIN — a plain, read-only reference (FOLL_GET), so no COW unsharing happens — and links
 * one pipe buffer per page; a later `read()` copies from the pages as they are then and drops
 * each reference as its buffer empties. What the reader sees is whatever the page holds at that
 * moment: the point of the kernel's COW self-tests that use it (CVE-2020-29374).
 * @module
 */
import { EFAULT, EINVAL } from '../sim/errno.ts';
import { PAGE_SIZE } from './constants.ts';
import { FOLL_GET, getUserPages } from './gup.ts';
import type { Kernel } from './kernel.ts';
import type { MmStruct } from './mm-struct.ts';
import { mmapReadLock, mmapReadUnlock } from './mmap-lock.ts';

/** `PIPE_DEF_BUFFERS`: a new pipe holds 16 buffers (16 pages from vmsplice). */
export const PIPE_DEF_BUFFERS = 16;

/** One `struct pipe_buffer` referencing a user page. */
interface PipeBuffer {
  pfn: number;
  offset: number;
  len: number;
}

/** A pipe (`pipe(2)`): its buffers, each holding one page reference. */
export class Pipe {
  private readonly kernel: Kernel;
  private readonly bufs: PipeBuffer[] = [];
  private closed = false;

  /** A new, empty pipe on `kernel`. */
  constructor(kernel: Kernel) {
    this.kernel = kernel;
  }

  /** Bytes waiting in the pipe. */
  get size(): number {
    return this.bufs.reduce((n, b) => n + b.len, 0);
  }

  /**
   * `vmsplice(fd[1], {addr, len}, 1, 0)` from `mm`: references as many pages of the range as
   * there are free buffers (`iter_to_pipe`), and returns the bytes spliced, or -EFAULT when not
   * even the first page could be had, -EINVAL for a closed pipe.
   */
  async vmsplice(mm: MmStruct, addr: number, len: number): Promise<number> {
    if (this.closed) return -EINVAL;
    const space = PIPE_DEF_BUFFERS - this.bufs.length;
    if (len === 0 || space === 0) return 0;
    const first = Math.floor(addr / PAGE_SIZE) * PAGE_SIZE;
    const nr = Math.min(space, Math.ceil((addr + len - first) / PAGE_SIZE));
    await mmapReadLock(mm);
    let pages: number[] | number;
    try {
      // get_user_pages_fast(…, gup_flags 0): a reference, read access, no unsharing.
      pages = await getUserPages(mm, first, nr, FOLL_GET);
    } finally {
      mmapReadUnlock(mm);
    }
    if (typeof pages === 'number') return pages;
    if (pages.length === 0) return -EFAULT;
    let done = 0;
    for (const [i, pfn] of pages.entries()) {
      const offset = i === 0 ? addr - first : 0;
      const n = Math.min(PAGE_SIZE - offset, len - done);
      this.bufs.push({ pfn, offset, len: n });
      done += n;
    }
    return done;
  }

  /**
   * `read(fd[0], dst, dst.length)`: copies up to `dst.length` bytes from the buffers' pages as
   * they are now; each emptied buffer releases its page (`put_page`). Returns the bytes read.
   */
  read(dst: Uint8Array): number {
    const pm = this.kernel.pm;
    let done = 0;
    while (done < dst.length && this.bufs.length > 0) {
      const b = this.bufs[0]!;
      const n = Math.min(b.len, dst.length - done);
      dst.set(pm.readableBytes(b.pfn).subarray(b.offset, b.offset + n), done);
      done += n;
      b.offset += n;
      b.len -= n;
      if (b.len === 0) this.release(this.bufs.shift()!);
    }
    return done;
  }

  /** `close()` of both ends: the page references still held go. */
  close(): void {
    for (const b of this.bufs.splice(0)) this.release(b);
    this.closed = true;
  }

  private release(b: PipeBuffer): void {
    if (!this.kernel.pm.isZeroPfn(b.pfn)) this.kernel.putPage(b.pfn);
  }
}

/**
 * userfaultfd (fs/userfaultfd.c, mm/userfaultfd.c), as much as a lock-dropping HMM fault needs:
 * UFFDIO_API, UFFDIO_REGISTER with UFFDIO_REGISTER_MODE_MISSING on anonymous memory, reading
 * UFFD_EVENT_PAGEFAULT messages, UFFDIO_COPY / UFFDIO_ZEROPAGE / UFFDIO_WAKE, and the fault side
 * (`handle_userfault`): a missing-page fault in a registered range queues a message, drops the
 * mmap lock and sleeps until the range is filled, then returns VM_FAULT_RETRY. A fault that may
 * not drop the lock (no FAULT_FLAG_ALLOW_RETRY: `hmm_range_fault`, GUP) gets VM_FAULT_SIGBUS.
 * @module
 */
import { EBADF, EBUSY, EEXIST, EINVAL, ENOENT, ENOMEM, ESRCH } from '../sim/errno.ts';
import { UsageError } from '../sim/errors.ts';
import { WaitQueue } from '../sim/wait-queue.ts';
import { anonVmaPrepare } from './anon-vma.ts';
import {
  FAULT_FLAG_ALLOW_RETRY,
  FAULT_FLAG_WRITE,
  MM_ANONPAGES,
  PAGE_SIZE,
  VM_FAULT_RETRY,
  VM_FAULT_SIGBUS,
  VM_SHARED,
  VM_UFFD_MISSING,
  VM_WRITE,
} from './constants.ts';
import { initAnonPage } from './fault.ts';
import { MEMCG_ANON, memCgroupCharge } from './memcontrol.ts';
import type { MmStruct } from './mm-struct.ts';
import { ensureEntry } from './page-table.ts';
import { ZERO_PFN } from './physmem.ts';
import {
  PTE_DIRTY,
  PTE_KIND_MASK,
  PTE_LEAF,
  PTE_NONE,
  PTE_PRESENT,
  PTE_SPECIAL,
  PTE_WRITE,
  PTE_YOUNG,
} from './pte.ts';
import type { Vma } from './vma.ts';
import { isolateRange } from './vma-ops.ts';

/** The API version UFFDIO_API accepts. */
export const UFFD_API = 0xaa;
/** Message of a page fault in a registered range. */
export const UFFD_EVENT_PAGEFAULT = 0x12;
/** `msg.arg.pagefault.flags`: the fault was a write. */
export const UFFD_PAGEFAULT_FLAG_WRITE = 1 << 0;
/** UFFDIO_REGISTER mode: report faults on missing pages. */
export const UFFDIO_REGISTER_MODE_MISSING = 1 << 0;
/** UFFDIO_REGISTER mode: write-protect tracking (not modelled: -EINVAL). */
export const UFFDIO_REGISTER_MODE_WP = 1 << 1;
/** UFFDIO_COPY / UFFDIO_ZEROPAGE mode: do not wake the faulting threads. */
export const UFFDIO_COPY_MODE_DONTWAKE = 1 << 0;

/** A message read from a userfaultfd (`struct uffd_msg`, the page-fault event). */
export interface UffdMsg {
  /** UFFD_EVENT_PAGEFAULT. */
  readonly event: number;
  /** UFFD_PAGEFAULT_FLAG_* bits. */
  readonly flags: number;
  /** The faulting page's address (UFFD_FEATURE_EXACT_ADDRESS, the exact one, is not modelled). */
  readonly address: number;
}

/** A pending fault: its message and whether it has been read. */
interface PendingFault {
  readonly msg: UffdMsg;
  read: boolean;
  /** Page index of the fault, to match wake-ups. */
  readonly vpn: number;
  woken: boolean;
}

/** A userfaultfd context (`struct userfaultfd_ctx`). */
export class Userfaultfd {
  /** The descriptor in the creating process. */
  fd = -1;
  /** Set by UFFDIO_API. */
  private apiDone = false;
  /** Faults waiting (`fault_pending_wqh` + `fault_wqh`). */
  private readonly pending: PendingFault[] = [];
  /** The handler side (`fd_wqh`). */
  private readonly readers: WaitQueue;
  /** The faulting side. */
  private readonly faults: WaitQueue;
  /** True once the last descriptor is closed (`userfaultfd_release`). */
  released = false;

  /** The address space whose faults this context handles. */
  readonly mm: MmStruct;

  /** @internal created by `Process.userfaultfd` */
  constructor(mm: MmStruct) {
    this.mm = mm;
    const sched = mm.kernel.sched;
    this.readers = new WaitQueue(sched, 'userfaultfd read');
    this.faults = new WaitQueue(sched, 'userfaultfd fault');
  }

  /** UFFDIO_API: 0, or -EINVAL for another API version or features (none are modelled). */
  api(api: number, features = 0): number {
    if (this.released) return -EBADF;
    if (api !== UFFD_API || features !== 0) return -EINVAL;
    this.apiDone = true;
    return 0;
  }

  /**
   * UFFDIO_REGISTER of `[start, start + len)` with `mode` (MISSING only) under the mmap write
   * lock: every VMA of the range (anonymous, private; no hole) is split at the range's edges and
   * registered. -EINVAL for a bad range, mode, hole or VMA; -EBUSY when another context has it.
   */
  async register(start: number, len: number, mode: number): Promise<number> {
    if (this.released) return -EBADF;
    if (!this.apiDone) return -EINVAL;
    if (mode !== UFFDIO_REGISTER_MODE_MISSING) return -EINVAL;
    if (!isRange(start, len)) return -EINVAL;
    const mm = this.mm;
    const end = start + len;
    await mm.mmapLock.downWrite();
    try {
      const vmas = mm.vmasIn(start, end);
      let cursor = start;
      for (const v of vmas) {
        if (v.start > cursor) return -EINVAL; // a hole
        // vma_can_userfault, reduced to what is modelled: private anonymous memory only.
        if (!v.isAnonymous || v.isHugetlb || (v.flags & VM_SHARED) !== 0) return -EINVAL;
        if (v.uffd !== null && v.uffd !== this) return -EBUSY;
        cursor = v.end;
      }
      if (vmas.length === 0 || cursor < end) return -EINVAL;
      const isolated = await isolateRange(mm, start, end);
      if (typeof isolated === 'number') return isolated;
      for (const v of isolated) {
        v.flags |= VM_UFFD_MISSING;
        v.uffd = this;
      }
      return 0;
    } finally {
      mm.mmapLock.upWrite();
    }
  }

  /**
   * `read(2)` on the descriptor: the oldest fault message not read yet, sleeping until there is
   * one; null once the context is released (the descriptor closed).
   */
  async read(): Promise<UffdMsg | null> {
    for (;;) {
      if (this.released) return null;
      const f = this.pending.find((p) => !p.read);
      if (f !== undefined) {
        f.read = true;
        return f.msg;
      }
      await this.readers.waitEvent(() => this.released || this.pending.some((p) => !p.read));
    }
  }

  /** Faults queued and not yet resolved (read or not). */
  get pendingFaults(): number {
    return this.pending.length;
  }

  /**
   * UFFDIO_COPY: fills `len` bytes of missing pages from `dst` with `src` (exclusive anonymous
   * pages, writable and dirty if the VMA allows writes), then wakes the faults waiting in the
   * range unless DONTWAKE. Returns the bytes copied, -EEXIST when the first page is already
   * populated, -ENOENT when the range is not registered with this context, -EINVAL, -ENOMEM.
   */
  async copy(dst: number, src: Uint8Array, len: number, mode = 0): Promise<number> {
    if (!(src instanceof Uint8Array) || src.length < len)
      throw new UsageError('Userfaultfd.copy(src)', `must be a Uint8Array of at least ${len} bytes`);
    return this.fill(dst, len, mode, src);
  }

  /** UFFDIO_ZEROPAGE: maps the zero page at each missing page of the range; as {@link copy}. */
  async zeropage(dst: number, len: number, mode = 0): Promise<number> {
    return this.fill(dst, len, mode, null);
  }

  /** UFFDIO_WAKE: wakes the faults waiting in `[start, start + len)`. */
  wake(start: number, len: number): number {
    if (!isRange(start, len)) return -EINVAL;
    this.wakeRange(start, start + len);
    return 0;
  }

  private async fill(dst: number, len: number, mode: number, src: Uint8Array | null): Promise<number> {
    if (this.released) return -EBADF;
    if (!isRange(dst, len) || (mode & ~UFFDIO_COPY_MODE_DONTWAKE) !== 0) return -EINVAL;
    const mm = this.mm;
    const k = mm.kernel;
    if (mm.exited) return -ESRCH; // mmget_not_zero failed
    await mm.mmapLock.downRead();
    let done = 0;
    let err = 0;
    try {
      for (let addr = dst; addr < dst + len; addr += PAGE_SIZE) {
        const vma = mm.vmaLookup(addr);
        if (vma === null || vma.uffd !== this) {
          err = -ENOENT;
          break;
        }
        const r = src === null ? mfillZeropage(vma, addr) : mfillCopy(vma, addr, src, addr - dst);
        if (r !== 0) {
          err = r;
          break;
        }
        done += PAGE_SIZE;
        const p = k.sched.point('mfill_atomic');
        if (p) await p;
      }
    } finally {
      mm.mmapLock.upRead();
    }
    if (done > 0 && (mode & UFFDIO_COPY_MODE_DONTWAKE) === 0) this.wakeRange(dst, dst + done);
    return done > 0 ? done : err;
  }

  private wakeRange(start: number, end: number): void {
    let any = false;
    for (const p of this.pending) {
      if (p.vpn * PAGE_SIZE >= start && p.vpn * PAGE_SIZE < end) {
        p.woken = true;
        any = true;
      }
    }
    if (any) this.faults.wakeUpAll();
  }

  /**
   * `handle_userfault(vmf, VM_UFFD_MISSING)` with the mmap read lock held: queues the message,
   * drops the lock, sleeps until woken for the page (or the context is released) and returns
   * VM_FAULT_RETRY — the lock is not held any more. Without FAULT_FLAG_ALLOW_RETRY: SIGBUS.
   */
  async handleUserfault(addr: number, flags: number): Promise<number> {
    if ((flags & FAULT_FLAG_ALLOW_RETRY) === 0 || this.released) return VM_FAULT_SIGBUS;
    const mm = this.mm;
    const k = mm.kernel;
    const me = k.sched.current;
    const f: PendingFault = {
      msg: {
        event: UFFD_EVENT_PAGEFAULT,
        flags: (flags & FAULT_FLAG_WRITE) !== 0 ? UFFD_PAGEFAULT_FLAG_WRITE : 0,
        address: addr,
      },
      read: false,
      vpn: Math.floor(addr / PAGE_SIZE),
      woken: false,
    };
    this.pending.push(f);
    this.readers.wakeUpAll();
    mm.mmapLock.upRead(); // release_fault_lock
    if (k.bus.on)
      k.bus.emit({
        type: 'instant',
        time: k.sched.clock.now,
        thread: me.name,
        name: 'handle_userfault',
        args: { mm: mm.id, addr },
      });
    // A fatal signal already pending ends the (killable) wait at once.
    if (!me.fatalSignalPending)
      await this.faults.waitEvent(() => f.woken || this.released || me.fatalSignalPending);
    const i = this.pending.indexOf(f);
    if (i >= 0) this.pending.splice(i, 1);
    return VM_FAULT_RETRY;
  }

  /** `userfaultfd_release`: unregisters every VMA and wakes every waiting fault. */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const v of this.mm.vmas) {
      if (v.uffd === this) {
        v.uffd = null;
        v.flags &= ~VM_UFFD_MISSING;
      }
    }
    this.faults.wakeUpAll();
    this.readers.wakeUpAll();
  }
}

function isRange(start: number, len: number): boolean {
  return (
    Number.isSafeInteger(start) &&
    Number.isSafeInteger(len) &&
    start >= 0 &&
    len > 0 &&
    start % PAGE_SIZE === 0 &&
    len % PAGE_SIZE === 0
  );
}

/** The PTE slot of `addr` if it is none, -EEXIST when populated (a huge leaf included), -ENOMEM. */
function mfillPteSlot(vma: Vma, addr: number): number {
  const mm = vma.mm;
  const k = mm.kernel;
  const pmd = ensureEntry(k.pt, mm.pgd, addr / PAGE_SIZE, 2);
  if (pmd < 0) return -ENOMEM;
  if ((k.pt.words[pmd]! & PTE_LEAF) !== 0) return -EEXIST;
  const off = ensureEntry(k.pt, mm.pgd, addr / PAGE_SIZE, 1);
  if (off < 0) return -EEXIST;
  if ((k.pt.words[off]! & PTE_KIND_MASK) !== PTE_NONE) return -EEXIST;
  return off;
}

/** mfill_atomic_pte_copy: a new exclusive anonymous page holding `src[from…]`. */
function mfillCopy(vma: Vma, addr: number, src: Uint8Array, from: number): number {
  const mm = vma.mm;
  const k = mm.kernel;
  const off = mfillPteSlot(vma, addr);
  if (off < 0) return off;
  anonVmaPrepare(vma);
  const pfn = k.pm.allocPages(0);
  if (pfn === 0) return -ENOMEM;
  if (mm.memcg !== null && memCgroupCharge(k, mm, pfn, MEMCG_ANON, false) !== 0) {
    k.pm.freePages(pfn);
    return -ENOMEM;
  }
  k.pm.writeBytes(pfn, 0, src, from, PAGE_SIZE);
  initAnonPage(vma, addr, pfn);
  // mfill_atomic_install_pte: dirty, writable when the VMA is.
  k.pt.words[off] = PTE_PRESENT | PTE_YOUNG | PTE_DIRTY | ((vma.flags & VM_WRITE) !== 0 ? PTE_WRITE : 0);
  k.pt.words[off + 1] = pfn;
  mm.rss[MM_ANONPAGES]!++;
  return 0;
}

/** mfill_atomic_pte_zeropage: the zero page, special and read-only. */
function mfillZeropage(vma: Vma, addr: number): number {
  const k = vma.mm.kernel;
  const off = mfillPteSlot(vma, addr);
  if (off < 0) return off;
  k.pt.words[off] = PTE_PRESENT | PTE_SPECIAL | PTE_YOUNG;
  k.pt.words[off + 1] = ZERO_PFN;
  return 0;
}

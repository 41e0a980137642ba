/**
 * mprotect (mm/mprotect.c): splits VMAs, changes their flags, and rewrites the present entries
 * (write removed, write granted to exclusive anonymous pages and dirty shared pages, protnone
 * for PROT_NONE), announcing PROTECTION_VMA from the first populated part of each span.
 * @module
 */
import { EACCES, EINVAL, ENOMEM } from '../sim/errno.ts';
import {
  HPAGE_PMD_NR,
  PAGE_SIZE,
  PTRS_PER_TABLE,
  PUD_SIZE,
  VM_EXEC,
  VM_MAYWRITE,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
} from './constants.ts';
import { splitHugePmd } from './huge-memory.ts';
import type { MmStruct } from './mm-struct.ts';
import { calcVmProtBits, pageAlign } from './mmap.ts';
import {
  MMU_NOTIFY_PROTECTION_VMA,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from './mmu-notifier.ts';
import { PG_anon, PG_anon_exclusive } from './page-flags.ts';
import { findEntry } from './page-table.ts';
import { collectPmds } from './pgwalk.ts';
import {
  PTE_DEVICE_PRIVATE_READ,
  PTE_DEVICE_PRIVATE_WRITE,
  PTE_DIRTY,
  PTE_KIND_MASK,
  PTE_LEAF,
  PTE_MIGRATION_READ,
  PTE_MIGRATION_WRITE,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SPECIAL,
  PTE_TABLE,
  PTE_WRITE,
} from './pte.ts';
import type { Vma } from './vma.ts';
import { isolateRange } from './vma-ops.ts';

/** `sys_mprotect` with the mmap write lock held by the caller. */
export async function doMprotect(mm: MmStruct, start: number, length: number, prot: number): Promise<number> {
  if (!Number.isInteger(start) || start < 0 || start % PAGE_SIZE !== 0) return -EINVAL;
  if (!Number.isInteger(length) || length < 0 || !Number.isInteger(prot)) return -EINVAL;
  if ((prot & ~7) !== 0) return -EINVAL;
  const len = pageAlign(length);
  const end = start + len;
  if (len === 0) return 0;
  // The whole range must be mapped (checked before anything changes).
  let cursor = start;
  for (const vma of mm.vmasIn(start, end)) {
    if (vma.start > cursor) return -ENOMEM;
    if ((prot & 2) !== 0 && (vma.flags & VM_MAYWRITE) === 0) return -EACCES;
    cursor = vma.end;
  }
  if (cursor < end) return -ENOMEM;
  const vmas = await isolateRange(mm, start, end);
  if (typeof vmas === 'number') return vmas;
  const newBits = calcVmProtBits(prot);
  for (const vma of vmas) {
    const newFlags = (vma.flags & ~(VM_READ | VM_WRITE | VM_EXEC)) | newBits;
    if (newFlags === vma.flags) continue;
    await changeProtection(vma, newFlags);
  }
  return 0;
}

/** change_protection over a whole VMA that gets `newFlags`. */
async function changeProtection(vma: Vma, newFlags: number): Promise<void> {
  const mm = vma.mm;
  const k = mm.kernel;
  vma.flags = newFlags;
  const startVpn = vma.start / PAGE_SIZE;
  const endVpn = vma.end / PAGE_SIZE;
  // The invalidation starts at the first populated PUD-sized part of the span (lazily, as
  // change_pud_range does) and runs to the span's end.
  let first = -1;
  for (let a = Math.floor(vma.start / PUD_SIZE) * PUD_SIZE; a < vma.end; a += PUD_SIZE) {
    const off = findEntry(k.pt, mm.pgd, a / PAGE_SIZE, 3);
    if (off >= 0 && (k.pt.words[off]! & PTE_KIND_MASK) !== 0) {
      first = Math.max(a, vma.start);
      break;
    }
  }
  if (first < 0) return;
  const range = mmuNotifierRangeInit(mm, MMU_NOTIFY_PROTECTION_VMA, first, vma.end);
  await mmuNotifierInvalidateRangeStart(range);
  const noRead = (newFlags & (VM_READ | VM_WRITE | VM_EXEC)) === 0;
  const canWrite = (newFlags & VM_WRITE) !== 0;
  const shared = (newFlags & VM_SHARED) !== 0;
  const pm = k.pm;
  const pmds = collectPmds(k.pt, mm.pgd, startVpn, endVpn);
  for (let i = 0; i < pmds.length; i += 3) {
    let pmdOff = pmds[i]!;
    const from = pmds[i + 1]!;
    const to = pmds[i + 2]!;
    let lo = k.pt.words[pmdOff]!;
    if ((lo & PTE_LEAF) !== 0 && to - from < HPAGE_PMD_NR) {
      await splitHugePmd(mm, Math.floor(from / HPAGE_PMD_NR) * HPAGE_PMD_NR * PAGE_SIZE);
      pmdOff = findEntry(k.pt, mm.pgd, from, 2);
      if (pmdOff < 0) continue;
      lo = k.pt.words[pmdOff]!;
    }
    if ((lo & PTE_LEAF) !== 0) {
      k.pt.words[pmdOff] = newEntryBits(lo, k.pt.words[pmdOff + 1]!, noRead, canWrite, shared, pm);
      continue;
    }
    if ((lo & PTE_KIND_MASK) !== PTE_TABLE) continue;
    const base = k.pt.words[pmdOff + 1]! * PTRS_PER_TABLE * 2;
    const a = from % PTRS_PER_TABLE;
    for (let j = a; j < a + (to - from); j++) {
      const off = base + 2 * j;
      const e = k.pt.words[off]!;
      if (e !== 0) k.pt.words[off] = newEntryBits(e, k.pt.words[off + 1]!, noRead, canWrite, shared, pm);
    }
  }
  mmuNotifierInvalidateRangeEnd(range);
}

function newEntryBits(
  lo: number,
  pfn: number,
  noRead: boolean,
  canWrite: boolean,
  shared: boolean,
  pm: { flags: Int32Array; isZeroPfn(p: number): boolean },
): number {
  const kind = lo & PTE_KIND_MASK;
  if (kind === PTE_PRESENT) {
    let e = noRead ? lo | PTE_PROTNONE : lo & ~PTE_PROTNONE;
    if (!canWrite || noRead) return e & ~PTE_WRITE;
    // MM_CP_TRY_CHANGE_WRITABLE: private exclusive anonymous pages and dirty shared pages may be
    // made writable at once (can_change_pte_writable).
    const special = (lo & PTE_SPECIAL) !== 0 || pm.isZeroPfn(pfn);
    if (
      shared
        ? (lo & PTE_DIRTY) !== 0
        : !special && (pm.flags[pfn]! & (PG_anon | PG_anon_exclusive)) === (PG_anon | PG_anon_exclusive)
    ) {
      e |= PTE_WRITE;
    }
    return e;
  }
  if (!canWrite) {
    if (kind === PTE_DEVICE_PRIVATE_WRITE) return (lo & ~PTE_KIND_MASK) | PTE_DEVICE_PRIVATE_READ;
    if (kind === PTE_MIGRATION_WRITE) return (lo & ~PTE_KIND_MASK) | PTE_MIGRATION_READ;
  }
  return lo;
}

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
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  PTRS_PER_TABLE,
  PUD_SIZE,
  VM_ACCOUNT,
  VM_EXEC,
  VM_HUGETLB,
  VM_MAYWRITE,
  VM_NORESERVE,
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
  PTE_MIGRATION_READ_EXCLUSIVE,
  PTE_MIGRATION_WRITE,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SOFT_DIRTY,
  PTE_SPECIAL,
  PTE_TABLE,
  PTE_WRITE,
} from './pte.ts';
import type { Vma } from './vma.ts';
import { isolateRange, vmaMergeAnonNeighbours } from './vma-ops.ts';

/** PROT_SEM: accepted and ignored (the generic `arch_validate_prot`, which x86 uses). */
const PROT_SEM = 0x8;
/** Extend the change to the start / end of a growable stack VMA. */
const PROT_GROWSDOWN = 0x0100_0000;
/** @see PROT_GROWSDOWN */
const PROT_GROWSUP = 0x0200_0000;

/**
 * `do_mprotect_pkey` with the mmap write lock held by the caller. Like Linux, VMAs are changed one
 * by one in address order: a hole (-ENOMEM) or a refused VMA (-EACCES) ends the call with the
 * VMAs before it already changed.
 */
export async function doMprotect(mm: MmStruct, start: number, length: number, prot: number): Promise<number> {
  if (!Number.isInteger(start) || start < 0 || !Number.isInteger(length) || length < 0) return -EINVAL;
  if (!Number.isInteger(prot) || prot < 0 || prot > 0x7fff_ffff) return -EINVAL;
  const grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
  prot &= ~(PROT_GROWSDOWN | PROT_GROWSUP);
  if (grows === (PROT_GROWSDOWN | PROT_GROWSUP)) return -EINVAL;
  if (start % PAGE_SIZE !== 0) return -EINVAL;
  if (length === 0) return 0;
  const end = start + pageAlign(length);
  if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM)) !== 0) return -EINVAL;
  const first = mm.findVma(start);
  if (first === null || first.start >= end) return -ENOMEM;
  // No VMA is VM_GROWSDOWN / VM_GROWSUP here (stacks are not modelled).
  if ((grows & PROT_GROWSDOWN) !== 0) return -EINVAL;
  if (first.start > start) return -ENOMEM;
  if (grows !== 0) return -EINVAL;
  const newBits = calcVmProtBits(prot);
  let cursor = start;
  while (cursor < end) {
    const vma = mm.findVma(cursor);
    if (vma === null || vma.start >= end) break;
    if (vma.start > cursor) return -ENOMEM;
    if ((prot & PROT_WRITE) !== 0 && (vma.flags & VM_MAYWRITE) === 0) return -EACCES;
    const to = Math.min(end, vma.end);
    let newFlags = (vma.flags & ~(VM_READ | VM_WRITE | VM_EXEC)) | newBits;
    // mprotect_fixup: a private mapping that becomes writable is charged (VM_ACCOUNT) unless it
    // already was, or is exempt; the charge stays when write permission goes.
    if (
      (newFlags & VM_WRITE) !== 0 &&
      (vma.flags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE)) === 0
    )
      newFlags |= VM_ACCOUNT;
    if (newFlags !== vma.flags) {
      // mprotect_fixup: split off [cursor, to), then change it.
      const vmas = await isolateRange(mm, cursor, to);
      if (typeof vmas === 'number') return vmas;
      await changeProtection(vmas[0]!, newFlags);
      // vma_modify_flags: the changed VMA merges with neighbours that now match it (anonymous).
      vmaMergeAnonNeighbours(vmas[0]!);
    }
    cursor = to;
  }
  return cursor < end ? -ENOMEM : 0;
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
  // change_protection's flush_tlb_range over the span it changed.
  k.chargeTlbShootdown();
  mmuNotifierInvalidateRangeEnd(range);
}

function newEntryBits(
  lo: number,
  pfn: number,
  noRead: boolean,
  canWrite: boolean,
  shared: boolean,
  pm: { flags: Int32Array; isZeroPfn(p: number): boolean; folioHead(p: number): number },
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
  // change_pte_range / change_huge_pmd on non-present entries: whatever the new protection ("a
  // protection check is difficult so just be safe and disable write"), a writable migration entry
  // becomes readable — readable-exclusive for an anonymous folio, which stays AnonExclusive — and a
  // writable device-private entry readable (its soft-dirty bit is not kept).
  if (kind === PTE_DEVICE_PRIVATE_WRITE)
    return (lo & ~(PTE_KIND_MASK | PTE_SOFT_DIRTY)) | PTE_DEVICE_PRIVATE_READ;
  if (kind === PTE_MIGRATION_WRITE)
    return (
      (lo & ~PTE_KIND_MASK) |
      ((pm.flags[pm.folioHead(pfn)]! & PG_anon) !== 0 ? PTE_MIGRATION_READ_EXCLUSIVE : PTE_MIGRATION_READ)
    );
  return lo;
}

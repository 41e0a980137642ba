/**
 * A whole-machine consistency audit for model tests: walks every page table of every live
 * address space and the page cache of every file, and checks the bookkeeping against what it
 * found (the kernel's own invariants, as `CONFIG_DEBUG_VM` would):
 *
 * - every allocated RAM folio's refcount equals its PTE + PMD mappings plus its page-cache
 *   reference (nothing else holds pages between commands), a page's mapcount equals the PTEs
 *   mapping it, a folio's entire mapcount equals the PMDs mapping it, no allocated folio is
 *   unreferenced, and the free-frame count matches;
 * - every mm's rss counters (file, anon, swap entries, shmem) and hugetlb usage match its page
 *   tables; every swap slot's `swap_map` count equals the swap PTEs naming it;
 * - the page-table pool holds exactly the tables reachable from live PGDs, and no table outlives
 *   every VMA over its span (free_pgtables);
 * - every entry lies inside a VMA; writable entries only where the VMA allows writes, and in
 *   private (COW) mappings only to exclusive anonymous pages; PROT_NONE VMAs map nothing
 *   accessible; the zero pages are never writable; PageAnonExclusive pages are mapped by one mm
 *   only; rmap fields (mapping id, index) name the VMA's anon_vma family or file and the page's
 *   position in it.
 *
 * Pure-mm tests only: migration, device-private and device-exclusive entries are reported.
 * @module
 */
import { AnonVma } from '../../src/mm/anon-vma.ts';
import {
  HPAGE_PMD_NR,
  MM_ANONPAGES,
  MM_FILEPAGES,
  MM_SHMEMPAGES,
  MM_SWAPENTS,
  PAGE_SIZE,
  PTRS_PER_TABLE,
  VM_EXEC,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
} from '../../src/mm/constants.ts';
import { SimFile } from '../../src/mm/file.ts';
import type { Kernel } from '../../src/mm/kernel.ts';
import type { MmStruct } from '../../src/mm/mm-struct.ts';
import {
  PG_allocated,
  PG_anon,
  PG_anon_exclusive,
  PG_file,
  PG_head,
  PG_hugetlb,
  PG_reserved,
  PG_swapbacked,
} from '../../src/mm/page-flags.ts';
import { LEVEL_PAGES, type PtLevel } from '../../src/mm/page-table.ts';
import { HUGE_ZERO_PFN, ZERO_PFN } from '../../src/mm/physmem.ts';
import {
  PTE_KIND_MASK,
  PTE_KIND_NAMES,
  PTE_LEAF,
  PTE_NONE,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SPECIAL,
  PTE_SWAP,
  PTE_TABLE,
  PTE_WRITE,
} from '../../src/mm/pte.ts';
import type { Vma } from '../../src/mm/vma.ts';

// Local copies: in the test runner every access to an imported binding goes through a module
// namespace getter, too slow for loops over every frame and entry.
const L_PRESENT = PTE_PRESENT;
const L_SWAP = PTE_SWAP;
const L_TABLE = PTE_TABLE;
const L_LEAF = PTE_LEAF;
const L_KIND = PTE_KIND_MASK;
const L_WRITE = PTE_WRITE;
const L_PROTNONE = PTE_PROTNONE;
const L_SPECIAL = PTE_SPECIAL;
const F_ALLOCATED = PG_allocated;
const F_ANON = PG_anon;
const F_EXCL = PG_anon_exclusive;
const F_FILE = PG_file;
const F_HEAD = PG_head;
const F_HUGETLB = PG_hugetlb;
const F_RESERVED = PG_reserved;
const NR = HPAGE_PMD_NR;
const PAGE = PAGE_SIZE;
const PTRS = PTRS_PER_TABLE;
const V_ACCESS = VM_READ | VM_WRITE | VM_EXEC;
const V_WRITE = VM_WRITE;
const V_SHARED = VM_SHARED;
const ZPFN = ZERO_PFN;
const HZPFN = HUGE_ZERO_PFN;
const SWAPENTS = MM_SWAPENTS;
const LEVELS = LEVEL_PAGES;

/** A leaf entry found by {@link walkMm}: level 1 (PTE), 2 (PMD leaf) or 3 (PUD leaf). */
export type LeafVisitor = (vpn: number, level: PtLevel, lo: number, hi: number) => void;

/** A table found by {@link walkMm}: its index, level, and the first vpn of its span. */
export type TableVisitor = (table: number, level: PtLevel, baseVpn: number) => void;

/**
 * Visits every non-none leaf entry of `mm`'s page tables in address order, and every table
 * (the PGD included). Returns the number of tables.
 */
export function walkMm(k: Kernel, mm: MmStruct, leaf: LeafVisitor, table?: TableVisitor): number {
  if (mm.pgd === 0) return 0;
  return walkTable(k, mm.pgd, 4, 0, leaf, table);
}

function walkTable(
  k: Kernel,
  t: number,
  level: PtLevel,
  baseVpn: number,
  leaf: LeafVisitor,
  table: TableVisitor | undefined,
): number {
  table?.(t, level, baseVpn);
  let tables = 1;
  const span = LEVELS[level];
  const base = t * PTRS * 2;
  for (let i = 0; i < PTRS; i++) {
    const w = k.pt.words;
    const lo = w[base + 2 * i]!;
    const hi = w[base + 2 * i + 1]!;
    if (lo === 0 && hi === 0) continue;
    const vpn = baseVpn + i * span;
    if ((lo & L_KIND) === PTE_NONE) {
      leaf(vpn, level, lo, hi); // a none entry with stray bits: reported
      continue;
    }
    if (level > 1 && (lo & L_KIND) === L_TABLE && (lo & L_LEAF) === 0) {
      tables += walkTable(k, hi, (level - 1) as PtLevel, vpn, leaf, table);
    } else leaf(vpn, level, lo, hi);
  }
  return tables;
}

/** Thrown by {@link auditKernel} with every violation found (the first 20). */
export class AuditError extends Error {
  override name = 'AuditError';
  /** All violations. */
  readonly violations: string[];
  constructor(violations: string[]) {
    super(
      `${violations.length} invariant violation(s):\n  ${violations.slice(0, 20).join('\n  ')}${
        violations.length > 20 ? '\n  …' : ''
      }`,
    );
    this.violations = violations;
  }
}

const hex = (n: number): string => `0x${n.toString(16)}`;

const scratch: Int32Array[] = [];

/** A zeroed counter array of `n` entries, reused between audits. */
function scratchArray(i: number, n: number): Int32Array {
  let a = scratch[i];
  if (a === undefined || a.length !== n) {
    a = new Int32Array(n);
    scratch[i] = a;
  } else a.fill(0);
  return a;
}

/** Checks the machine's invariants (see the module comment); throws {@link AuditError}. */
export function auditKernel(k: Kernel): void {
  const v = auditKernelViolations(k);
  if (v.length > 0) throw new AuditError(v);
}

/** Like {@link auditKernel} but returns the violations. */
export function auditKernelViolations(k: Kernel): string[] {
  const out: string[] = [];
  const bad = (msg: string): void => {
    if (out.length < 200) out.push(msg);
  };
  const pm = k.pm;
  const n = pm.ramFrames;
  const refs = scratchArray(0, n);
  const ptes = scratchArray(1, n);
  const pmds = scratchArray(2, n);
  /** mm id mapping the folio (by head), -1 when several mms do, 0 when none. */
  const owner = scratchArray(3, n);
  const swapRefs = scratchArray(4, k.swap.nrSlots + 1);
  let tables = 0;

  const noteOwner = (head: number, mmId: number): void => {
    const o = owner[head]!;
    if (o === 0) owner[head] = mmId;
    else if (o !== mmId) owner[head] = -1;
  };

  for (const mm of k.mms) {
    if (mm.pgd === 0) {
      bad(`mm ${mm.id} is registered but has no PGD`);
      continue;
    }
    const rss = [0, 0, 0, 0];
    let hugetlb = 0;
    const where = (vpn: number): string => `mm ${mm.id} at ${hex(vpn * PAGE)}`;

    // Checks shared by PTEs and PMD leaves mapping a RAM page (`pfn`) at `addr` in `vma`.
    const checkMapped = (vma: Vma, addr: number, lo: number, pfn: number, where: () => string): void => {
      const what = { toString: where };
      const f = pm.flags[pfn]!;
      const access = (vma.flags & V_ACCESS) !== 0;
      if (!access && (lo & L_PROTNONE) === 0) bad(`${what}: accessible entry in a PROT_NONE VMA`);
      if ((lo & L_WRITE) !== 0) {
        if ((vma.flags & V_WRITE) === 0) bad(`${what}: writable entry in a VMA without VM_WRITE`);
        if (vma.isCow && (f & (F_ANON | F_EXCL)) !== (F_ANON | F_EXCL))
          bad(`${what}: writable entry in a private mapping to a page that is not exclusive anon`);
      }
      if ((f & F_ANON) !== 0) {
        const fam = k.mappings[pm.mapping[pfn]!];
        if (!(fam instanceof AnonVma))
          bad(`${what}: anon page ${pfn} has no anon_vma (mapping ${pm.mapping[pfn]})`);
        else if (!fam.vmas.has(vma))
          bad(`${what}: anon page ${pfn}'s anon_vma ${fam.id} does not list the VMA`);
        if (pm.index[pfn] !== vma.pageIndex(addr) % 2 ** 32)
          bad(
            `${what}: anon page ${pfn} index ${pm.index[pfn]} but the VMA puts it at ${vma.pageIndex(addr)}`,
          );
        if (vma.file !== null && (vma.flags & V_SHARED) !== 0)
          bad(`${what}: anon page in a shared file mapping`);
      } else {
        if ((f & F_FILE) === 0) bad(`${what}: page ${pfn} is neither anon nor file`);
        if (vma.file === null) bad(`${what}: file page ${pfn} in a VMA without file`);
        else {
          if (pm.mapping[pfn] !== vma.file.id)
            bad(`${what}: file page ${pfn} of file ${pm.mapping[pfn]} in a VMA of file ${vma.file.id}`);
          if (pm.index[pfn] !== vma.pageIndex(addr) % 2 ** 32)
            bad(`${what}: file page ${pfn} index ${pm.index[pfn]}, VMA says ${vma.pageIndex(addr)}`);
          if (vma.file.pages.get(pm.index[pfn]!) !== pfn)
            bad(`${what}: file page ${pfn} is not the page cache's page at index ${pm.index[pfn]}`);
        }
      }
    };

    tables += walkMm(
      k,
      mm,
      (vpn, level, lo, hi) => {
        const at = (): string => `${where(vpn)} (L${level})`;
        const kind = lo & L_KIND;
        const addr = vpn * PAGE;
        const vma = mm.vmaLookup(addr);
        if (kind === PTE_NONE) {
          bad(`${at()}: none entry with stray bits ${hex(lo)}/${hex(hi)}`);
          return;
        }
        if (vma === null) {
          bad(`${at()}: ${PTE_KIND_NAMES[kind]} entry outside every VMA`);
          return;
        }
        if (level === 3) {
          bad(`${at()}: unexpected PUD leaf`);
          return;
        }
        if (level === 2) {
          if (vma.end < addr + NR * PAGE || vma.start > addr)
            bad(`${at()}: PMD leaf not wholly inside its VMA [${hex(vma.start)}, ${hex(vma.end)})`);
          if (kind !== L_PRESENT) {
            bad(`${at()}: unexpected non-present PMD entry ${PTE_KIND_NAMES[kind]}`);
            return;
          }
          const head = hi;
          if (head === HZPFN) {
            if ((lo & L_WRITE) !== 0) bad(`${at()}: writable huge zero page`);
            if (!vma.isAnonymous) bad(`${at()}: huge zero page in a non-anonymous VMA`);
            return;
          }
          if (head <= 0 || head >= n || head % NR !== 0) {
            bad(`${at()}: PMD leaf to bad pfn ${head}`);
            return;
          }
          if (pm.order[head] !== 9 || (pm.flags[head]! & F_HEAD) === 0)
            bad(`${at()}: PMD leaf to pfn ${head} which is not the head of an order-9 folio`);
          if ((pm.flags[head]! & F_ALLOCATED) === 0) bad(`${at()}: PMD leaf to free pfn ${head}`);
          pmds[head]!++;
          refs[head]!++;
          noteOwner(head, mm.id);
          if ((pm.flags[head]! & F_HUGETLB) !== 0) hugetlb += NR;
          else rss[k.mmCounterOf(head)]! += NR;
          checkMapped(vma, addr, lo, head, at);
          return;
        }
        // PTE level.
        if (kind === L_SWAP) {
          if (hi <= 0 || hi > k.swap.nrSlots) bad(`${at()}: swap entry to bad slot ${hi}`);
          else swapRefs[hi]!++;
          rss[SWAPENTS]!++;
          if (!vma.isAnonymous) bad(`${at()}: swap entry in a non-anonymous VMA`);
          return;
        }
        if (kind !== L_PRESENT) {
          bad(`${at()}: unexpected ${PTE_KIND_NAMES[kind]} entry`);
          return;
        }
        const pfn = hi;
        if (pm.isZeroPfn(pfn)) {
          if ((lo & L_WRITE) !== 0) bad(`${at()}: writable mapping of the zero page ${pfn}`);
          if (pfn !== ZPFN && (lo & L_SPECIAL) !== 0) bad(`${at()}: special PTE to a huge-zero subpage`);
          return;
        }
        if ((lo & L_SPECIAL) !== 0) {
          bad(`${at()}: special PTE to pfn ${pfn} in a pure-mm test`);
          return;
        }
        if (pfn <= 0 || pfn >= n) {
          bad(`${at()}: PTE to bad pfn ${pfn}`);
          return;
        }
        if ((pm.flags[pfn]! & F_ALLOCATED) === 0) bad(`${at()}: PTE to free pfn ${pfn}`);
        const head = pm.folioHead(pfn);
        ptes[pfn]!++;
        refs[head]!++;
        noteOwner(head, mm.id);
        if ((pm.flags[pfn]! & F_HUGETLB) !== 0) bad(`${at()}: PTE-mapped hugetlb page ${pfn}`);
        rss[k.mmCounterOf(pfn)]!++;
        checkMapped(vma, addr, lo, pfn, at);
      },
      (t, level, baseVpn) => {
        if (level === 4) return;
        const spanEnd = (baseVpn + LEVELS[(level + 1) as PtLevel]) * PAGE;
        if (mm.vmasIn(baseVpn * PAGE, spanEnd).length === 0)
          bad(`${where(baseVpn)}: L${level} table ${t} outlives every VMA over its span`);
      },
    );
    const names = ['file', 'anon', 'swapents', 'shmem'];
    for (const i of [MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES]) {
      if (mm.rss[i] !== rss[i])
        bad(`mm ${mm.id}: rss[${names[i]}] is ${mm.rss[i]} but the page tables hold ${rss[i]}`);
    }
    if (mm.hugetlbPages !== hugetlb)
      bad(`mm ${mm.id}: hugetlbPages is ${mm.hugetlbPages} but the page tables map ${hugetlb}`);
  }

  // Reverse-map structures list exactly the live VMAs.
  const live = new Set<Vma>();
  for (const mm of k.mms) {
    for (const vma of mm.vmas) {
      live.add(vma);
      if (vma.anonVma !== null && !vma.anonVma.vmas.has(vma))
        bad(`mm ${mm.id}: VMA ${hex(vma.start)} is missing from its anon_vma ${vma.anonVma.id}`);
      if (vma.file !== null && !vma.file.mappings.has(vma))
        bad(`mm ${mm.id}: VMA ${hex(vma.start)} is missing from file ${vma.file.id}'s mappings`);
    }
  }
  for (const m of k.mappings) {
    if (m === undefined) continue;
    const set = m instanceof AnonVma ? m.vmas : m.mappings;
    for (const vma of set)
      if (!live.has(vma))
        bad(
          `${m instanceof AnonVma ? 'anon_vma' : 'file'} ${m.id} lists a dead VMA ${hex(vma.start)} of mm ${vma.mm.id}`,
        );
  }

  // Page cache references.
  for (const m of k.mappings) {
    if (!(m instanceof SimFile)) continue;
    if (m.refs < 0) bad(`file ${m.id}: negative refs ${m.refs}`);
    if (m.refs === 0 && m.pages.size > 0) bad(`file ${m.id}: ${m.pages.size} cached pages with no reference`);
    for (const [idx, pfn] of m.pages) {
      if (pfn <= 0 || pfn >= n) {
        bad(`file ${m.id}: page ${idx} at bad pfn ${pfn}`);
        continue;
      }
      refs[pfn]!++;
      const f = pm.flags[pfn]!;
      if ((f & F_ALLOCATED) === 0) bad(`file ${m.id}: page ${idx} at free pfn ${pfn}`);
      if ((f & F_FILE) === 0 || (f & F_ANON) !== 0)
        bad(`file ${m.id}: page ${idx} (pfn ${pfn}) lacks PG_file`);
      if (((f & PG_swapbacked) !== 0) !== m.shmem) bad(`file ${m.id}: page ${idx} PG_swapbacked mismatch`);
      if (pm.mapping[pfn] !== m.id || pm.index[pfn] !== idx)
        bad(`file ${m.id}: page ${idx} (pfn ${pfn}) says mapping ${pm.mapping[pfn]} index ${pm.index[pfn]}`);
      if (pm.order[pfn] !== 0) bad(`file ${m.id}: page ${idx} (pfn ${pfn}) is part of a large folio`);
    }
  }

  if (tables !== k.pt.inUse) bad(`page-table pool has ${k.pt.inUse} tables in use, live mms reach ${tables}`);

  // Frames.
  let free = 0;
  let hugetlbFree = 0;
  for (let pfn = 0; pfn < n; pfn++) {
    const f = pm.flags[pfn]!;
    if ((f & F_RESERVED) !== 0) continue;
    if ((f & F_ALLOCATED) === 0) {
      free++;
      if (pm.refcount[pfn] !== 0 || pm.mapcount[pfn] !== 0 || pm.entireMapcount[pfn] !== 0)
        bad(`free pfn ${pfn} has refcount/mapcount ${pm.refcount[pfn]}/${pm.mapcount[pfn]}`);
      continue;
    }
    const head = pm.folioHead(pfn);
    const isHead = head === pfn;
    if (pm.mapcount[pfn] !== ptes[pfn])
      bad(`pfn ${pfn}: mapcount ${pm.mapcount[pfn]} but ${ptes[pfn]} PTEs map it`);
    if (!isHead) {
      if (pm.refcount[pfn] !== 0) bad(`tail pfn ${pfn} has refcount ${pm.refcount[pfn]}`);
      if (pm.entireMapcount[pfn] !== 0) bad(`tail pfn ${pfn} has entire mapcount ${pm.entireMapcount[pfn]}`);
      if ((pm.flags[head]! & F_ALLOCATED) === 0) bad(`tail pfn ${pfn} of a free head ${head}`);
      continue;
    }
    if (pm.entireMapcount[pfn] !== pmds[pfn])
      bad(`pfn ${pfn}: entire mapcount ${pm.entireMapcount[pfn]} but ${pmds[pfn]} PMDs map it`);
    if ((f & F_HUGETLB) !== 0 && pm.refcount[pfn] === 0 && refs[pfn] === 0) {
      hugetlbFree++;
      continue;
    }
    if (pm.refcount[pfn] !== refs[pfn])
      bad(
        `pfn ${pfn}${pm.order[pfn] ? ` (order ${pm.order[pfn]})` : ''}: refcount ${pm.refcount[pfn]} but ${refs[pfn]} references found (flags ${hex(f)})`,
      );
    if (refs[pfn] === 0) bad(`pfn ${pfn}: allocated but unreferenced (leaked), flags ${hex(f)}`);
    if ((f & (F_ANON | F_EXCL)) === (F_ANON | F_EXCL) && owner[pfn] === -1)
      bad(`pfn ${pfn}: PageAnonExclusive but mapped by several mms`);
  }
  if (free !== pm.freeFrames) bad(`allocator says ${pm.freeFrames} free frames, ${free} found`);
  if (hugetlbFree !== k.hugetlb.freeHugePages)
    bad(`hugetlb pool says ${k.hugetlb.freeHugePages} free, ${hugetlbFree} found`);
  if (pm.refcount[ZPFN] !== 1 || pm.refcount[HZPFN] !== 1) bad('zero page refcount changed');

  // Swap.
  let slots = 0;
  for (let s = 1; s <= k.swap.nrSlots; s++) {
    if (k.swap.swapMap[s] !== swapRefs[s])
      bad(`swap slot ${s}: swap_map ${k.swap.swapMap[s]} but ${swapRefs[s]} swap PTEs`);
    if (k.swap.swapMap[s]! > 0) slots++;
  }
  if (slots !== k.swap.inUse) bad(`swap says ${k.swap.inUse} slots in use, ${slots} found`);
  return out;
}

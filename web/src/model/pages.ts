/**
 * Reading a machine's page tables and device mirrors as per-page states the views draw: one
 * small code per page (what the CPU entry is) and the pfn it names, and the device entry of the
 * same page. Read-only over the simulator's arrays; DOM-free, so the recorder, the web worker and
 * the Node tests share it.
 * @module
 */
import { dmirrorBackingPage } from '../../../src/devices/dmirror/devmem-alloc.ts';
import type { DmirrorFile } from '../../../src/devices/dmirror/file.ts';
import {
  DPT_XA_TAG_ATOMIC,
  DPT_XA_TAG_WRITE,
  xaPointerTag,
  xaUntagPointer,
} from '../../../src/devices/dmirror/pt.ts';
import { PAGE_SIZE, PTRS_PER_TABLE } from '../../../src/mm/constants.ts';
import type { MmStruct } from '../../../src/mm/mm-struct.ts';
import { findEntry } from '../../../src/mm/page-table.ts';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE_READ,
  PTE_DEVICE_PRIVATE_WRITE,
  PTE_HWPOISON,
  PTE_KIND_MASK,
  PTE_LEAF,
  PTE_MARKER,
  PTE_MIGRATION_READ,
  PTE_MIGRATION_WRITE,
  PTE_NONE,
  PTE_PRESENT,
  PTE_SPECIAL,
  PTE_SWAP,
  PTE_TABLE,
  PTE_WRITE,
} from '../../../src/mm/pte.ts';

/** Page codes: what the CPU entry of one 4 KiB page is. */
export enum Pc {
  /** Inside a VMA, no entry. */
  None = 0,
  PresentRo = 1,
  PresentRw = 2,
  /** The shared zero page or another special mapping. */
  Zero = 3,
  /** Part of a present PMD/PUD leaf (THP or hugetlb). */
  Huge = 4,
  Swap = 5,
  Migration = 6,
  DevicePrivateRo = 7,
  DevicePrivateRw = 8,
  DeviceExclusive = 9,
  Hwpoison = 10,
  Marker = 11,
  /** Present, naming a device-coherent frame (pfn above RAM). */
  Coherent = 12,
  /** No VMA covers the page (unmapped, or not mapped yet). */
  NoVma = 13,
}

/** Names of the page codes, for the legend, the inspector and tests. */
export const PAGE_CODE_NAMES: readonly string[] = [
  'none',
  'present read-only',
  'present writable',
  'zero page',
  'huge leaf',
  'swap',
  'migration entry',
  'device-private read',
  'device-private write',
  'device-exclusive',
  'hwpoison',
  'marker',
  'device-coherent',
  'no VMA',
];

/** Device entry codes (the dmirror tag, plus whether the pfn is device memory). */
export enum Dc {
  None = 0,
  Read = 1,
  Atomic = 2,
  Write = 3,
  /** Read of a device-local frame (data migrated to the device). */
  LocalRead = 4,
  LocalWrite = 5,
}

/** Names of the device codes. */
export const DEVICE_CODE_NAMES: readonly string[] = [
  'none',
  'read (system RAM)',
  'atomic (system RAM)',
  'write (system RAM)',
  'read (data on the device)',
  'write (data on the device)',
];

/** The name of a device code, with its stale bit. */
export function deviceCodeName(code: number): string {
  const n = DEVICE_CODE_NAMES[code & 7] ?? String(code);
  return (code & 8) !== 0 ? `${n}, STALE: the CPU no longer maps this page and no invalidation covers it` : n;
}

/** The code and pfn of one decoded entry of `kind`/`lo`/`hi` at a leaf level. */
export function entryCode(lo: number, hi: number, ramFrames: number, huge: boolean): number {
  const kind = lo & PTE_KIND_MASK;
  switch (kind) {
    case PTE_NONE:
      return Pc.None;
    case PTE_PRESENT:
      if (hi >= ramFrames) return Pc.Coherent;
      if (huge) return Pc.Huge;
      if ((lo & PTE_SPECIAL) !== 0) return Pc.Zero;
      return (lo & PTE_WRITE) !== 0 ? Pc.PresentRw : Pc.PresentRo;
    case PTE_SWAP:
      return Pc.Swap;
    case PTE_DEVICE_PRIVATE_READ:
      return Pc.DevicePrivateRo;
    case PTE_DEVICE_PRIVATE_WRITE:
      return Pc.DevicePrivateRw;
    case PTE_DEVICE_EXCLUSIVE:
      return Pc.DeviceExclusive;
    case PTE_HWPOISON:
      return Pc.Hwpoison;
    case PTE_MARKER:
      return Pc.Marker;
    default:
      return kind >= PTE_MIGRATION_READ && kind <= PTE_MIGRATION_WRITE ? Pc.Migration : Pc.None;
  }
}

/**
 * Fills `codes[at…]`/`pfns[at…]` with the states of the `pages` pages from `addr` in `mm`: one
 * PMD lookup per 2 MiB and one read per PTE, so a whole region costs about one array read a page.
 * Pages outside every VMA get {@link Pc.NoVma}; pfn is the entry's payload (pfn or swap slot) for
 * kinds that have one, else 0.
 */
export function readPageStates(
  mm: MmStruct,
  addr: number,
  pages: number,
  codes: Uint8Array,
  pfns: Float64Array,
  at: number,
): void {
  const pool = mm.kernel.pt;
  const w = pool.words;
  const ram = mm.kernel.pm.ramFrames;
  const vpn0 = addr / PAGE_SIZE;
  const end = addr + pages * PAGE_SIZE;
  if (mm.exited) {
    codes.fill(Pc.NoVma, at, at + pages);
    pfns.fill(0, at, at + pages);
    return;
  }
  // Pages between VMAs get NoVma; `done` is the first page not yet written.
  let done = 0;
  const vmas = mm.vmas;
  let v0 = 0;
  let v1 = vmas.length;
  while (v0 < v1) {
    const mid = (v0 + v1) >>> 1;
    if (vmas[mid]!.end <= addr) v0 = mid + 1;
    else v1 = mid;
  }
  for (let v = v0; v < vmas.length; v++) {
    const vma = vmas[v]!;
    if (vma.start >= end) break;
    const a = Math.max(vma.start, addr);
    const b = Math.min(vma.end, end);
    const first = (a - addr) / PAGE_SIZE;
    if (first > done) {
      codes.fill(Pc.NoVma, at + done, at + first);
      pfns.fill(0, at + done, at + first);
    }
    done = (b - addr) / PAGE_SIZE;
    let vpn = a / PAGE_SIZE;
    const last = b / PAGE_SIZE;
    while (vpn < last) {
      const j0 = vpn % PTRS_PER_TABLE;
      const n = Math.min(last - vpn, PTRS_PER_TABLE - j0) | 0;
      const o = (at + vpn - vpn0) | 0;
      const pmdOff = findEntry(pool, mm.pgd, vpn, 2);
      if (pmdOff < 0) {
        // A PUD leaf (or a hole above the PMD): decode the PUD entry for the whole stretch.
        const pudOff = findEntry(pool, mm.pgd, vpn, 3);
        const lo = pudOff < 0 ? 0 : w[pudOff]!;
        const hi = pudOff < 0 ? 0 : w[pudOff + 1]!;
        const c = (lo & PTE_LEAF) !== 0 ? entryCode(lo, hi, ram, true) : Pc.None;
        const sub = vpn % (PTRS_PER_TABLE * PTRS_PER_TABLE);
        for (let j = 0; j < n; j++) {
          codes[o + j] = c;
          pfns[o + j] = c === Pc.None ? 0 : hi + sub + j;
        }
      } else {
        const lo = w[pmdOff]!;
        if ((lo & PTE_KIND_MASK) === PTE_TABLE && (lo & PTE_LEAF) === 0) {
          const base = (w[pmdOff + 1]! * PTRS_PER_TABLE + j0) * 2;
          for (let j = 0; j < n; j++) {
            const elo = w[base + 2 * j]!;
            if (elo === 0) {
              codes[o + j] = Pc.None;
              pfns[o + j] = 0;
              continue;
            }
            const ehi = w[base + 2 * j + 1]!;
            const c = entryCode(elo, ehi, ram, false);
            codes[o + j] = c;
            pfns[o + j] = c === Pc.None ? 0 : ehi;
          }
        } else {
          // A PMD leaf (THP, hugetlb, a PMD migration or device-private entry) or none.
          const hi = w[pmdOff + 1]!;
          const c = entryCode(lo, hi, ram, (lo & PTE_LEAF) !== 0);
          const perPage = c !== Pc.None && c !== Pc.Swap;
          for (let j = 0; j < n; j++) {
            codes[o + j] = c;
            pfns[o + j] = c === Pc.None ? 0 : perPage ? hi + j0 + j : hi;
          }
        }
      }
      vpn += n;
    }
  }
  if (done < pages) {
    codes.fill(Pc.NoVma, at + done, at + pages);
    pfns.fill(0, at + done, at + pages);
  }
}

/** Bit of a device code: the entry names a page the CPU entry does not, outside any open invalidation. */
export const DC_STALE = 8;

/**
 * Fills `dev[at…]`/`dpfn[at…]` with the device entries of `file` for the `pages` pages from
 * `addr` ({@link Dc} codes, plus {@link DC_STALE}, and the entry's pfn). `codes`/`pfns` hold the
 * CPU states of the same pages (read just before); `open` the invalidations in progress on the
 * file's mm as `[start, end)` pairs. The agreement rule is the mirror oracle's: the device names
 * the page the CPU maps (for a device-private entry, its backing page); a CPU migration entry is
 * a page in transit and agrees.
 */
export function readDeviceStates(
  file: DmirrorFile,
  addr: number,
  pages: number,
  dev: Uint8Array,
  dpfn: Float64Array,
  at: number,
  codes: Uint8Array,
  pfns: Float64Array,
  open: readonly number[],
): void {
  const pt = file.pt;
  const k = file.process.kernel;
  const vpn0 = addr / PAGE_SIZE;
  if (pt.size === 0) {
    dev.fill(Dc.None, at, at + pages);
    dpfn.fill(0, at, at + pages);
    return;
  }
  for (let i = 0; i < pages; i++) {
    const e = pt.get(vpn0 + i);
    if (e === undefined) {
      dev[at + i] = Dc.None;
      dpfn[at + i] = 0;
      continue;
    }
    const pfn = xaUntagPointer(e);
    const tag = xaPointerTag(e);
    const c = codes[at + i]!;
    const local = c === Pc.DevicePrivateRo || c === Pc.DevicePrivateRw;
    let code =
      tag === DPT_XA_TAG_WRITE
        ? local
          ? Dc.LocalWrite
          : Dc.Write
        : tag === DPT_XA_TAG_ATOMIC
          ? Dc.Atomic
          : local
            ? Dc.LocalRead
            : Dc.Read;
    let agrees: boolean;
    if (c === Pc.Migration) agrees = true;
    else if (local) agrees = dmirrorBackingPage(k, pfns[at + i]!) === pfn;
    else if (
      c === Pc.PresentRo ||
      c === Pc.PresentRw ||
      c === Pc.Zero ||
      c === Pc.Huge ||
      c === Pc.Coherent ||
      c === Pc.DeviceExclusive
    )
      agrees = pfns[at + i] === pfn;
    else agrees = false;
    if (!agrees) {
      const a = addr + i * PAGE_SIZE;
      let covered = false;
      for (let j = 0; j < open.length; j += 2) if (open[j]! <= a && a < open[j + 1]!) covered = true;
      if (!covered) code |= DC_STALE;
    }
    dev[at + i] = code;
    dpfn[at + i] = pfn;
  }
}

/** The `cpu` part of the page's `#state` summary. */
export interface CpuSummary {
  /** Mapped pages whose CPU entry is present (any frame, including a huge leaf's pages). */
  ram: number;
  /** Mapped pages whose CPU entry is device-private (read or write). */
  device: number;
  /** Mapped pages whose CPU entry is a swap entry. */
  swapped: number;
}

/** Counts, over every VMA of each of `mms`, the pages whose entry is present, device-private or swap. */
export function summarizeCpu(mms: Iterable<MmStruct>): CpuSummary {
  const out: CpuSummary = { ram: 0, device: 0, swapped: 0 };
  const seen = new Set<MmStruct>();
  for (const mm of mms) {
    if (seen.has(mm) || mm.exited) continue;
    seen.add(mm);
    for (const v of mm.vmas) {
      const pages = (v.end - v.start) / PAGE_SIZE;
      const codes = new Uint8Array(pages);
      const pfns = new Float64Array(pages);
      readPageStates(mm, v.start, pages, codes, pfns, 0);
      for (let i = 0; i < pages; i++) {
        const c = codes[i]!;
        if (c === Pc.PresentRo || c === Pc.PresentRw || c === Pc.Zero || c === Pc.Huge || c === Pc.Coherent)
          out.ram++;
        else if (c === Pc.DevicePrivateRo || c === Pc.DevicePrivateRw) out.device++;
        else if (c === Pc.Swap) out.swapped++;
      }
    }
  }
  return out;
}

/**
 * What the oracles need to read from a machine without changing it: the CPU page-table entry
 * mapping an address (decoded into a caller-owned `CpuEntry`, no allocation), the registered device mirrors, the
 * invalidations in progress per mm, whether a frame is still in use, and the words of messages.
 * @module
 */
import { PAGE_SIZE } from '../../mm/constants.ts';
import { DEVICE_ACCESS_ATOMIC, DEVICE_ACCESS_WRITE, type DeviceMirror } from '../../mm/device-mirror.ts';
import type { Kernel } from '../../mm/kernel.ts';
import type { MmStruct } from '../../mm/mm-struct.ts';
import { PG_allocated, PG_reserved } from '../../mm/page-flags.ts';
import { LEVEL_PAGES, leafLevel, leafOffset, walkLeaf } from '../../mm/page-table.ts';
import { PTE_KIND_MASK, PTE_KIND_NAMES, PTE_NONE, PTE_PROTNONE, PTE_WRITE } from '../../mm/pte.ts';

/** `0x…` of an address or pfn. */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/**
 * A decoded CPU entry, filled by {@link readCpuEntry}. Each oracle owns one and reuses it, so that
 * reading an entry allocates nothing and no two machines share the result.
 */
export class CpuEntry {
  /** The entry's lo word (kind and bits). */
  lo = 0;
  /** The page the entry names for the address (subpage of a leaf), or 0. */
  pfn = 0;
  /** Level of the entry (1 PTE, 2 PMD, 3 PUD); 0 when the mm has no tables. */
  level = 0;
}

/**
 * Reads the CPU entry translating virtual page `vpn` of `mm` into `out`; returns its kind
 * (PTE_NONE when nothing maps it or the mm is gone).
 */
export function readCpuEntry(k: Kernel, mm: MmStruct, vpn: number, out: CpuEntry): number {
  if (mm.pgd === 0) {
    out.lo = 0;
    out.pfn = 0;
    out.level = 0;
    return PTE_NONE;
  }
  const leaf = walkLeaf(k.pt, mm.pgd, vpn);
  const off = leafOffset(leaf);
  const level = leafLevel(leaf);
  const lo = k.pt.words[off]!;
  const hi = k.pt.words[off + 1]!;
  out.lo = lo;
  out.level = level;
  const kind = lo & PTE_KIND_MASK;
  out.pfn = kind === PTE_NONE ? 0 : level === 1 ? hi : hi + (vpn % LEVEL_PAGES[level]);
  return kind;
}

/** An entry in words: `present pfn 1234 writable (PMD)`. */
export function describeCpuEntry(e: CpuEntry): string {
  const kind = e.lo & PTE_KIND_MASK;
  if (kind === PTE_NONE) return 'none';
  const bits: string[] = [PTE_KIND_NAMES[kind] ?? `kind ${kind}`, `pfn ${e.pfn}`];
  if ((e.lo & PTE_WRITE) !== 0) bits.push('writable');
  else bits.push('read-only');
  if ((e.lo & PTE_PROTNONE) !== 0) bits.push('protnone');
  if (e.level === 2) bits.push('(PMD)');
  if (e.level === 3) bits.push('(PUD)');
  return bits.join(' ');
}

/** A translation's access bits in words: `READ`, `WRITE`, `ATOMIC`. */
export function accessName(access: number): string {
  return (access & DEVICE_ACCESS_ATOMIC) !== 0
    ? 'ATOMIC'
    : (access & DEVICE_ACCESS_WRITE) !== 0
      ? 'WRITE'
      : 'READ';
}

/** Calls `visit` for every device mirror registered on the machine, in registration order. */
export function forEachMirror(k: Kernel, visit: (mirror: DeviceMirror) => void): void {
  const mirrors = k.deviceMirrors;
  for (let i = 0; i < mirrors.length; i++) visit(mirrors[i]!);
}

/**
 * True when frame `pfn` is in use: an allocated RAM page of a referenced folio (the zero pages
 * included), or a referenced device page. A mirror entry, device access or migration naming a
 * frame for which this is false touches freed memory.
 */
export function frameInUse(k: Kernel, pfn: number): boolean {
  const pm = k.pm;
  if (pfn <= 0 || pfn >= pm.nrFrames) return false;
  const f = pm.flags[pfn]!;
  if ((f & PG_reserved) !== 0) return true;
  if ((f & PG_allocated) === 0) return false;
  return pm.refcount[pm.folioHead(pfn)]! > 0;
}

/** Why {@link frameInUse} is false for `pfn`, in words. */
export function describeFreedFrame(k: Kernel, pfn: number): string {
  const pm = k.pm;
  if (pfn <= 0 || pfn >= pm.nrFrames) return `pfn ${pfn} does not exist`;
  const head = pm.folioHead(pfn);
  const where = pfn >= pm.ramFrames ? 'device page' : 'frame';
  if ((pm.flags[pfn]! & PG_allocated) === 0) return `${where} ${pfn} is free`;
  return `${where} ${pfn} has no reference left (refcount of folio ${head} is ${pm.refcount[head]})`;
}

/**
 * The invalidations in progress on each mm, between `invalidate_range_start` and `_end` (fed by
 * the observer's `invalidateStart` / `invalidateEnd`).
 */
export class ActiveInvalidations {
  /** Per mm: flattened [start, end) pairs of the ranges in progress. */
  private readonly ranges = new Map<MmStruct, number[]>();

  /** An invalidation of `[start, end)` on `mm` began. */
  start(mm: MmStruct, start: number, end: number): void {
    let r = this.ranges.get(mm);
    if (r === undefined) {
      r = [];
      this.ranges.set(mm, r);
    }
    r.push(start, end);
  }

  /** The invalidation of `[start, end)` on `mm` ended. */
  end(mm: MmStruct, start: number, end: number): void {
    const r = this.ranges.get(mm);
    if (r === undefined) return;
    for (let i = r.length - 2; i >= 0; i -= 2) {
      if (r[i] === start && r[i + 1] === end) {
        r.splice(i, 2);
        return;
      }
    }
  }

  /** True while an invalidation covering `addr` is in progress on `mm`. */
  covers(mm: MmStruct, addr: number): boolean {
    const r = this.ranges.get(mm);
    if (r === undefined) return false;
    for (let i = 0; i < r.length; i += 2) if (addr >= r[i]! && addr < r[i + 1]!) return true;
    return false;
  }

  /** The ranges still in progress, in words (empty when none). */
  describe(): string[] {
    const out: string[] = [];
    for (const [mm, r] of this.ranges)
      for (let i = 0; i < r.length; i += 2) out.push(`mm ${mm.id} [${hex(r[i]!)}, ${hex(r[i + 1]!)})`);
    return out;
  }
}

/** Address of virtual page `vpn`. */
export function vpnAddr(vpn: number): number {
  return vpn * PAGE_SIZE;
}

/**
 * A minimal TLB for the M2 mutant (docs/mutants.md: `migrate_vma_collect_pmd` flushed the TLB
 * after dropping the page-table lock). hmmsim has no TLB: a CPU access walks the page tables every
 * time, which is what a TLB flushed at every PTE change looks like. Only while M2 is active does a
 * PTE cleared by the migration collect leave a stale translation behind, per mm: the CPU keeps
 * using it (`translate` in ./access.ts looks here first) until the delayed flush removes it. The
 * translations live on the mm (`mm.staleTlb`); with any other mutant, or none, nothing is ever
 * stored and `translate` pays one comparison.
 * @module
 */
import type { MmStruct } from './mm-struct.ts';

/** The CPU still caches `vpn` → `pfn` (writable or not) in `mm` after its PTE was cleared. */
export function staleTlbInsert(mm: MmStruct, vpn: number, pfn: number, writable: boolean): void {
  mm.staleTlb ??= new Map();
  mm.staleTlb.set(vpn, pfn * 2 + (writable ? 1 : 0));
}

/** The pfn a stale translation gives `vpn` for this access, or -1 (none, or read-only for a write). */
export function staleTlbLookup(mm: MmStruct, vpn: number, write: boolean): number {
  const m = mm.staleTlb;
  if (m === null) return -1;
  const e = m.get(vpn);
  if (e === undefined || (write && e % 2 === 0)) return -1;
  return Math.floor(e / 2);
}

/** `flush_tlb_range(vma, start, end)`: the stale translations of `[startVpn, endVpn)` are gone. */
export function staleTlbFlush(mm: MmStruct, startVpn: number, endVpn: number): void {
  const m = mm.staleTlb;
  if (m === null) return;
  for (const vpn of [...m.keys()]) if (vpn >= startVpn && vpn < endVpn) m.delete(vpn);
}

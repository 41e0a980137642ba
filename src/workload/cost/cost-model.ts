/**
 * The cost model: the time of each named step of servicing GPU faults, from a platform's
 * parameters. A batch costs
 * `batchFixed + faultFetch·cached + Σ_blocks(blockFixed + cpuUnmap + populate + zero + dmaMap +
 * copy + pteUpdate + tlbInvalidate) + replay`, plus eviction when allocation fails. Both tiers
 * use these functions: the fast tier with counts from its bitmaps, the functional tier with counts
 * from the real kernel, so that their times agree.
 * @module
 */
import { WL_PAGE_SIZE } from '../units.ts';
import { transferNs } from './link.ts';
import { type PlatformParams, platformLink } from './platform.ts';

/** The named time components a run's breakdown reports (`breakdownNs` in `--json`). */
export const COST_COMPONENTS = [
  'batchFixed',
  'faultFetch',
  'blockFixed',
  'cpuUnmap',
  'populate',
  'zero',
  'dmaMap',
  'copyH2D',
  'copyD2H',
  'pteUpdate',
  'tlbInvalidate',
  'replay',
  'eviction',
  'cpuFault',
  'compute',
  'cpuPhase',
  'throttle',
  'remoteAccess',
] as const;

/** One named component. */
export type CostComponent = (typeof COST_COMPONENTS)[number];

/** Time per component, ns. */
export type Breakdown = Record<CostComponent, number>;

/** A zeroed breakdown. */
export function emptyBreakdown(): Breakdown {
  const b = {} as Breakdown;
  for (const c of COST_COMPONENTS) b[c] = 0;
  return b;
}

/** The cost functions of one platform. */
export class CostModel {
  private readonly h2d;
  private readonly d2h;
  /** The platform's parameters. */
  readonly p: PlatformParams;
  /** @param p the platform's parameters */
  constructor(p: PlatformParams) {
    this.p = p;
    this.h2d = platformLink(p, 'h2d');
    this.d2h = platformLink(p, 'd2h');
  }

  /** Fixed cost of one batch (wake-up, fetch set-up, sort). */
  batchFixed(): number {
    return this.p.batchFixedNs.value;
  }
  /** Reading and coalescing `cached` fault buffer entries. */
  faultFetch(cached: number): number {
    return cached * this.p.faultFetchNs.value;
  }
  /** Fixed cost of servicing one VA block. */
  blockFixed(): number {
    return this.p.blockFixedNs.value;
  }
  /** Unmapping `pages` CPU-mapped pages before they migrate. */
  cpuUnmap(pages: number): number {
    return pages * this.p.cpuUnmapPerPageNs.value;
  }
  /** Allocating GPU memory for `pages` pages. */
  populate(pages: number): number {
    return pages * this.p.populatePerPageNs.value;
  }
  /** Zeroing `pages` pages that have no data anywhere. */
  zero(pages: number): number {
    return pages * this.p.zeroPerPageNs.value;
  }
  /** First-touch DMA mapping of `pages` CPU pages for the GPU. */
  dmaMap(pages: number): number {
    return pages * this.p.dmaMapPerPageNs.value;
  }
  /** One copy of `bytes` in direction `dir` on its copy engine. */
  copy(bytes: number, dir: 'h2d' | 'd2h'): number {
    return transferNs(dir === 'h2d' ? this.h2d : this.d2h, bytes);
  }
  /** Copying runs of pages: one transfer per run (`runs` are page counts). */
  copyRuns(runs: readonly number[], dir: 'h2d' | 'd2h'): number {
    let t = 0;
    for (const r of runs) t += this.copy(r * WL_PAGE_SIZE, dir);
    return t;
  }
  /** GPU PTE writes for `pages` pages. */
  pteUpdate(pages: number): number {
    return pages * this.p.pteUpdatePerPageNs.value;
  }
  /** GPU TLB invalidates of `ranges` ranges. */
  tlbInvalidate(ranges: number): number {
    return ranges * this.p.tlbInvalidateNs.value;
  }
  /** One replay. */
  replay(): number {
    return this.p.replayNs.value;
  }
  /** Fixed cost of evicting one VA block (its copies are charged as D2H copies). */
  evictBlock(): number {
    return this.p.evictBlockFixedNs.value;
  }
  /** Fixed cost of one CPU fault on GPU-resident memory. */
  cpuFault(): number {
    return this.p.cpuFaultFixedNs.value;
  }
}

/**
 * The CPU kernel's costs as the functional tier's cost hooks take them (page fault, zap per PTE
 * and per range, TLB shootdown, notifier callback, migrate_vma per page and per folio,
 * hmm_range_fault per pass and per page, CPU page copy), read from the platform.
 */
export interface KernelCosts {
  /** CPU page fault entry and exit, ns. */
  readonly pageFaultNs: number;
  /** Clearing one PTE, ns. */
  readonly zapPerPteNs: number;
  /** Fixed cost of zapping one range, ns. */
  readonly zapPerRangeNs: number;
  /** One TLB shootdown, ns. */
  readonly tlbShootdownNs: number;
  /** One mmu interval notifier callback, ns. */
  readonly notifierCallbackNs: number;
  /** migrate_vma work per base page, ns. */
  readonly migrateVmaPerPageNs: number;
  /** migrate_vma work per folio, ns. */
  readonly migrateVmaPerFolioNs: number;
  /** One hmm_range_fault walk pass, ns. */
  readonly hmmRangeFaultPassNs: number;
  /** One page of an hmm_range_fault walk, ns. */
  readonly hmmRangeFaultPageNs: number;
  /** CPU copy of one 4 KiB page, ns. */
  readonly cpuCopyPerPageNs: number;
}

/** The kernel cost values of a platform. */
export function kernelCosts(p: PlatformParams): KernelCosts {
  return {
    pageFaultNs: p.kPageFaultNs.value,
    zapPerPteNs: p.kZapPerPteNs.value,
    zapPerRangeNs: p.kZapPerRangeNs.value,
    tlbShootdownNs: p.kTlbShootdownNs.value,
    notifierCallbackNs: p.kNotifierCallbackNs.value,
    migrateVmaPerPageNs: p.kMigrateVmaPerPageNs.value,
    migrateVmaPerFolioNs: p.kMigrateVmaPerFolioNs.value,
    hmmRangeFaultPassNs: p.kHmmRangeFaultPassNs.value,
    hmmRangeFaultPageNs: p.kHmmRangeFaultPageNs.value,
    cpuCopyPerPageNs: p.kCpuCopyPerPageNs.value,
  };
}

/**
 * The CPU-side cost of unmapping `ptes` PTEs in `ranges` ranges with `shootdowns` TLB shootdowns
 * and `callbacks` notifier callbacks, and of `migrate_vma` over `pages` pages in `folios` folios —
 * the formula both tiers use for the kernel part of a migration.
 */
export function kernelMigrationNs(
  k: KernelCosts,
  c: { ptes: number; ranges: number; shootdowns: number; callbacks: number; pages: number; folios: number },
): number {
  return (
    c.ptes * k.zapPerPteNs +
    c.ranges * k.zapPerRangeNs +
    c.shootdowns * k.tlbShootdownNs +
    c.callbacks * k.notifierCallbackNs +
    c.pages * k.migrateVmaPerPageNs +
    c.folios * k.migrateVmaPerFolioNs
  );
}

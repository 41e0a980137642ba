/**
 * Test driver of the devmem unit tests: a ZONE_DEVICE pagemap (device-private or device-coherent)
 * with its own free list, a system page backing each device-private page (where its data lives,
 * like lib/test_hmm.c's `zone_device_data`), a `migrate_to_ram` that moves the faulting page back
 * with `migrateVmaSetup(SELECT_DEVICE_PRIVATE, faultPage)`, and helpers that run the whole
 * setup → copy → pages → finalize sequence under the mmap read lock. Plus page-table inspection
 * and notifier recording shared by the tests.
 */
import { expect } from 'vitest';
import {
  DevPagemap,
  MEMORY_DEVICE_COHERENT,
  MEMORY_DEVICE_PRIVATE,
  memremapPages,
  type VmFault,
  zoneDevicePageInit,
} from '../../../src/devmem/memremap.ts';
import {
  MIGRATE_VMA_SELECT_COMPOUND,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  type MigrateVma,
  migrateDeviceFinalize,
  migrateDevicePages,
  migrateDeviceRange,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
} from '../../../src/devmem/migrate-device.ts';
import {
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  migratePfn,
  migratePfnToPage,
} from '../../../src/devmem/migrate-pfn.ts';
import { Machine, type MachineOptions } from '../../../src/machine.ts';
import {
  HPAGE_PMD_NR,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
} from '../../../src/mm/constants.ts';
import type { Kernel } from '../../../src/mm/kernel.ts';
import type { MmStruct } from '../../../src/mm/mm-struct.ts';
import { mmapReadLock, mmapReadUnlock } from '../../../src/mm/mmap-lock.ts';
import { PG_locked } from '../../../src/mm/page-flags.ts';
import { pageLocked } from '../../../src/mm/page-lock.ts';
import { findEntry, type PtLevel } from '../../../src/mm/page-table.ts';
import type { Process } from '../../../src/mm/process.ts';
import { PTE_KIND_MASK, PTE_LEAF, PTE_WRITE } from '../../../src/mm/pte.ts';

/** One base page. */
export const P = PAGE_SIZE;
/** A 1 GiB aligned address: PMD boundaries of test mappings are known. */
export const A = 0x4000_0000;
/** PROT_READ | PROT_WRITE. */
export const RW = PROT_READ | PROT_WRITE;
/** MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED. */
export const ANON_FIXED = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;

/** A 32 MiB machine without a hugetlb pool (THP only through MADV_HUGEPAGE), with a step budget. */
export function newMachine(options: MachineOptions = {}): Machine {
  return new Machine({
    memory: 32 * 1024 * 1024,
    hugetlbPages: 0,
    scheduler: { stepBudget: 2_000_000 },
    ...options,
  });
}

/** mmap(MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS) at `addr`; fails the test on error. */
export async function mapAnon(p: Process, addr: number, length: number, prot = RW): Promise<void> {
  expect(await p.mmap(addr, length, prot, ANON_FIXED, -1, 0)).toBe(addr);
}

/** `n` bytes counting up from `seed` (mod 256). */
export function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed + i * 7) & 0xff;
  return b;
}

/** Writes one page of `pattern(P, seed + i)` to each of `n` pages from `addr` (CPU stores). */
export async function fillPages(p: Process, addr: number, n: number, seed = 1): Promise<void> {
  for (let i = 0; i < n; i++) await p.write(addr + i * P, pattern(P, seed + i));
}

/** True when `bytes` equals `pattern(P, seed)`. */
export function isPattern(bytes: Uint8Array, seed: number): boolean {
  const want = pattern(bytes.length, seed);
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== want[i]) return false;
  return true;
}

/** A copy of the contents of frame `pfn`. */
export function frameBytes(k: Kernel, pfn: number): Uint8Array {
  return k.pm.readableBytes(pfn).slice();
}

/** One page-table entry, decoded. */
export interface Pte {
  kind: number;
  pfn: number;
  write: boolean;
  leaf: boolean;
  lo: number;
}

/** The entry of `addr` at `level` in `mm`, or null when a table above it is missing. */
export function pteOf(k: Kernel, mm: MmStruct, addr: number, level: PtLevel = 1): Pte | null {
  const off = findEntry(k.pt, mm.pgd, Math.floor(addr / P), level);
  if (off < 0) return null;
  const lo = k.pt.words[off]!;
  return {
    kind: lo & PTE_KIND_MASK,
    pfn: k.pt.words[off + 1]!,
    write: (lo & PTE_WRITE) !== 0,
    leaf: (lo & PTE_LEAF) !== 0,
    lo,
  };
}

/** The [kind, pfn] of the PTE of `addr` (fails when there is no PTE table). */
export function kindPfn(k: Kernel, mm: MmStruct, addr: number): [number, number] {
  const e = pteOf(k, mm, addr);
  if (e === null) throw new Error(`no PTE for 0x${addr.toString(16)}`);
  return [e.kind, e.pfn];
}

/** One `invalidate_start` seen on the bus. */
export interface SeenEvent {
  mm: number;
  event: number;
  start: number;
  end: number;
  owner: unknown;
}

/** Records every `invalidate_start` on `machine.bus` until `stop()`. */
export function recordEvents(k: Kernel): { events: SeenEvent[]; stop: () => void } {
  const events: SeenEvent[] = [];
  const stop = k.bus.subscribe((e) => {
    if (e.type === 'invalidate_start')
      events.push({
        mm: e.range.mm.id,
        event: e.range.event,
        start: e.range.start,
        end: e.range.end,
        owner: e.range.owner,
      });
  });
  return { events, stop };
}

/** `[mm, event, start, end, owner]` tuples, for exact comparisons. */
export function tuples(events: readonly SeenEvent[]): [number, number, number, number, unknown][] {
  return events.map((e) => [e.mm, e.event, e.start, e.end, e.owner]);
}

/** [refcount, mapcount] of a frame. */
export function counts(k: Kernel, pfn: number): [number, number] {
  return [k.pm.refcount[pfn]!, k.pm.mapcount[pfn]!];
}

/** `migrate_pfn(pfn) | flags` as a test expectation. */
export function mpfn(pfn: number, flags = 0): number {
  return migratePfn(pfn) + (flags & ~MIGRATE_PFN_VALID);
}

/** What `migrate_to_ram` saw when it was called. */
export interface MigrateToRamCall {
  address: number;
  page: number;
  write: boolean;
  /** The faulting page was locked (by the fault path). */
  locked: boolean;
  /** Its refcount at the call. */
  refcount: number;
  /** Result returned. */
  result: number;
  /** The faulting page was still locked after migrateVmaFinalize (the fault path unlocks it). */
  lockedAfterFinalize: boolean;
}

/** Options of a {@link FakeDevice}. */
export interface FakeDeviceOptions {
  /** MEMORY_DEVICE_COHERENT instead of MEMORY_DEVICE_PRIVATE. */
  coherent?: boolean;
  /** Pages of device memory (default 1024: two 2 MiB folios' worth). */
  nrPages?: number;
  /** Owner cookie (default a fresh object). */
  owner?: unknown;
}

/** Hooks into {@link FakeDevice.migrateToDevice}, to interleave things between the phases. */
export interface MigrateHooks {
  /** MIGRATE_VMA_SELECT_* flags (default SELECT_SYSTEM). */
  flags?: number;
  /** Give slot `i` no destination (the driver declines it). */
  decline?: (i: number, args: MigrateVma) => boolean;
  /** Use one compound (order-9) destination for a compound source or hole (default true). */
  compoundDst?: boolean;
  /** Called after setup, before the driver allocates. */
  afterSetup?: (args: MigrateVma) => void | Promise<void>;
  /** Called after the driver allocated and copied, before migrateVmaPages. */
  beforePages?: (args: MigrateVma) => void | Promise<void>;
  /** Called after migrateVmaPages, before migrateVmaFinalize. */
  beforeFinalize?: (args: MigrateVma) => void | Promise<void>;
}

/** The words of one migration, captured at each phase. */
export interface MigrationRecord {
  args: MigrateVma;
  ret: number;
  /** src right after setup. */
  srcAfterSetup: number[];
  /** cpages and npages right after setup. */
  cpages: number;
  npages: number;
  /** src after migrateVmaPages. */
  srcAfterPages: number[];
  /** dst as the driver filled it. */
  dst: number[];
}

/** A simulated device with ZONE_DEVICE memory, driving the migration API as a driver would. */
export class FakeDevice {
  readonly k: Kernel;
  readonly owner: unknown;
  readonly pgmap: DevPagemap;
  readonly coherent: boolean;
  /** Free device pfns, lowest first. */
  readonly free: number[] = [];
  /** Device-private pfn → system page holding its data. */
  readonly backing = new Map<number, number>();
  /** Pfns handed to `pageFree`, in order. */
  readonly freed: number[] = [];
  /** Every `migrate_to_ram` call. */
  readonly faults: MigrateToRamCall[] = [];
  /** Makes the next `migrate_to_ram` fail to allocate (VM_FAULT_OOM). */
  failNextAlloc = false;

  constructor(k: Kernel, options: FakeDeviceOptions = {}) {
    this.k = k;
    this.coherent = options.coherent ?? false;
    this.owner = options.owner ?? { device: this.coherent ? 'coherent' : 'private' };
    const nrPages = options.nrPages ?? 1024;
    const ops = this.coherent
      ? { pageFree: (_: DevPagemap, pfn: number) => this.pageFree(pfn) }
      : {
          pageFree: (_: DevPagemap, pfn: number) => this.pageFree(pfn),
          migrateToRam: (vmf: VmFault) => this.migrateToRam(vmf),
        };
    this.pgmap = new DevPagemap(
      this.coherent ? MEMORY_DEVICE_COHERENT : MEMORY_DEVICE_PRIVATE,
      this.owner,
      ops,
      nrPages,
    );
    const first = memremapPages(k, this.pgmap);
    if (first <= 0) throw new Error(`memremapPages failed: ${first}`);
    for (let i = 0; i < nrPages; i++) this.free.push(first + i);
  }

  /** First device pfn. */
  get first(): number {
    return this.pgmap.pfnFirst;
  }

  /** Allocates one device page (zone_device_page_init: refcount 1, locked), or 0. */
  allocPage(): number {
    const pfn = this.free.shift();
    if (pfn === undefined) return 0;
    zoneDevicePageInit(this.k, this.pgmap, pfn);
    if (!this.coherent) this.backing.set(pfn, this.allocBacking());
    return pfn;
  }

  /** Allocates a 2 MiB device folio (order 9), or 0 when no aligned run is free. */
  allocFolio(): number {
    const set = new Set(this.free);
    const head = this.free.find(
      (pfn) =>
        (pfn - this.first) % HPAGE_PMD_NR === 0 &&
        [...Array(HPAGE_PMD_NR).keys()].every((j) => set.has(pfn + j)),
    );
    if (head === undefined) return 0;
    for (let j = 0; j < HPAGE_PMD_NR; j++) this.free.splice(this.free.indexOf(head + j), 1);
    zoneDevicePageInit(this.k, this.pgmap, head, 9);
    if (!this.coherent)
      for (let j = 0; j < HPAGE_PMD_NR; j++) this.backing.set(head + j, this.allocBacking());
    return head;
  }

  private allocBacking(): number {
    const r = this.k.pm.allocPages(0);
    if (r === 0) throw new Error('no system page to back a device page');
    return r;
  }

  /** `page_free`: the page (or, for a folio head, the folio) goes back to the free list. */
  private pageFree(pfn: number): void {
    this.freed.push(pfn);
    const n = 1 << this.k.pm.order[pfn]!;
    for (let j = 0; j < n; j++) {
      const r = this.backing.get(pfn + j);
      if (r !== undefined) {
        this.k.putPage(r);
        this.backing.delete(pfn + j);
      }
      this.k.pm.order[pfn + j] = 0;
      this.free.push(pfn + j);
    }
    this.free.sort((a, b) => a - b);
  }

  /** Where the data of device page `pfn` lives (its backing page, or itself when coherent). */
  dataFrame(pfn: number): number {
    if (this.coherent) return pfn;
    const r = this.backing.get(pfn);
    if (r === undefined) throw new Error(`device pfn ${pfn} has no backing page`);
    return r;
  }

  /** A copy of the device page's data. */
  read(pfn: number): Uint8Array {
    return frameBytes(this.k, this.dataFrame(pfn));
  }

  /** Device copy engine: system or device page (or zeros when `src` is 0) → device page. */
  copyToDevice(dst: number, src: number): void {
    const frame = this.dataFrame(dst);
    if (src === 0) this.k.pm.clearPage(frame);
    else this.k.pm.copyPage(frame, this.backing.has(src) ? this.dataFrame(src) : src);
  }

  /** Device copy engine: device page → system page. */
  copyFromDevice(dst: number, src: number): void {
    this.k.pm.copyPage(dst, this.dataFrame(src));
  }

  /**
   * The driver's migration of `[start, end)` of `mm` to device memory: mmap read lock,
   * migrateVmaSetup (SELECT_SYSTEM unless `hooks.flags`), allocate and copy for every slot still
   * migrating, migrateVmaPages, migrateVmaFinalize, unlock.
   */
  async migrateToDevice(
    mm: MmStruct,
    start: number,
    end: number,
    hooks: MigrateHooks = {},
  ): Promise<MigrationRecord> {
    const n = Math.ceil((end - start) / P);
    await mmapReadLock(mm);
    try {
      const vma = mm.vmaLookup(start);
      if (vma === null) throw new Error(`no VMA at 0x${start.toString(16)}`);
      const args: MigrateVma = {
        vma,
        start,
        end,
        src: new Float64Array(n),
        dst: new Float64Array(n),
        cpages: 0,
        npages: 0,
        pgmapOwner: this.owner,
        flags: hooks.flags ?? MIGRATE_VMA_SELECT_SYSTEM,
        faultPage: 0,
      };
      const ret = await migrateVmaSetup(args);
      const rec: MigrationRecord = {
        args,
        ret,
        srcAfterSetup: [...args.src],
        cpages: args.cpages,
        npages: args.npages,
        srcAfterPages: [],
        dst: [],
      };
      if (ret !== 0) return rec;
      await hooks.afterSetup?.(args);
      this.allocAndCopy(args, hooks);
      rec.dst = [...args.dst];
      await hooks.beforePages?.(args);
      await migrateVmaPages(args);
      rec.srcAfterPages = [...args.src];
      await hooks.beforeFinalize?.(args);
      migrateVmaFinalize(args);
      return rec;
    } finally {
      mmapReadUnlock(mm);
    }
  }

  /**
   * The driver moving its pages of `[start, end)` back to system memory on its own initiative
   * (dmirror_migrate_to_system): setup with `flags` (default SELECT_DEVICE_PRIVATE), one locked
   * system page per migrating slot, data copied, pages, finalize — under the mmap read lock.
   */
  async migrateToSystem(
    mm: MmStruct,
    start: number,
    end: number,
    flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  ): Promise<MigrationRecord> {
    const k = this.k;
    const n = Math.ceil((end - start) / P);
    await mmapReadLock(mm);
    try {
      const args: MigrateVma = {
        vma: mm.vmaLookup(start)!,
        start,
        end,
        src: new Float64Array(n),
        dst: new Float64Array(n),
        cpages: 0,
        npages: 0,
        pgmapOwner: this.owner,
        flags,
        faultPage: 0,
      };
      const ret = await migrateVmaSetup(args);
      const rec: MigrationRecord = {
        args,
        ret,
        srcAfterSetup: [...args.src],
        cpages: args.cpages,
        npages: args.npages,
        srcAfterPages: [],
        dst: [],
      };
      if (ret !== 0) return rec;
      for (let i = 0; i < args.npages; i++) {
        const spage = migratePfnToPage(args.src[i]!);
        if (spage === 0 || (args.src[i]! & MIGRATE_PFN_MIGRATE) === 0) continue;
        const page = k.pm.allocPages(0);
        k.pm.flags[page]! |= PG_locked;
        this.copyFromDevice(page, spage);
        args.dst[i] = migratePfn(page);
      }
      rec.dst = [...args.dst];
      await migrateVmaPages(args);
      rec.srcAfterPages = [...args.src];
      migrateVmaFinalize(args);
      return rec;
    } finally {
      mmapReadUnlock(mm);
    }
  }

  /** dmirror_migrate_alloc_and_copy: a destination for each migrating slot, data copied. */
  private allocAndCopy(args: MigrateVma, hooks: MigrateHooks): void {
    const src = args.src;
    const dst = args.dst;
    for (let i = 0; i < args.npages; i++) {
      const w = src[i]!;
      if ((w & MIGRATE_PFN_MIGRATE) === 0) continue;
      if (hooks.decline?.(i, args)) continue;
      const spage = migratePfnToPage(w);
      if ((w & MIGRATE_PFN_COMPOUND) !== 0) {
        if (hooks.compoundDst ?? true) {
          const head = this.allocFolio();
          if (head !== 0) {
            for (let j = 0; j < HPAGE_PMD_NR; j++) this.copyToDevice(head + j, spage === 0 ? 0 : spage + j);
            dst[i] = migratePfn(head) + MIGRATE_PFN_COMPOUND;
            i += HPAGE_PMD_NR - 1;
            continue;
          }
        }
        // Small destinations for every page of the compound source (or hole).
        for (let j = 0; j < HPAGE_PMD_NR && i + j < args.npages; j++) {
          const d = this.allocPage();
          if (d === 0) break;
          this.copyToDevice(d, spage === 0 ? 0 : spage + j);
          dst[i + j] = migratePfn(d);
        }
        i += HPAGE_PMD_NR - 1;
        continue;
      }
      const d = this.allocPage();
      if (d === 0) continue;
      this.copyToDevice(d, spage);
      dst[i] = migratePfn(d) + ((w & MIGRATE_PFN_WRITE) !== 0 ? MIGRATE_PFN_WRITE : 0);
    }
  }

  /**
   * The pagemap's `migrate_to_ram` (dmirror_devmem_fault): migrates the faulting page's folio
   * back — a 2 MiB device folio as one compound slot over its aligned range when that range lies
   * in the VMA, otherwise the faulting page alone.
   */
  async migrateToRam(vmf: VmFault): Promise<number> {
    const k = this.k;
    const call: MigrateToRamCall = {
      address: vmf.address,
      page: vmf.page,
      write: vmf.write,
      locked: pageLocked(k, vmf.page),
      refcount: k.pm.refcount[k.pm.folioHead(vmf.page)]!,
      result: -1,
      lockedAfterFinalize: false,
    };
    this.faults.push(call);
    const span = k.pm.folioNrPages(vmf.page) * P;
    let start = Math.floor(vmf.address / span) * span;
    if (start < vmf.vma.start || start + span > vmf.vma.end) start = Math.floor(vmf.address / P) * P;
    const n = span === P || start % span !== 0 ? 1 : HPAGE_PMD_NR;
    const args: MigrateVma = {
      vma: vmf.vma,
      start,
      end: start + n * P,
      src: new Float64Array(n),
      dst: new Float64Array(n),
      cpages: 0,
      npages: 0,
      pgmapOwner: this.owner,
      flags: MIGRATE_VMA_SELECT_DEVICE_PRIVATE | (n > 1 ? MIGRATE_VMA_SELECT_COMPOUND : 0),
      faultPage: vmf.page,
    };
    if ((await migrateVmaSetup(args)) !== 0) {
      call.result = VM_FAULT_SIGBUS;
      return VM_FAULT_SIGBUS;
    }
    for (let i = 0; i < args.npages; i++) {
      const w = args.src[i]!;
      const spage = migratePfnToPage(w);
      if (spage === 0 || (w & MIGRATE_PFN_MIGRATE) === 0) continue;
      const compound = (w & MIGRATE_PFN_COMPOUND) !== 0;
      const page = this.failNextAlloc ? 0 : k.pm.allocPages(compound ? 9 : 0);
      this.failNextAlloc = false;
      if (page === 0) {
        migrateVmaFinalize(args);
        call.result = VM_FAULT_OOM;
        return VM_FAULT_OOM;
      }
      k.pm.flags[page]! |= PG_locked;
      for (let j = 0; j < (compound ? HPAGE_PMD_NR : 1); j++) this.copyFromDevice(page + j, spage + j);
      args.dst[i] = migratePfn(page) + (compound ? MIGRATE_PFN_COMPOUND : 0);
      if (compound) i += HPAGE_PMD_NR - 1;
    }
    await migrateVmaPages(args);
    migrateVmaFinalize(args);
    call.lockedAfterFinalize = pageLocked(k, vmf.page);
    call.result = 0;
    return 0;
  }

  /**
   * Eviction of every device page in use (dmirror_device_evict_chunk): migrateDeviceRange over
   * the whole pagemap, system destinations (a 2 MiB folio for a compound slot unless
   * `compoundDst` is false), migrateDevicePages, migrateDeviceFinalize. Returns the src words
   * after the range collect and after pages, and the destinations used.
   */
  async evictAll(compoundDst = true): Promise<{ src: number[]; dst: number[]; srcAfterPages: number[] }> {
    const k = this.k;
    const n = this.pgmap.nrPages;
    const src = new Float64Array(n);
    const dst = new Float64Array(n);
    expect(await migrateDeviceRange(k, src, this.first, n)).toBe(0);
    const srcAfterRange = [...src];
    for (let i = 0; i < n; i++) {
      const spage = migratePfnToPage(src[i]!);
      if (spage === 0 || (src[i]! & MIGRATE_PFN_MIGRATE) === 0) continue;
      if ((src[i]! & MIGRATE_PFN_COMPOUND) !== 0 && compoundDst) {
        // A large device folio goes to a system folio of the same order.
        const head = k.pm.allocPages(9);
        k.pm.flags[head]! |= PG_locked;
        for (let j = 0; j < HPAGE_PMD_NR; j++) this.copyFromDevice(head + j, spage + j);
        dst[i] = migratePfn(head) + MIGRATE_PFN_COMPOUND;
        continue;
      }
      const page = k.pm.allocPages(0);
      k.pm.flags[page]! |= PG_locked;
      this.copyFromDevice(page, spage);
      dst[i] = migratePfn(page);
    }
    await migrateDevicePages(k, src, dst, n);
    const srcAfterPages = [...src];
    migrateDeviceFinalize(k, src, dst, n);
    return { src: srcAfterRange, dst: [...dst], srcAfterPages };
  }
}

/** The flag bits of a migrate-pfn word. */
export function flagsOf(word: number): number {
  return word % 64;
}

export {
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  migratePfn,
  migratePfnToPage,
};

/**
 * The lost-data oracle: every byte read — by the CPU (`read`, `load32`) or by a device (dmirror
 * READ, the read-back of MIGRATE_TO_DEV and EXCLUSIVE, any driver's reported device read) — is the
 * last value written at that address of that address space (by the CPU, `write`/`store32`, or a
 * device: dmirror WRITE, any driver's reported device write). A device write a driver does not
 * report is invisible to it: the next read of those bytes is then reported as lost data.
 *
 * It keeps a sparse shadow per mm of the bytes written (page number → bytes + known mask) and
 * checks only bytes the shadow knows. What it forgets, and why:
 * - munmap, MADV_DONTNEED / MADV_FREE, mmap with MAP_FIXED, mremap's old and new ranges: the
 *   bytes of the range are unstable while the call runs (a write racing with the call may or may
 *   not survive it; such writes clear the shadow instead of filling it) and forgotten when it
 *   returns; mremap moves what it knew of the moved part to the new address;
 * - shared mappings (VM_SHARED: MAP_SHARED files and shared anonymous memory) are never checked:
 *   another mm, or `pwrite`, may change them;
 * - fork: the child starts with a copy of the parent's shadow of its private mappings, minus the
 *   pages the parent wrote while fork was copying (the child may or may not see those writes);
 * - exit: the mm's shadow goes.
 * @module
 */
import {
  MADV_DONTNEED,
  MADV_FREE,
  MAP_FIXED,
  MREMAP_FIXED,
  PAGE_SIZE,
  VM_SHARED,
} from '../../mm/constants.ts';
import type { DeviceMirror } from '../../mm/device-mirror.ts';
import type { MmStruct } from '../../mm/mm-struct.ts';
import type { MmObserver } from '../../mm/observer.ts';
import type { Oracle, OracleContext, OracleInstance } from '../oracle.ts';
import { accessName, CpuEntry, describeCpuEntry, forEachMirror, hex, readCpuEntry } from './cpu-view.ts';
import { attachObserver } from './observer-hub.ts';

/** The oracle's name in violations. */
const NAME = 'lost-data';

/**
 * Slots a fresh {@link ShadowStore} holds before it first grows: few, since the explorer's
 * post-setup snapshot copies the store's bytes back before every schedule.
 */
const STORE_INITIAL_SLOTS = 2;
/** Stores kept for reuse by later schedules (see {@link StorePool}). */
const STORE_POOL_MAX = 4;

/**
 * What the shadow knows of the pages it tracks, one slot per page: the bytes last written and
 * a mask of the bytes whose last written value is known, in two slabs of typed arrays, plus
 * per slot the bounds of the known bytes and who wrote the page last. Every address space of
 * one machine shares its oracle's store; a store goes back to a small pool when the oracle
 * detaches, so a schedule normally allocates no slab.
 */
class ShadowStore {
  /** The bytes last written, PAGE_SIZE per slot (meaningful where `known` is 1). */
  data = new Uint8Array(STORE_INITIAL_SLOTS * PAGE_SIZE);
  /** 1 where the byte's last written value is known, PAGE_SIZE per slot. */
  known = new Uint8Array(STORE_INITIAL_SLOTS * PAGE_SIZE);
  /** Per slot: no byte before this offset is known. */
  readonly lo: number[] = [];
  /** Per slot: no byte at or after this offset is known. */
  readonly hi: number[] = [];
  /** Per slot: the mirror whose device wrote the page last, or null for the CPU. */
  readonly writerMirror: (DeviceMirror | null)[] = [];
  /** Per slot: the pfn that device write went through. */
  readonly writerPfn: number[] = [];
  private capacity = STORE_INITIAL_SLOTS;
  private next = 0;
  private readonly freeSlots: number[] = [];

  /** A slot with nothing known, written by nobody yet. */
  alloc(): number {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      if (this.next === this.capacity) this.grow();
      slot = this.next++;
    }
    const base = slot * PAGE_SIZE;
    this.known.fill(0, base, base + PAGE_SIZE);
    this.lo[slot] = PAGE_SIZE;
    this.hi[slot] = 0;
    this.writerMirror[slot] = null;
    this.writerPfn[slot] = 0;
    return slot;
  }

  /** Gives `slot` back. */
  release(slot: number): void {
    this.freeSlots.push(slot);
  }

  /** Forgets every slot (and the machine objects they name), ready for another machine. */
  reset(): void {
    this.next = 0;
    this.freeSlots.length = 0;
    this.lo.length = 0;
    this.hi.length = 0;
    this.writerMirror.length = 0;
    this.writerPfn.length = 0;
  }

  /** Who wrote `slot`'s page last, for a violation's message. */
  writer(slot: number): string {
    const mirror = this.writerMirror[slot]!;
    return mirror === null ? 'the CPU' : deviceWho('write', mirror, this.writerPfn[slot]!);
  }

  private grow(): void {
    const cap = this.capacity * 2;
    const data = new Uint8Array(cap * PAGE_SIZE);
    data.set(this.data);
    const known = new Uint8Array(cap * PAGE_SIZE);
    known.set(this.known);
    this.data = data;
    this.known = known;
    this.capacity = cap;
  }
}

/**
 * Stores given back by detached oracles, for the later schedules of one exploration (never shared
 * by two live oracles). Owned by the oracle factory that one exploration uses, not by the module,
 * so that explorations running side by side do not share stores.
 */
class StorePool {
  private readonly stores: ShadowStore[] = [];

  /** A store with no slot in use: a pooled one, or a new one. */
  take(): ShadowStore {
    return this.stores.pop() ?? new ShadowStore();
  }

  /** Gives `store` back once its oracle no longer uses it. */
  give(store: ShadowStore): void {
    store.reset();
    if (this.stores.length < STORE_POOL_MAX) this.stores.push(store);
  }
}

/** `a device read of <mirror> through pfn <pfn>` (or write). */
function deviceWho(access: 'read' | 'write', mirror: DeviceMirror, pfn: number): string {
  return `a device ${access} of ${mirror.name} through pfn ${pfn}`;
}

/** The shadow of one address space. */
class AddressSpaceShadow {
  /** Virtual page number → its slot in the oracle's {@link ShadowStore}. */
  readonly pages = new Map<number, number>();
  /** Flattened [start, end) ranges whose contents a system call in progress may discard. */
  readonly unstable: number[] = [];
  /** Pages written while `fork` copies the address space, or null when no fork runs. */
  forkDirty: Set<number> | null = null;

  isUnstable(addr: number): boolean {
    const u = this.unstable;
    for (let i = 0; i < u.length; i += 2) if (addr >= u[i]! && addr < u[i + 1]!) return true;
    return false;
  }

  removeUnstable(start: number, end: number): void {
    const u = this.unstable;
    for (let i = u.length - 2; i >= 0; i -= 2) {
      if (u[i] === start && u[i + 1] === end) {
        u.splice(i, 2);
        return;
      }
    }
  }

  /** Forgets the pages of `[start, end)` (page granular: the calls that forget are). */
  forget(start: number, end: number, store: ShadowStore): void {
    const pages = this.pages;
    if (pages.size === 0) return;
    const first = Math.floor(start / PAGE_SIZE);
    const last = Math.ceil(end / PAGE_SIZE);
    if (last - first <= pages.size) {
      for (let v = first; v < last; v++) {
        const slot = pages.get(v);
        if (slot === undefined) continue;
        pages.delete(v);
        store.release(slot);
      }
    } else {
      for (const [v, slot] of pages) {
        if (v >= first && v < last) {
          pages.delete(v);
          store.release(slot);
        }
      }
    }
  }

  /** Forgets every page. */
  clear(store: ShadowStore): void {
    for (const slot of this.pages.values()) store.release(slot);
    this.pages.clear();
  }
}

/** Rounds a length up to whole pages. */
function pageAlign(n: number): number {
  return Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
}

/** `value` as four little-endian bytes, in `word` (the caller's scratch). */
function le32(word: Uint8Array, value: number): Uint8Array {
  word[0] = value & 0xff;
  word[1] = (value >>> 8) & 0xff;
  word[2] = (value >>> 16) & 0xff;
  word[3] = value >>> 24;
  return word;
}

/**
 * One schedule's lost-data oracle: its own observer (the hooks are its methods, so attaching it
 * builds no closures) and the shadows of the machine's address spaces.
 */
class LostData implements MmObserver, OracleInstance {
  private readonly ctx: OracleContext;
  private readonly shadows = new Map<MmStruct, AddressSpaceShadow>();
  /** The slots of every shadow, taken on the first write recorded. */
  private store: ShadowStore | null = null;
  private reported = false;
  /** Scratch for the 32-bit hooks. */
  private readonly word = new Uint8Array(4);
  private detachFromHub: (() => void) | null = null;

  constructor(
    ctx: OracleContext,
    private readonly pool: StorePool | null,
  ) {
    this.ctx = ctx;
    this.detachFromHub = attachObserver(ctx.machine, this);
  }

  /** Removes the hooks and gives the store back. */
  detach(): void {
    if (this.detachFromHub === null) return;
    this.detachFromHub();
    this.detachFromHub = null;
    this.shadows.clear();
    if (this.store !== null) {
      this.pool?.give(this.store);
      this.store = null;
    }
  }

  private shadowOf(mm: MmStruct): AddressSpaceShadow {
    let s = this.shadows.get(mm);
    if (s === undefined) {
      s = new AddressSpaceShadow();
      this.shadows.set(mm, s);
    }
    return s;
  }

  private storeOf(): ShadowStore {
    let store = this.store;
    if (store === null) {
      store = this.pool?.take() ?? new ShadowStore();
      this.store = store;
    }
    return store;
  }

  /**
   * Records `bytes` (within one page) written at `addr` of `mm`; the writer is `mirror`'s device
   * through `pfn`, or the CPU when `mirror` is null.
   */
  private record(
    mm: MmStruct,
    addr: number,
    bytes: Uint8Array,
    mirror: DeviceMirror | null,
    pfn: number,
  ): void {
    if (untracked(mm, addr)) return;
    const s = this.shadowOf(mm);
    const vpn = Math.floor(addr / PAGE_SIZE);
    const off = addr - vpn * PAGE_SIZE;
    const end = off + bytes.length;
    let slot = s.pages.get(vpn);
    if (s.forkDirty !== null) s.forkDirty.add(vpn);
    if (s.isUnstable(addr)) {
      // A write racing with a discarding call may or may not survive it.
      if (slot !== undefined) {
        const base = slot * PAGE_SIZE;
        this.store!.known.fill(0, base + off, base + end);
      }
      return;
    }
    const store = this.storeOf();
    if (slot === undefined) {
      slot = store.alloc();
      s.pages.set(vpn, slot);
    }
    const base = slot * PAGE_SIZE;
    store.data.set(bytes, base + off);
    store.known.fill(1, base + off, base + end);
    if (off < store.lo[slot]!) store.lo[slot] = off;
    if (end > store.hi[slot]!) store.hi[slot] = end;
    store.writerMirror[slot] = mirror;
    store.writerPfn[slot] = pfn;
  }

  /**
   * Checks `bytes` (within one page) read at `addr` of `mm` by the CPU (`mirror` null; `load`
   * for a 32-bit load) or by `mirror`'s device through `pfn`.
   */
  private check(
    mm: MmStruct,
    addr: number,
    bytes: Uint8Array,
    mirror: DeviceMirror | null,
    pfn: number,
    load: boolean,
  ): void {
    if (this.reported) return;
    const s = this.shadows.get(mm);
    if (s === undefined) return;
    const vpn = Math.floor(addr / PAGE_SIZE);
    const slot = s.pages.get(vpn);
    if (slot === undefined) return;
    const store = this.store!;
    const off = addr - vpn * PAGE_SIZE;
    const base = slot * PAGE_SIZE + off;
    const data = store.data;
    const known = store.known;
    // Only bytes between the slot's bounds can be known.
    const from = Math.max(0, store.lo[slot]! - off);
    const to = Math.min(bytes.length, store.hi[slot]! - off);
    for (let i = from; i < to; i++) {
      if (known[base + i] === 0 || data[base + i] === bytes[i]) continue;
      if (s.isUnstable(addr) || untracked(mm, addr)) return;
      this.reported = true;
      const reader = mirror !== null ? deviceWho('read', mirror, pfn) : load ? 'a CPU load' : 'a CPU read';
      this.ctx.violate(
        NAME,
        describeLoss(this.ctx.machine, mm, addr + i, bytes[i]!, data[base + i]!, store.writer(slot), reader),
      );
      return;
    }
  }

  userWrite(mm: MmStruct, addr: number, data: Uint8Array): void {
    this.record(mm, addr, data, null, 0);
  }

  userWrite32(mm: MmStruct, addr: number, value: number): void {
    this.record(mm, addr, le32(this.word, value), null, 0);
  }

  userRead(mm: MmStruct, addr: number, data: Uint8Array): void {
    this.check(mm, addr, data, null, 0, false);
  }

  userRead32(mm: MmStruct, addr: number, value: number): void {
    this.check(mm, addr, le32(this.word, value), null, 0, true);
  }

  deviceAccess(
    mirror: DeviceMirror,
    mm: MmStruct,
    addr: number,
    pfn: number,
    write: boolean,
    data: Uint8Array,
  ): void {
    if (write) this.record(mm, addr, data, mirror, pfn);
    else this.check(mm, addr, data, mirror, pfn, false);
  }

  syscallBegin(mm: MmStruct, name: string, args: readonly number[]): void {
    const s = this.shadowOf(mm);
    switch (name) {
      case 'munmap':
        s.unstable.push(args[0]!, args[0]! + pageAlign(args[1]!));
        break;
      case 'madvise':
        if (args[2] === MADV_DONTNEED || args[2] === MADV_FREE)
          s.unstable.push(args[0]!, args[0]! + pageAlign(args[1]!));
        break;
      case 'mmap':
        if ((args[3]! & MAP_FIXED) !== 0) s.unstable.push(args[0]!, args[0]! + pageAlign(args[1]!));
        break;
      case 'mremap':
        s.unstable.push(args[0]!, args[0]! + pageAlign(args[1]!));
        if ((args[3]! & MREMAP_FIXED) !== 0) s.unstable.push(args[4]!, args[4]! + pageAlign(args[2]!));
        break;
      case 'fork':
        s.forkDirty = new Set();
        break;
    }
  }

  syscallEnd(mm: MmStruct, name: string, args: readonly number[], result: number): void {
    const s = this.shadowOf(mm);
    switch (name) {
      case 'munmap':
      case 'madvise':
      case 'mmap': {
        const start = args[0]!;
        const end = start + pageAlign(args[1]!);
        const discards =
          name === 'munmap' ||
          (name === 'madvise' && (args[2] === MADV_DONTNEED || args[2] === MADV_FREE)) ||
          (name === 'mmap' && (args[3]! & MAP_FIXED) !== 0);
        if (discards) {
          s.removeUnstable(start, end);
          if (this.store !== null) s.forget(start, end, this.store);
        }
        if (name === 'mmap' && result >= 0 && this.store !== null)
          s.forget(result, result + pageAlign(args[1]!), this.store);
        break;
      }
      case 'mremap': {
        const [oldAddr, oldSize, newSize, flags, newAddr] = args as [number, number, number, number, number];
        s.removeUnstable(oldAddr, oldAddr + pageAlign(oldSize));
        if ((flags & MREMAP_FIXED) !== 0) s.removeUnstable(newAddr, newAddr + pageAlign(newSize));
        if (result < 0 || this.store === null) break;
        const store = this.store;
        // The moved pages keep their slots: taken out first, so forgetting does not free them.
        const moved: number[] = [];
        const first = Math.floor(oldAddr / PAGE_SIZE);
        const n = pageAlign(Math.min(oldSize, newSize)) / PAGE_SIZE;
        for (let i = 0; i < n; i++) {
          const slot = s.pages.get(first + i);
          if (slot === undefined) continue;
          s.pages.delete(first + i);
          moved.push(i, slot);
        }
        s.forget(oldAddr, oldAddr + pageAlign(oldSize), store);
        s.forget(result, result + pageAlign(newSize), store);
        const to = Math.floor(result / PAGE_SIZE);
        for (let j = 0; j < moved.length; j += 2) s.pages.set(to + moved[j]!, moved[j + 1]!);
        break;
      }
      case 'fork':
        s.forkDirty = null;
        break;
      case 'exit':
        if (this.store !== null) s.clear(this.store);
        this.shadows.delete(mm);
        break;
    }
  }

  forked(parent: MmStruct, child: MmStruct): void {
    const s = this.shadows.get(parent);
    if (s === undefined || this.store === null) return;
    const store = this.store;
    const c = this.shadowOf(child);
    for (const [vpn, slot] of s.pages) {
      if (s.forkDirty?.has(vpn)) continue;
      const vma = child.vmaLookup(vpn * PAGE_SIZE);
      if (vma === null || (vma.flags & VM_SHARED) !== 0) continue;
      const copy = store.alloc();
      // alloc may grow the slabs: read them after it.
      const from = slot * PAGE_SIZE;
      store.data.copyWithin(copy * PAGE_SIZE, from, from + PAGE_SIZE);
      store.known.copyWithin(copy * PAGE_SIZE, from, from + PAGE_SIZE);
      store.lo[copy] = store.lo[slot]!;
      store.hi[copy] = store.hi[slot]!;
      store.writerMirror[copy] = store.writerMirror[slot]!;
      store.writerPfn[copy] = store.writerPfn[slot]!;
      c.pages.set(vpn, copy);
    }
  }
}

/** True when bytes at `addr` of `mm` are not tracked at all (no VMA, or a shared mapping). */
function untracked(mm: MmStruct, addr: number): boolean {
  const vma = mm.vmaLookup(addr);
  return vma === null || (vma.flags & VM_SHARED) !== 0;
}

/** The message: the byte, who wrote and read it, and what maps the address now. */
function describeLoss(
  machine: OracleContext['machine'],
  mm: MmStruct,
  addr: number,
  got: number,
  want: number,
  writer: string,
  reader: string,
): string {
  const cpu = new CpuEntry();
  readCpuEntry(machine, mm, Math.floor(addr / PAGE_SIZE), cpu);
  const states = [`the CPU entry is ${describeCpuEntry(cpu)}`];
  const vpn = Math.floor(addr / PAGE_SIZE);
  forEachMirror(machine, (mirror) => {
    if (mirror.mm !== mm) return;
    mirror.forEachTranslation((v, pfn, access) => {
      if (v === vpn) states.push(`${mirror.name} maps it to pfn ${pfn} (${accessName(access)})`);
    });
  });
  return `${reader} of mm ${mm.id} at ${hex(addr)} returned ${hex(got)} but the last value written there was ${hex(want)} (by ${writer}); ${states.join('; ')}`;
}

/** The lost-data oracle (see the module comment); each schedule allocates its own shadow store. */
export const lostDataOracle: Oracle = (ctx: OracleContext): OracleInstance => new LostData(ctx, null);

/**
 * The lost-data oracle for the schedules of one exploration: a detached schedule's shadow store
 * goes to the next one, so that a schedule normally allocates no slab.
 */
export function pooledLostDataOracle(): Oracle {
  const pool = new StorePool();
  return (ctx: OracleContext): OracleInstance => new LostData(ctx, pool);
}

/**
 * The lost-data oracle: every byte read — by the CPU (`read`, `load32`) or by a device (dmirror
 * READ, and the read-back of MIGRATE_TO_DEV and EXCLUSIVE) — is the last value written at that
 * address of that address space (by the CPU, `write`/`store32`, or a device, dmirror WRITE).
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
import type { DmirrorFile } from '../../devices/dmirror/file.ts';
import { xaPointerTag, xaUntagPointer } from '../../devices/dmirror/pt.ts';
import {
  MADV_DONTNEED,
  MADV_FREE,
  MAP_FIXED,
  MREMAP_FIXED,
  PAGE_SIZE,
  VM_SHARED,
} from '../../mm/constants.ts';
import type { MmStruct } from '../../mm/mm-struct.ts';
import type { MmObserver } from '../../mm/observer.ts';
import type { Oracle, OracleContext, OracleInstance } from '../oracle.ts';
import {
  describeCpuEntry,
  describeMirror,
  forEachOpenMirror,
  hex,
  readCpuEntry,
  tagName,
} from './cpu-view.ts';
import { attachObserver } from './observer-hub.ts';

/** The oracle's name in violations. */
const NAME = 'lost-data';

/** What the shadow knows of one page. */
interface PageShadow {
  /** The bytes last written (meaningful where `known` is 1). */
  readonly data: Uint8Array;
  /** 1 where the byte's last written value is known. */
  readonly known: Uint8Array;
  /** Who wrote the page last ('the CPU', or the device mirror). */
  writer: string;
}

/** The shadow of one address space. */
class AddressSpaceShadow {
  /** Virtual page number → what is known of it. */
  readonly pages = new Map<number, PageShadow>();
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
  forget(start: number, end: number): void {
    const first = Math.floor(start / PAGE_SIZE);
    const last = Math.ceil(end / PAGE_SIZE);
    if (last - first <= this.pages.size) for (let v = first; v < last; v++) this.pages.delete(v);
    else for (const v of this.pages.keys()) if (v >= first && v < last) this.pages.delete(v);
  }
}

/** Rounds a length up to whole pages. */
function pageAlign(n: number): number {
  return Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
}

/** Scratch for the 32-bit hooks. */
const WORD = new Uint8Array(4);

function le32(value: number): Uint8Array {
  WORD[0] = value & 0xff;
  WORD[1] = (value >>> 8) & 0xff;
  WORD[2] = (value >>> 16) & 0xff;
  WORD[3] = value >>> 24;
  return WORD;
}

/** The lost-data oracle (see the module comment). */
export const lostDataOracle: Oracle = (ctx: OracleContext): OracleInstance => {
  const machine = ctx.machine;
  const shadows = new Map<MmStruct, AddressSpaceShadow>();
  let reported = false;

  const shadowOf = (mm: MmStruct): AddressSpaceShadow => {
    let s = shadows.get(mm);
    if (s === undefined) {
      s = new AddressSpaceShadow();
      shadows.set(mm, s);
    }
    return s;
  };

  /** True when bytes at `addr` of `mm` are not tracked at all (no VMA, or a shared mapping). */
  const untracked = (mm: MmStruct, addr: number): boolean => {
    const vma = mm.vmaLookup(addr);
    return vma === null || (vma.flags & VM_SHARED) !== 0;
  };

  /** Records `bytes` (within one page) written at `addr` of `mm` by `writer`. */
  const record = (mm: MmStruct, addr: number, bytes: Uint8Array, writer: string): void => {
    if (untracked(mm, addr)) return;
    const s = shadowOf(mm);
    const vpn = Math.floor(addr / PAGE_SIZE);
    const off = addr - vpn * PAGE_SIZE;
    let page = s.pages.get(vpn);
    if (s.forkDirty !== null) s.forkDirty.add(vpn);
    if (s.isUnstable(addr)) {
      // A write racing with a discarding call may or may not survive it.
      if (page !== undefined) page.known.fill(0, off, off + bytes.length);
      return;
    }
    if (page === undefined) {
      page = { data: new Uint8Array(PAGE_SIZE), known: new Uint8Array(PAGE_SIZE), writer };
      s.pages.set(vpn, page);
    }
    page.data.set(bytes, off);
    page.known.fill(1, off, off + bytes.length);
    page.writer = writer;
  };

  /** Checks `bytes` (within one page) read at `addr` of `mm` by `reader`. */
  const check = (mm: MmStruct, addr: number, bytes: Uint8Array, reader: string): void => {
    if (reported) return;
    const s = shadows.get(mm);
    if (s === undefined) return;
    const vpn = Math.floor(addr / PAGE_SIZE);
    const page = s.pages.get(vpn);
    if (page === undefined) return;
    const off = addr - vpn * PAGE_SIZE;
    const data = page.data;
    const known = page.known;
    for (let i = 0; i < bytes.length; i++) {
      if (known[off + i] === 0 || data[off + i] === bytes[i]) continue;
      if (s.isUnstable(addr) || untracked(mm, addr)) return;
      reported = true;
      ctx.violate(NAME, describeLoss(mm, addr + i, bytes[i]!, data[off + i]!, page.writer, reader));
      return;
    }
  };

  /** The message: the byte, who wrote and read it, and what maps the address now. */
  const describeLoss = (
    mm: MmStruct,
    addr: number,
    got: number,
    want: number,
    writer: string,
    reader: string,
  ): string => {
    readCpuEntry(machine, mm, Math.floor(addr / PAGE_SIZE));
    const states = [`the CPU entry is ${describeCpuEntry()}`];
    forEachOpenMirror(machine, (file) => {
      if (file.mm !== mm) return;
      const entry = file.pt.get(Math.floor(addr / PAGE_SIZE));
      if (entry !== undefined)
        states.push(
          `${describeMirror(file)} maps it to pfn ${xaUntagPointer(entry)} (${tagName(xaPointerTag(entry))})`,
        );
    });
    return `${reader} of mm ${mm.id} at ${hex(addr)} returned ${hex(got)} but the last value written there was ${hex(want)} (by ${writer}); ${states.join('; ')}`;
  };

  const observer: MmObserver = {
    userWrite(mm, addr, data) {
      record(mm, addr, data, 'the CPU');
    },
    userWrite32(mm, addr, value) {
      record(mm, addr, le32(value), 'the CPU');
    },
    userRead(mm, addr, data) {
      check(mm, addr, data, 'a CPU read');
    },
    userRead32(mm, addr, value) {
      check(mm, addr, le32(value), 'a CPU load');
    },
    deviceAccess(mirror, mm, addr, pfn, write, data) {
      const who = `${describeMirror(mirror as DmirrorFile)}`;
      if (write) record(mm, addr, data, `a device write of ${who} through pfn ${pfn}`);
      else check(mm, addr, data, `a device read of ${who} through pfn ${pfn}`);
    },
    syscallBegin(mm, name, args) {
      const s = shadowOf(mm);
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
    },
    syscallEnd(mm, name, args, result) {
      const s = shadowOf(mm);
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
            s.forget(start, end);
          }
          if (name === 'mmap' && result >= 0) s.forget(result, result + pageAlign(args[1]!));
          break;
        }
        case 'mremap': {
          const [oldAddr, oldSize, newSize, flags, newAddr] = args as [
            number,
            number,
            number,
            number,
            number,
          ];
          s.removeUnstable(oldAddr, oldAddr + pageAlign(oldSize));
          if ((flags & MREMAP_FIXED) !== 0) s.removeUnstable(newAddr, newAddr + pageAlign(newSize));
          if (result < 0) break;
          const moved: [number, PageShadow][] = [];
          const first = Math.floor(oldAddr / PAGE_SIZE);
          const n = pageAlign(Math.min(oldSize, newSize)) / PAGE_SIZE;
          for (let i = 0; i < n; i++) {
            const page = s.pages.get(first + i);
            if (page !== undefined) moved.push([i, page]);
          }
          s.forget(oldAddr, oldAddr + pageAlign(oldSize));
          s.forget(result, result + pageAlign(newSize));
          const to = Math.floor(result / PAGE_SIZE);
          for (const [i, page] of moved) s.pages.set(to + i, page);
          break;
        }
        case 'fork':
          s.forkDirty = null;
          break;
        case 'exit':
          shadows.delete(mm);
          break;
      }
    },
    forked(parent, child) {
      const s = shadows.get(parent);
      if (s === undefined) return;
      const c = shadowOf(child);
      for (const [vpn, page] of s.pages) {
        if (s.forkDirty?.has(vpn)) continue;
        const vma = child.vmaLookup(vpn * PAGE_SIZE);
        if (vma === null || (vma.flags & VM_SHARED) !== 0) continue;
        c.pages.set(vpn, { data: page.data.slice(), known: page.known.slice(), writer: page.writer });
      }
    },
  };
  const detach = attachObserver(machine, observer);
  return { detach };
};

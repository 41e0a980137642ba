/**
 * The mirror oracle (bug-catalogue §5 rules 1, 3 and 4): outside an invalidation, every entry of
 * every open dmirror file's device page table agrees with the CPU page table of the mirrored mm
 * at the same address — it names the page the CPU maps (a system or device-coherent page, the
 * zero page; the backing page of a device-private page of the file's own device; the page of a
 * device-exclusive entry), it is writable only where the CPU entry is writable (or a writable
 * device-private entry), and it is ATOMIC exactly where the CPU holds a device-exclusive entry.
 *
 * "Outside an invalidation": no `invalidate_range_start` … `_end` covering the address is in
 * progress on the mm. A CPU migration entry is a page in transit (the device's own migration
 * leaves its entries until it maps the destination) and is not checked.
 *
 * Checked at every device access through an entry, at every context switch after something that
 * can break the agreement happened (a mirror commit, the end of an invalidation, a freed page),
 * and at the end of the run.
 * @module
 */
import { dmirrorBackingPage } from '../../devices/dmirror/devmem-alloc.ts';
import type { DmirrorFile } from '../../devices/dmirror/file.ts';
import {
  DPT_XA_TAG_ATOMIC,
  DPT_XA_TAG_WRITE,
  xaPointerTag,
  xaUntagPointer,
} from '../../devices/dmirror/pt.ts';
import { PAGE_SIZE } from '../../mm/constants.ts';
import type { MmStruct } from '../../mm/mm-struct.ts';
import type { MmuNotifierRange } from '../../mm/mmu-notifier.ts';
import type { MmObserver } from '../../mm/observer.ts';
import {
  isMigrationKind,
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE_READ,
  PTE_DEVICE_PRIVATE_WRITE,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_WRITE,
} from '../../mm/pte.ts';
import type { Oracle, OracleContext, OracleInstance } from '../oracle.ts';
import {
  ActiveInvalidations,
  cpuLo,
  cpuPfn,
  describeCpuEntry,
  describeMirror,
  forEachOpenMirror,
  hex,
  readCpuEntry,
  tagName,
} from './cpu-view.ts';
import { attachObserver } from './observer-hub.ts';

/** The oracle's name in violations. */
const NAME = 'mirror';

/**
 * Why the mirror entry `entry` of `file` at virtual page `vpn` disagrees with the CPU page table
 * of `mm`, or null when it agrees (or the address is in transit: a migration entry).
 */
export function mirrorEntryMismatch(
  file: DmirrorFile,
  mm: MmStruct,
  vpn: number,
  entry: number,
): string | null {
  const k = file.mdevice.kernel;
  const pfn = xaUntagPointer(entry);
  const tag = xaPointerTag(entry);
  if (mm.exited || mm.pgd === 0) return `the mm ${mm.id} has been torn down`;
  const kind = readCpuEntry(k, mm, vpn);
  if (isMigrationKind(kind)) return null;
  let expected: number;
  let writable: boolean;
  if (kind === PTE_PRESENT) {
    if ((cpuLo & PTE_PROTNONE) !== 0) return 'the CPU entry is protnone (no access)';
    expected = cpuPfn;
    writable = (cpuLo & PTE_WRITE) !== 0;
  } else if (kind === PTE_DEVICE_PRIVATE_READ || kind === PTE_DEVICE_PRIVATE_WRITE) {
    const pgmap = k.pgmapOf(cpuPfn);
    if (pgmap === null || pgmap.owner !== file.mdevice)
      return `device-private page ${cpuPfn} belongs to another device`;
    expected = dmirrorBackingPage(k, cpuPfn);
    writable = kind === PTE_DEVICE_PRIVATE_WRITE;
  } else if (kind === PTE_DEVICE_EXCLUSIVE) {
    expected = cpuPfn;
    writable = true;
    if (tag !== DPT_XA_TAG_ATOMIC)
      return 'the CPU holds a device-exclusive entry but the mirror is not ATOMIC';
  } else return 'the CPU maps no page there';
  if (pfn !== expected)
    return `the mirror names pfn ${pfn} but the CPU entry means pfn ${expected}${expected !== cpuPfn ? ` (backing page of device page ${cpuPfn})` : ''}`;
  if (tag === DPT_XA_TAG_WRITE && !writable) return 'the mirror is writable but the CPU entry is not';
  if (tag === DPT_XA_TAG_ATOMIC && kind !== PTE_DEVICE_EXCLUSIVE)
    return 'the mirror is ATOMIC but the CPU entry is not device-exclusive';
  return null;
}

/** The mirror oracle (see the module comment). */
export const mirrorOracle: Oracle = (ctx: OracleContext): OracleInstance => {
  const machine = ctx.machine;
  const active = new ActiveInvalidations();
  /** Something that can break the agreement happened since the last full check. */
  let dirty = true;
  let reported = false;

  const report = (when: string, file: DmirrorFile, vpn: number, entry: number, why: string): void => {
    if (reported) return;
    reported = true;
    const addr = vpn * PAGE_SIZE;
    ctx.violate(
      NAME,
      `${when}: ${describeMirror(file)} maps ${hex(addr)} to pfn ${xaUntagPointer(entry)} (${tagName(xaPointerTag(entry))}) but the CPU entry of mm ${file.mm.id} there is ${describeCpuEntry()}, with no invalidation of ${hex(addr)} in progress: ${why}`,
    );
  };

  const checkAll = (when: string): void => {
    dirty = false;
    forEachOpenMirror(machine, (file) => {
      if (reported) return;
      const mm = file.mm;
      for (const [vpn, entry] of file.pt) {
        if (active.covers(mm, vpn * PAGE_SIZE)) continue;
        const why = mirrorEntryMismatch(file, mm, vpn, entry);
        if (why !== null) {
          report(when, file, vpn, entry, why);
          return;
        }
      }
    });
  };

  const observer: MmObserver = {
    invalidateStart(range: MmuNotifierRange) {
      active.start(range.mm, range.start, range.end);
    },
    invalidateEnd(range: MmuNotifierRange) {
      active.end(range.mm, range.start, range.end);
      dirty = true;
    },
    mirrorUpdate() {
      dirty = true;
    },
    pageFreed() {
      dirty = true;
    },
    deviceAccess(mirror, mm, addr, _pfn, write) {
      const file = mirror as DmirrorFile;
      const vpn = addr / PAGE_SIZE;
      const entry = file.pt.get(vpn);
      if (entry === undefined || active.covers(mm, addr)) return;
      const why = mirrorEntryMismatch(file, mm, vpn, entry);
      if (why !== null) report(write ? 'device write' : 'device read', file, vpn, entry, why);
    },
  };
  const detach = attachObserver(machine, observer);
  return {
    atSwitch() {
      if (dirty && !reported) checkAll('at a context switch');
    },
    atEnd() {
      if (!reported) checkAll('at the end of the run');
    },
    detach,
  };
};

/**
 * The use-after-free oracle: no device access and no mirror entry touches a frame or device page
 * whose last reference is gone (a free RAM frame, a free device page back on its driver's list,
 * an allocated folio with refcount 0). Device accesses are checked as they happen; the mirror
 * entries at the first context switch after a page was freed or an entry stored, and at the end.
 * (Migrations of freed pages are caught by the assertion oracle: `migrate_vma_pages` checks
 * that every page it moves is locked and referenced.)
 * @module
 */
import type { DmirrorFile } from '../../devices/dmirror/file.ts';
import { xaPointerTag, xaUntagPointer } from '../../devices/dmirror/pt.ts';
import { PAGE_SIZE } from '../../mm/constants.ts';
import type { MmObserver } from '../../mm/observer.ts';
import type { Oracle, OracleContext, OracleInstance } from '../oracle.ts';
import {
  describeFreedFrame,
  describeMirror,
  forEachOpenMirror,
  frameInUse,
  hex,
  tagName,
} from './cpu-view.ts';
import { attachObserver } from './observer-hub.ts';

/** The oracle's name in violations. */
const NAME = 'use-after-free';

/** The use-after-free oracle (see the module comment). */
export const useAfterFreeOracle: Oracle = (ctx: OracleContext): OracleInstance => {
  const machine = ctx.machine;
  let dirty = true;
  let reported = false;

  const report = (message: string): void => {
    if (reported) return;
    reported = true;
    ctx.violate(NAME, message);
  };

  const checkAll = (when: string): void => {
    dirty = false;
    forEachOpenMirror(machine, (file) => {
      if (reported) return;
      for (const [vpn, entry] of file.pt) {
        const pfn = xaUntagPointer(entry);
        if (frameInUse(machine, pfn)) continue;
        report(
          `${when}: ${describeMirror(file)} maps ${hex(vpn * PAGE_SIZE)} of mm ${file.mm.id} to pfn ${pfn} (${tagName(xaPointerTag(entry))}) but ${describeFreedFrame(machine, pfn)}`,
        );
        return;
      }
    });
  };

  const observer: MmObserver = {
    mirrorUpdate() {
      dirty = true;
    },
    pageFreed() {
      dirty = true;
    },
    deviceAccess(mirror, mm, addr, pfn, write) {
      if (frameInUse(machine, pfn)) return;
      report(
        `device ${write ? 'write' : 'read'} by ${describeMirror(mirror as DmirrorFile)} at ${hex(addr)} of mm ${mm.id} through pfn ${pfn}, but ${describeFreedFrame(machine, pfn)}`,
      );
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

/**
 * The use-after-free oracle: no device access and no translation of a registered device mirror
 * (dmirror's files, any driver's `DeviceMirror`) touches a frame or device page whose last
 * reference is gone (a free RAM frame, a free device page back on its driver's list, an allocated
 * folio with refcount 0). Device accesses are checked as they happen; the translations at the
 * first preemption point or context switch after a page was freed or a mirror updated (at every
 * one for a mirror that does not report its updates), and at the end.
 * (Migrations of freed pages are caught by the assertion oracle: `migrate_vma_pages` checks
 * that every page it moves is locked and referenced.)
 * @module
 */
import { PAGE_SIZE } from '../../mm/constants.ts';
import type { DeviceMirror } from '../../mm/device-mirror.ts';
import type { MmStruct } from '../../mm/mm-struct.ts';
import type { MmObserver } from '../../mm/observer.ts';
import type { Oracle, OracleContext, OracleInstance } from '../oracle.ts';
import { accessName, describeFreedFrame, frameInUse, hex } from './cpu-view.ts';
import { attachObserver } from './observer-hub.ts';

/** The oracle's name in violations. */
const NAME = 'use-after-free';

/** One schedule's use-after-free oracle (see the module comment). */
class UseAfterFree implements MmObserver, OracleInstance {
  private readonly ctx: OracleContext;
  private dirty = true;
  private reported = false;
  private readonly detachFromHub: () => void;
  private when = '';
  private current: DeviceMirror | null = null;
  private readonly visit = (vpn: number, pfn: number, access: number): void => {
    if (this.reported || frameInUse(this.ctx.machine, pfn)) return;
    const mirror = this.current!;
    this.report(
      `${this.when}: ${mirror.name} maps ${hex(vpn * PAGE_SIZE)} of mm ${mirror.mm.id} to pfn ${pfn} (${accessName(access)}) but ${describeFreedFrame(this.ctx.machine, pfn)}`,
    );
  };

  constructor(ctx: OracleContext) {
    this.ctx = ctx;
    this.detachFromHub = attachObserver(ctx.machine, this);
  }

  private report(message: string): void {
    if (this.reported) return;
    this.reported = true;
    this.ctx.violate(NAME, message);
  }

  /** Checks the mirrors: all of them (`all`), or only those that do not report their updates. */
  private check(when: string, all: boolean): void {
    if (all) this.dirty = false;
    this.when = when;
    const mirrors = this.ctx.machine.deviceMirrors;
    for (let i = 0; i < mirrors.length && !this.reported; i++) {
      const mirror = mirrors[i]!;
      if (!all && mirror.reportsUpdates === true) continue;
      this.current = mirror;
      mirror.forEachTranslation(this.visit);
    }
    this.current = null;
  }

  mirrorUpdate(): void {
    this.dirty = true;
  }

  pageFreed(): void {
    this.dirty = true;
  }

  deviceAccess(mirror: DeviceMirror, mm: MmStruct, addr: number, pfn: number, write: boolean): void {
    if (frameInUse(this.ctx.machine, pfn)) return;
    this.report(
      `device ${write ? 'write' : 'read'} by ${mirror.name} at ${hex(addr)} of mm ${mm.id} through pfn ${pfn}, but ${describeFreedFrame(this.ctx.machine, pfn)}`,
    );
  }

  atPoint(): void {
    if (!this.reported) this.check('at a preemption point', this.dirty);
  }

  atSwitch(): void {
    if (!this.reported) this.check('at a context switch', this.dirty);
  }

  atEnd(): void {
    if (!this.reported) this.check('at the end of the run', true);
  }

  detach(): void {
    this.detachFromHub();
  }
}

/** The use-after-free oracle (see the module comment). */
export const useAfterFreeOracle: Oracle = (ctx: OracleContext): OracleInstance => new UseAfterFree(ctx);

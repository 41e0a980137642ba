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
import { type TranslationChecker, type TranslationWalk, translationWalk } from './translation-walk.ts';

/** The oracle's name in violations. */
const NAME = 'use-after-free';

/** One schedule's use-after-free oracle (see the module comment). */
class UseAfterFree implements MmObserver, OracleInstance, TranslationChecker {
  private readonly ctx: OracleContext;
  private reported = false;
  /** The verdict of the last translation walk, reported in this oracle's turn. */
  private verdict: string | null = null;
  found = false;
  private readonly detachFromHub: () => void;
  private readonly walk: TranslationWalk;
  private readonly leaveWalk: () => void;

  constructor(ctx: OracleContext) {
    this.ctx = ctx;
    this.detachFromHub = attachObserver(ctx.machine, this);
    this.walk = translationWalk(ctx.machine);
    this.leaveWalk = this.walk.subscribe(this);
  }

  private report(message: string): void {
    if (this.reported) return;
    this.reported = true;
    this.found = true;
    this.ctx.violate(NAME, message);
  }

  begin(all: boolean): boolean {
    return all;
  }

  visit(mirror: DeviceMirror, vpn: number, pfn: number, access: number, when: string): void {
    if (frameInUse(this.ctx.machine, pfn)) return;
    this.verdict = `${when}: ${mirror.name} maps ${hex(vpn * PAGE_SIZE)} of mm ${mirror.mm.id} to pfn ${pfn} (${accessName(access)}) but ${describeFreedFrame(this.ctx.machine, pfn)}`;
    this.found = true;
  }

  /** This oracle's turn at a checking moment: the shared walk's verdict, reported. */
  private check(when: string, all: boolean): void {
    if (this.reported) return;
    this.walk.serve(this, when, all);
    if (this.verdict !== null) this.report(this.verdict);
  }

  deviceAccess(mirror: DeviceMirror, mm: MmStruct, addr: number, pfn: number, write: boolean): void {
    if (frameInUse(this.ctx.machine, pfn)) return;
    this.report(
      `device ${write ? 'write' : 'read'} by ${mirror.name} at ${hex(addr)} of mm ${mm.id} through pfn ${pfn}, but ${describeFreedFrame(this.ctx.machine, pfn)}`,
    );
  }

  atPoint(): void {
    this.check('at a preemption point', false);
  }

  atSwitch(): void {
    this.check('at a context switch', false);
  }

  atEnd(): void {
    this.check('at the end of the run', true);
  }

  detach(): void {
    this.leaveWalk();
    this.detachFromHub();
  }
}

/** The use-after-free oracle (see the module comment). */
export const useAfterFreeOracle: Oracle = (ctx: OracleContext): OracleInstance => new UseAfterFree(ctx);

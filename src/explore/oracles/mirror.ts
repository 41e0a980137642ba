/**
 * The mirror oracle (rules 1, 3 and 4 of docs/mutants.md#invariants-the-oracles-check):
 * outside an invalidation, every translation of every registered device mirror (`DeviceMirror`:
 * dmirror's files and any driver's own) agrees with the CPU page table of the mirrored mm at the same address — it names the page
 * the CPU maps (a system or device-coherent page, the zero page; for a device-private page of the
 * mirror's own owner, the frame through which the device reaches it; the page of a
 * device-exclusive entry), it is writable only where the CPU entry is writable (or a writable
 * device-private entry), and it is ATOMIC exactly where the CPU holds a device-exclusive entry.
 * Every device access reported is checked the same way: the frame it went through must be the
 * one the CPU maps, and a write needs a writable CPU entry.
 *
 * "Outside an invalidation": no `invalidate_range_start` … `_end` covering the address is in
 * progress on the mm. A CPU migration entry is a page in transit (the device's own migration
 * leaves its entries until it maps the destination) and is not checked.
 *
 * When: at every device access, at every preemption point and context switch after something
 * that can break the agreement happened (a mirror update, the end of an invalidation, a freed
 * page; for a mirror that does not report its updates, always), and at the end of the run. A
 * stale translation is thus caught in the first window where another thread could run, whether
 * or not the device used it and whether or not it heals before the end.
 * @module
 */
import { PAGE_SIZE } from '../../mm/constants.ts';
import { DEVICE_ACCESS_ATOMIC, DEVICE_ACCESS_WRITE, type DeviceMirror } from '../../mm/device-mirror.ts';
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
  accessName,
  CpuEntry,
  describeCpuEntry,
  hex,
  readCpuEntry,
} from './cpu-view.ts';
import { attachObserver } from './observer-hub.ts';
import { type TranslationChecker, type TranslationWalk, translationWalk } from './translation-walk.ts';

/** The oracle's name in violations. */
const NAME = 'mirror';

/**
 * Why the translation of `mirror` at virtual page `vpn` — frame `pfn` with access bits `access`
 * (`DEVICE_ACCESS_*`) — disagrees with the CPU page table of `mirror.mm`, or null when it agrees
 * (or the address is in transit: a migration entry).
 */
export function mirrorEntryMismatch(
  mirror: DeviceMirror,
  vpn: number,
  pfn: number,
  access: number,
  cpu: CpuEntry = new CpuEntry(),
): string | null {
  const mm = mirror.mm;
  const k = mm.kernel;
  if (mm.exited || mm.pgd === 0) return `the mm ${mm.id} has been torn down`;
  const kind = readCpuEntry(k, mm, vpn, cpu);
  const cpuPfn = cpu.pfn;
  const cpuLo = cpu.lo;
  if (isMigrationKind(kind)) return null;
  let expected: number;
  let writable: boolean;
  if (kind === PTE_PRESENT) {
    if ((cpuLo & PTE_PROTNONE) !== 0) return 'the CPU entry is protnone (no access)';
    expected = cpuPfn;
    writable = (cpuLo & PTE_WRITE) !== 0;
  } else if (kind === PTE_DEVICE_PRIVATE_READ || kind === PTE_DEVICE_PRIVATE_WRITE) {
    const pgmap = k.pgmapOf(cpuPfn);
    if (pgmap === null || mirror.owner === undefined || pgmap.owner !== mirror.owner)
      return `device-private page ${cpuPfn} belongs to another device`;
    expected = mirror.devicePrivatePfn ? mirror.devicePrivatePfn(cpuPfn) : cpuPfn;
    writable = kind === PTE_DEVICE_PRIVATE_WRITE;
  } else if (kind === PTE_DEVICE_EXCLUSIVE) {
    expected = cpuPfn;
    writable = true;
    if ((access & DEVICE_ACCESS_ATOMIC) === 0)
      return 'the CPU holds a device-exclusive entry but the mirror is not ATOMIC';
  } else return 'the CPU maps no page there';
  if (pfn !== expected)
    return `the mirror names pfn ${pfn} but the CPU entry means pfn ${expected}${expected !== cpuPfn ? ` (backing page of device page ${cpuPfn})` : ''}`;
  if ((access & DEVICE_ACCESS_WRITE) !== 0 && !writable)
    return 'the mirror is writable but the CPU entry is not';
  if ((access & DEVICE_ACCESS_ATOMIC) !== 0 && kind !== PTE_DEVICE_EXCLUSIVE)
    return 'the mirror is ATOMIC but the CPU entry is not device-exclusive';
  return null;
}

/** One schedule's mirror oracle (see the module comment). */
class MirrorOracle implements MmObserver, OracleInstance, TranslationChecker {
  private readonly ctx: OracleContext;
  private readonly active = new ActiveInvalidations();
  /**
   * An invalidation ended since the last check: the reporting mirrors are due too (mirror updates
   * and freed pages are the shared walk's to watch).
   */
  private dirty = true;
  private reported = false;
  /** The verdict of the last translation walk, reported in this oracle's turn. */
  private verdict: string | null = null;
  found = false;
  /** Scratch for the CPU entry a check reads (owned here: no allocation per check). */
  private readonly cpu = new CpuEntry();
  private readonly detachFromHub: () => void;
  private readonly walk: TranslationWalk;
  private readonly leaveWalk: () => void;

  constructor(ctx: OracleContext) {
    this.ctx = ctx;
    this.detachFromHub = attachObserver(ctx.machine, this);
    this.walk = translationWalk(ctx.machine);
    this.leaveWalk = this.walk.subscribe(this);
  }

  /** Why `mirror`'s translation disagrees with the CPU, in words (reads {@link cpu}). */
  private message(when: string, mirror: DeviceMirror, vpn: number, pfn: number, access: number, why: string) {
    const addr = vpn * PAGE_SIZE;
    return `${when}: ${mirror.name} maps ${hex(addr)} to pfn ${pfn} (${accessName(access)}) but the CPU entry of mm ${mirror.mm.id} there is ${describeCpuEntry(this.cpu)}, with no invalidation of ${hex(addr)} in progress: ${why}`;
  }

  private report(message: string): void {
    if (this.reported) return;
    this.reported = true;
    this.found = true;
    this.ctx.violate(NAME, message);
  }

  begin(all: boolean): boolean {
    const due = all || this.dirty;
    this.dirty = false;
    return due;
  }

  visit(mirror: DeviceMirror, vpn: number, pfn: number, access: number, when: string): void {
    if (this.active.covers(mirror.mm, vpn * PAGE_SIZE)) return;
    const why = mirrorEntryMismatch(mirror, vpn, pfn, access, this.cpu);
    if (why === null) return;
    this.verdict = this.message(when, mirror, vpn, pfn, access, why);
    this.found = true;
  }

  /** This oracle's turn at a checking moment: the shared walk's verdict, reported. */
  private check(when: string, all: boolean): void {
    if (this.reported) return;
    this.walk.serve(this, when, all);
    if (this.verdict !== null) this.report(this.verdict);
  }

  invalidateStart(range: MmuNotifierRange): void {
    this.active.start(range.mm, range.start, range.end);
  }

  invalidateEnd(range: MmuNotifierRange): void {
    this.active.end(range.mm, range.start, range.end);
    this.dirty = true;
  }

  deviceAccess(mirror: DeviceMirror, mm: MmStruct, addr: number, pfn: number, write: boolean): void {
    if (this.reported || this.active.covers(mm, addr)) return;
    const vpn = Math.floor(addr / PAGE_SIZE);
    const access = write ? DEVICE_ACCESS_WRITE : 0;
    const why = mirrorEntryMismatch(mirror, vpn, pfn, access, this.cpu);
    // An atomic translation serves the device's reads and writes: only the frame must agree.
    if (why !== null && !why.startsWith('the CPU holds a device-exclusive entry'))
      this.report(this.message(write ? 'device write' : 'device read', mirror, vpn, pfn, access, why));
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

/** The mirror oracle (see the module comment). */
export const mirrorOracle: Oracle = (ctx: OracleContext): OracleInstance => new MirrorOracle(ctx);

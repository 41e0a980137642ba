/**
 * The device-mirror contract: what any device driver that mirrors a process address space tells
 * the machine, so that the race explorer's oracles can judge it as they judge dmirror. A real
 * kernel has no such registry — the device's page table lives in the device — but every SVM
 * driver has the same three things the oracles need:
 *
 * - which address space it mirrors ({@link DeviceMirror.mm});
 * - what its device can reach right now: for each mirrored virtual page, the pfn the device
 *   would read or write through its own page table, and whether it may write or has atomic
 *   (device-exclusive) access ({@link DeviceMirror.forEachTranslation});
 * - when its device actually reads or writes memory, with the bytes ({@link deviceMirrorAccess},
 *   or {@link deviceRead} / {@link deviceWrite}, which copy and report in one call).
 *
 * A driver registers its mirror with {@link deviceMirrorRegister} when it starts mirroring and
 * unregisters it (with {@link deviceMirrorUnregister}) when it stops; dmirror registers every
 * open file. Optionally it reports every change of its device page table with
 * {@link deviceMirrorUpdated}, and says so with {@link DeviceMirror.reportsUpdates}: the oracles
 * then re-check its translations only after something changed, instead of at every preemption
 * point.
 *
 * Everything here only reads simulated state or calls the observer: an unobserved machine pays a
 * branch per report.
 * @module
 */

import { UsageError } from '../sim/errors.ts';
import { PAGE_SIZE } from './constants.ts';
import type { Kernel } from './kernel.ts';
import type { MmStruct } from './mm-struct.ts';

/** Access bit of a translation: the device may write through it. */
export const DEVICE_ACCESS_WRITE = 1;
/**
 * Access bit of a translation: the device holds atomic access (the CPU holds a device-exclusive
 * entry there, made by `make_device_exclusive` for this device).
 */
export const DEVICE_ACCESS_ATOMIC = 2;

/** One device's mirror of one address space (see the module comment). */
export interface DeviceMirror {
  /** How reports name this mirror, e.g. `my-gpu (pid 3)`. */
  readonly name: string;
  /** The mirrored address space. */
  readonly mm: MmStruct;
  /**
   * The owner token of the device's own device-private memory (`pgmap->owner`, the
   * `dev_private_owner` of its `hmm_range_fault` calls). Where the CPU holds a device-private
   * entry of a page with this owner, the device reaches the data in its own memory; a
   * device-private page of any other owner is unreachable for this device. Default: none.
   */
  readonly owner?: unknown;
  /**
   * Calls `visit` for every translation the device can use now: virtual page number `vpn`, the
   * frame `pfn` the device reaches through it, and its access bits ({@link DEVICE_ACCESS_WRITE},
   * {@link DEVICE_ACCESS_ATOMIC}; 0 for read-only). Must not change simulated state.
   */
  forEachTranslation(visit: (vpn: number, pfn: number, access: number) => void): void;
  /**
   * For a device-private page `pfn` of this mirror's owner that the CPU page table names, the
   * frame through which the device reaches its data (dmirror: the backing page in system memory).
   * Default: `pfn` itself.
   */
  devicePrivatePfn?(pfn: number): number;
  /**
   * True when the driver calls {@link deviceMirrorUpdated} after every change of its
   * translations; the oracles then check them only after a change, an invalidation's end or a
   * freed page. Default false: checked at every preemption point.
   */
  readonly reportsUpdates?: boolean;
}

/** Checks the shape of `mirror` for the registration calls. */
function checkMirror(where: string, mirror: DeviceMirror): void {
  if (typeof mirror !== 'object' || mirror === null)
    throw new UsageError(where, 'must be a DeviceMirror object');
  if (typeof mirror.name !== 'string') throw new UsageError(`${where}.name`, 'must be a string');
  if (typeof mirror.mm !== 'object' || mirror.mm === null)
    throw new UsageError(`${where}.mm`, 'must be the mirrored MmStruct');
  if (typeof mirror.forEachTranslation !== 'function')
    throw new UsageError(`${where}.forEachTranslation`, 'must be a function');
}

/**
 * Registers `mirror` with machine `k`: from now on the oracles check its translations against
 * the CPU page table. Registering a mirror twice is a {@link UsageError}.
 */
export function deviceMirrorRegister(k: Kernel, mirror: DeviceMirror): void {
  checkMirror('deviceMirrorRegister(mirror)', mirror);
  if (k.deviceMirrors.includes(mirror))
    throw new UsageError('deviceMirrorRegister(mirror)', `${mirror.name} is already registered`);
  if (mirror.mm.kernel !== k)
    throw new UsageError('deviceMirrorRegister(mirror.mm)', 'belongs to another machine');
  k.deviceMirrors.push(mirror);
}

/**
 * Unregisters `mirror`: the driver stopped mirroring and its device can reach nothing any more,
 * so call it after the last translation went (after the notifier was removed and the device page
 * table torn down). Translations left at this point are reported as a failed assertion — the
 * device could still reach memory that nobody checks — and the mirror is unregistered anyway.
 * No-op when `mirror` is not registered.
 */
export function deviceMirrorUnregister(k: Kernel, mirror: DeviceMirror): void {
  const i = k.deviceMirrors.indexOf(mirror);
  if (i < 0) return;
  k.deviceMirrors.splice(i, 1);
  const o = k.observer;
  if (!o?.kernelAssert) return;
  let left = 0;
  let first = -1;
  mirror.forEachTranslation((vpn) => {
    if (left++ === 0) first = vpn;
  });
  if (left > 0)
    o.kernelAssert(
      `deviceMirrorUnregister: ${mirror.name} still has ${left} translation(s) (the first at 0x${(first * PAGE_SIZE).toString(16)}): its device could still reach memory after it stopped mirroring`,
    );
}

/** The driver changed `mirror`'s translations (a commit of new device page-table entries). */
export function deviceMirrorUpdated(k: Kernel, mirror: DeviceMirror): void {
  const o = k.observer;
  if (o?.mirrorUpdate) o.mirrorUpdate(mirror);
}

/** Checks that `[addr, addr + n)` lies within one page and `pfn` is a frame of `k`. */
function checkAccess(where: string, k: Kernel, addr: number, pfn: number, n: number): void {
  if (!Number.isSafeInteger(addr) || addr < 0) throw new UsageError(`${where}(addr)`, `bad address ${addr}`);
  if (!Number.isSafeInteger(pfn) || pfn <= 0 || pfn >= k.pm.nrFrames)
    throw new UsageError(`${where}(pfn)`, `${pfn} is not a frame of this machine`);
  if ((addr % PAGE_SIZE) + n > PAGE_SIZE)
    throw new UsageError(`${where}`, `${n} bytes at 0x${addr.toString(16)} cross a page boundary`);
}

/**
 * Reports that `mirror`'s device read (`write` false) or wrote `data` at `addr` of the mirrored
 * mm, through its translation naming frame `pfn` (the bytes lie within one page). Call it right
 * where the device copies the bytes, before any preemption point, for every device access; use
 * {@link deviceRead} / {@link deviceWrite} to copy and report at once.
 */
export function deviceMirrorAccess(
  k: Kernel,
  mirror: DeviceMirror,
  addr: number,
  pfn: number,
  write: boolean,
  data: Uint8Array,
): void {
  const o = k.observer;
  if (o?.deviceAccess) o.deviceAccess(mirror, mirror.mm, addr, pfn, write, data);
}

/**
 * The device of `mirror` reads `dst.length` bytes at `addr` (within one page) through its
 * translation naming frame `pfn`, into `dst`, and reports the access.
 */
export function deviceRead(
  k: Kernel,
  mirror: DeviceMirror,
  addr: number,
  pfn: number,
  dst: Uint8Array,
): void {
  checkAccess('deviceRead', k, addr, pfn, dst.length);
  k.pm.readBytes(pfn, addr % PAGE_SIZE, dst, 0, dst.length);
  deviceMirrorAccess(k, mirror, addr, pfn, false, dst);
}

/**
 * The device of `mirror` writes `src` at `addr` (within one page) through its translation naming
 * frame `pfn`, and reports the access.
 */
export function deviceWrite(
  k: Kernel,
  mirror: DeviceMirror,
  addr: number,
  pfn: number,
  src: Uint8Array,
): void {
  checkAccess('deviceWrite', k, addr, pfn, src.length);
  k.pm.writeBytes(pfn, addr % PAGE_SIZE, src, 0, src.length);
  deviceMirrorAccess(k, mirror, addr, pfn, true, src);
}

/**
 * The page lock (`folio_lock` / `folio_unlock` / `folio_wait_locked`), with one machine-wide
 * wait queue standing in for the kernel's hashed page wait queues.
 * @module
 */
import type { Kernel } from './kernel.ts';
import { PG_locked } from './page-flags.ts';

/** `folio_trylock`. */
export function trylockPage(k: Kernel, pfn: number): boolean {
  const head = k.pm.folioHead(pfn);
  const f = k.pm.flags;
  if ((f[head]! & PG_locked) !== 0) return false;
  f[head]! |= PG_locked;
  return true;
}

/** `folio_lock`: may sleep until the holder unlocks. */
export async function lockPage(k: Kernel, pfn: number): Promise<void> {
  const p = k.sched.point('folio_lock');
  if (p) await p;
  const head = k.pm.folioHead(pfn);
  while (!trylockPage(k, head))
    await k.pageWait.waitEvent(() => (k.pm.flags[k.pm.folioHead(pfn)]! & PG_locked) === 0);
}

/** `folio_unlock`: wakes every thread waiting on a page lock. */
export function unlockPage(k: Kernel, pfn: number): void {
  const head = k.pm.folioHead(pfn);
  k.pm.flags[head]! &= ~PG_locked;
  k.pageWait.wakeUpAll();
}

/** True when the folio of `pfn` is locked. */
export function pageLocked(k: Kernel, pfn: number): boolean {
  return (k.pm.flags[k.pm.folioHead(pfn)]! & PG_locked) !== 0;
}

/** `folio_wait_locked`: sleeps until the folio of `pfn` is unlocked (migration_entry_wait). */
export async function waitOnPageLocked(k: Kernel, pfn: number): Promise<void> {
  await k.pageWait.waitEvent(() => (k.pm.flags[k.pm.folioHead(pfn)]! & PG_locked) === 0);
}

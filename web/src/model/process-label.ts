/**
 * How the page names a process: its scenario name and pid, and for a forked child where it came
 * from (`child (pid 2) · child of pid 1 (fork)`), so that two bands with the same mapping name are
 * told apart the way a learner reads them.
 * @module
 */
import type { Region } from './recorder.ts';

/** The label of the process a region belongs to. */
export function processLabel(r: Pick<Region, 'process' | 'pid' | 'parent'>): string {
  const own = r.process === `pid ${r.pid}` ? r.process : `${r.process} (pid ${r.pid})`;
  return r.parent === null ? own : `${own} · child of pid ${r.parent} (fork)`;
}

/** The label of a region's band: process, mapping, size, address (and device file). */
export function bandLabel(r: Region, device: boolean): string {
  const where = `${r.pages} pages @ 0x${r.addr.toString(16)}`;
  return `${processLabel(r)} · ${r.name} · ${where}${device ? ` · ${r.file ?? 'no device file'}` : ''}`;
}

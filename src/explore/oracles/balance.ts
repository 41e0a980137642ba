/**
 * The balance oracle (end of run): after the scenario's teardown everything came back — as many
 * free RAM frames and free huge pages as before setup, no swap slot used, no device page of any
 * dmirror device in use (every chunk's pagemap references dropped), no dmirror file open, no other
 * driver's device mirror still registered, no
 * address space alive (so no notifier subscription either), the page-table pool back to its
 * baseline, no invalidation left in progress, and no lock held (mmap locks, dmirror mutexes and
 * chunk locks). When frames are missing it names the first of them with their refcount, mapcount
 * and flags: a leaked reference or GUP pin, or a page left locked.
 * @module
 */
import type { DmirrorChunk } from '../../devices/dmirror/chunk.ts';
import type { Machine } from '../../machine.ts';
import type { MmuNotifierRange } from '../../mm/mmu-notifier.ts';
import type { MmObserver } from '../../mm/observer.ts';
import { PG_allocated, PG_locked, PG_reserved } from '../../mm/page-flags.ts';
import type { Oracle, OracleContext, OracleInstance } from '../oracle.ts';
import { ActiveInvalidations, hex } from './cpu-view.ts';
import { attachObserver } from './observer-hub.ts';

/** The oracle's name in violations. */
const NAME = 'balance';

/** What is counted before setup and compared after teardown. */
interface Baseline {
  readonly freeFrames: number;
  readonly freeHugePages: number;
  readonly swapInUse: number;
  readonly tables: number;
}

function takeBaseline(m: Machine): Baseline {
  return {
    freeFrames: m.pm.freeFrames,
    freeHugePages: m.hugetlb.freeHugePages,
    swapInUse: m.swap.inUse,
    tables: m.pt.inUse,
  };
}

/** The first few RAM frames still allocated (not reserved), in words, for a leak report. */
function leakedFrames(m: Machine, limit: number): string[] {
  const pm = m.pm;
  const out: string[] = [];
  for (let pfn = 0; pfn < pm.ramFrames && out.length < limit; pfn++) {
    const f = pm.flags[pfn]!;
    if ((f & PG_reserved) !== 0 || (f & PG_allocated) === 0) continue;
    if (pm.folioHead(pfn) !== pfn) continue;
    out.push(
      `pfn ${pfn}${pm.order[pfn] ? ` (order ${pm.order[pfn]})` : ''} refcount ${pm.refcount[pfn]} mapcount ${pm.mapcount[pfn]} flags ${hex(f)}${(f & PG_locked) !== 0 ? ' locked' : ''}`,
    );
  }
  return out;
}

/**
 * Everything that has not come back on machine `m` against `baseline`, in words (empty when
 * balanced). `active` lists the invalidations still in progress, if tracked.
 */
export function balanceProblems(m: Machine, baseline: Baseline, active?: ActiveInvalidations): string[] {
  const out: string[] = [];
  if (m.pm.freeFrames !== baseline.freeFrames) {
    const leaked = leakedFrames(m, 5);
    out.push(
      `${baseline.freeFrames - m.pm.freeFrames} RAM frame(s) not freed (${m.pm.freeFrames} free, ${baseline.freeFrames} before setup)${leaked.length > 0 ? `: ${leaked.join(', ')}` : ''}`,
    );
  }
  if (m.hugetlb.freeHugePages !== baseline.freeHugePages)
    out.push(
      `hugetlb pool has ${m.hugetlb.freeHugePages} free huge pages, ${baseline.freeHugePages} before setup`,
    );
  if (m.swap.inUse !== baseline.swapInUse)
    out.push(`${m.swap.inUse} swap slot(s) in use, ${baseline.swapInUse} before setup`);
  if (m.pt.inUse !== baseline.tables)
    out.push(`page-table pool has ${m.pt.inUse} table(s) in use, ${baseline.tables} before setup`);
  for (const mm of m.mms)
    out.push(
      `mm ${mm.id} still alive (mm_users ${mm.mmUsers}, mm_count ${mm.mmCount}${mm.notifierSubscriptions !== null ? ', notifier subscriptions registered' : ''})`,
    );
  for (const p of m.processes) {
    if (p.mm.mmapLock.isLocked()) out.push(`${p.mm.mmapLock.name} still held`);
  }
  for (const d of m.dmirrorDevices) {
    for (const file of d.mirrors.values())
      out.push(
        `${d.name}: file ${file.id} of pid ${file.process.pid} still open (${file.pt.size} mirror entries)${file.mutex.isLocked() ? ', its mutex held' : ''}`,
      );
    if (d.devmemLock.isLocked()) out.push(`${d.devmemLock.name} still held`);
    for (const chunk of d.devmemChunks as DmirrorChunk[])
      if (chunk.refs !== 0)
        out.push(
          `${d.name}: ${chunk.refs} device page(s) of chunk at pfn ${chunk.pfnFirst} still in use (calloc ${d.calloc}, cfree ${d.cfree})`,
        );
  }
  for (const mirror of m.deviceMirrors) {
    // A dmirror file still open is reported above, as a file.
    if (m.dmirrorDevices.some((d) => [...d.mirrors.values()].includes(mirror as never))) continue;
    let n = 0;
    mirror.forEachTranslation(() => {
      n++;
    });
    out.push(`device mirror ${mirror.name} still registered (${n} translation(s))`);
  }
  if (active !== undefined) for (const r of active.describe()) out.push(`invalidation of ${r} never ended`);
  return out;
}

/**
 * The balance oracle's instance. Its state (the baseline, the invalidations in progress) is in
 * fields, not in variables its hooks close over: the explorer's post-setup snapshot restores
 * fields.
 */
class BalanceOracle implements MmObserver, OracleInstance {
  private readonly baseline: Baseline;
  private readonly active = new ActiveInvalidations();
  readonly detach: () => void;

  constructor(private readonly ctx: OracleContext) {
    this.baseline = takeBaseline(ctx.machine);
    this.detach = attachObserver(ctx.machine, this);
  }

  invalidateStart(range: MmuNotifierRange): void {
    this.active.start(range.mm, range.start, range.end);
  }

  invalidateEnd(range: MmuNotifierRange): void {
    this.active.end(range.mm, range.start, range.end);
  }

  atEnd(): void {
    const problems = balanceProblems(this.ctx.machine, this.baseline, this.active);
    if (problems.length > 0) this.ctx.violate(NAME, `after teardown: ${problems.join('; ')}`);
  }
}

/** The balance oracle (see the module comment). The baseline is taken when it is made, before setup. */
export const balanceOracle: Oracle = (ctx: OracleContext): OracleInstance => new BalanceOracle(ctx);

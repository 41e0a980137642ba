/**
 * Model-based random test of the memory manager (fast-check commands).
 *
 * The real system is one {@link Machine} per run with a few processes. The reference model keeps,
 * per process, its mappings (start, end, prot, kind, backing object, file offset, THP advice) and
 * the contents of its private pages (sparse, by virtual page); shared contents live in one object
 * per shared backing (shmem file of a shared anonymous mapping, or tmp file), by file page. Fork
 * copies the private contents (a COW snapshot) and shares the objects.
 *
 * MADV_FREE is modelled exactly as far as the kernel promises: a page advised FREE and not
 * written since may read as zeros once reclaim ran (MADV_PAGEOUT), or at once if it was out on
 * swap (FREE discards swap entries). Such a page keeps the set of contents it may hold; every
 * observation narrows the set.
 *
 * A CPU access ends at the first page that must fault (SIGSEGV: no VMA or no permission; SIGBUS:
 * beyond the end of the file), with every page before it read or written. An out-of-memory kill
 * is accepted only when no frame is left, and ends the access the same way. MADV_COLLAPSE may
 * fail for want of a huge page or on a page it cannot take (-ENOMEM, -EAGAIN); every other
 * syscall result is predicted exactly (0, the address, or -errno).
 *
 * After every command: the audit of test/model/audit.ts (refcounts, mapcounts, rss, swap_map,
 * page-table pool, rmap, write/protection invariants), the VMA layout against the model (merged
 * where the kernel would merge), the contents of every populated page (present, THP or swap
 * entry) and of every page cache against the model. At the end of a run every process exits, and
 * every frame, swap slot and page table must be free again.
 *
 * hugetlb (private MAP_HUGETLB, a pool of one huge page) follows mainline's reservations
 * (docs/semantics.md): mmap reserves one huge page per huge page mapped (-ENOMEM when the free
 * pages cannot cover every reservation); the mapping process's first fault at an index consumes
 * its reservation; a forked child has none, and every copy-on-write needs a free page no
 * reservation holds (SIGBUS without, except for the owner, which then takes the page away from
 * the children: their later faults there are SIGBUS); unmapping an owner's page restores the
 * reservation when the page is freed; closing a VMA gives back its unused reservations. No split,
 * munmap, mprotect or mremap may cut a huge page (-EINVAL).
 *
 * Machines of 8 MiB (memory runs out), 16 and 32 MiB; swap of 0, 1 or 8 MiB; THP on madvise, and
 * in a second property always.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { Machine } from '../../src/machine.ts';
import {
  HPAGE_PMD_NR,
  MADV_COLLAPSE,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_HUGETLB,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MMAP_MIN_ADDR,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  TASK_SIZE,
  VM_HUGEPAGE,
  VM_HUGETLB,
  VM_NOHUGEPAGE,
  VM_SHARED,
} from '../../src/mm/constants.ts';
import type { SimFile } from '../../src/mm/file.ts';
import { PG_hugetlb } from '../../src/mm/page-flags.ts';
import type { Process } from '../../src/mm/process.ts';
import { PTE_KIND_MASK, PTE_PRESENT, PTE_SWAP } from '../../src/mm/pte.ts';
import { BusError, OutOfMemoryKill, SegmentationFault } from '../../src/mm/signals.ts';
import { EAGAIN, EBADF, EFAULT, EINVAL, ENOMEM } from '../../src/sim/errno.ts';
import { auditKernel, walkMm } from './audit.ts';

const PAGE = PAGE_SIZE;
/** Where hinted and fixed mappings land: 16 MiB of address space, 2 MiB aligned. */
const ARENA = 0x2000_0000;
const ARENA_PAGES = 8 * HPAGE_PMD_NR;
const EEXIST = 17;
const MAX_PROCS = 4;
const ZERO = new Uint8Array(PAGE);

// ---- the model ---------------------------------------------------------------------------------

type Kind = 'anon' | 'shmem' | 'filePrivate' | 'fileShared' | 'hugetlb';
/** Page contents; null reads as zeros. Never mutated once stored. */
type Bytes = Uint8Array | null;

/** A shared backing object: the shmem file of a shared anonymous mapping, or a tmp file. */
interface MObj {
  readonly sim: SimFile;
  readonly size: number;
  readonly pages: Map<number, Uint8Array>;
}

interface MVma {
  start: number;
  end: number;
  prot: number;
  kind: Kind;
  obj: MObj | null;
  /** File page at `start` (file and shmem kinds). */
  pgoff: number;
  /** 0: no advice, 1: MADV_HUGEPAGE, 2: MADV_NOHUGEPAGE. */
  thp: 0 | 1 | 2;
  /** hugetlb: the reserve map of the mapping process's VMAs (HPAGE_RESV_OWNER), else null. */
  resv: MResv | null;
  /** hugetlb: HPAGE_RESV_UNMAPPED (the owner took a page away for its copy-on-write). */
  unmapped: boolean;
}

/** A private hugetlb mapping's reserve map: the huge-page indices whose reservation was used. */
interface MResv {
  readonly consumed: Set<number>;
}

/** A private page: the contents it may hold (one, unless MADV_FREE made it ambiguous). */
interface PState {
  cands: Bytes[];
  /** MADV_FREE given and not written since: reclaim may drop it. */
  lazy: boolean;
  /** PAGEOUT may have put it on swap and nothing touched it since. */
  swapped: boolean;
}

/**
 * A huge page of the hugetlb pool; forked processes share one until a write copies it. `restore`:
 * HPageRestoreReserve, set when an owner unmaps it; its free then gives a reservation back.
 */
type HugePage = { readonly hugePage: true; restore: boolean };

interface MProc {
  readonly p: Process;
  vmas: MVma[];
  /** Private pages (anonymous, hugetlb, and COW copies in private file mappings) by virtual page. */
  priv: Map<number, PState>;
  fds: Map<number, MObj>;
  /** Populated 2 MiB chunks of hugetlb mappings (by address / PMD_SIZE). */
  huge: Map<number, HugePage>;
}

interface World {
  readonly k: Machine;
  procs: MProc[];
  readonly objs: MObj[];
  readonly freeFrames0: number;
  /** Huge pages in the hugetlb pool. */
  readonly hugeNr: number;
  /** resv_huge_pages (may go below zero for a while, as the kernel's unsigned count wraps). */
  resv: number;
}

/** The world of the running sequence (for the model helpers that unmap). */
let W: World;

/** vma_hugecache_offset in the model (relative to the mapping: pgoff 0 at mmap). */
const hugeIdx = (v: MVma, addr: number): number => Math.floor((v.pgoff + (addr - v.start) / PAGE) / 512);

const hex = (n: number): string => `0x${n.toString(16)}`;
const pageAlign = (n: number): number => Math.ceil(n / PAGE) * PAGE;
const isPrivate = (v: MVma): boolean => v.kind === 'anon' || v.kind === 'filePrivate' || v.kind === 'hugetlb';
const fileIndex = (v: MVma, addr: number): number =>
  v.pgoff + (Math.floor(addr / PAGE) * PAGE - v.start) / PAGE;
const eofPages = (o: MObj): number => Math.ceil(o.size / PAGE);

function lookup(p: MProc, addr: number): MVma | undefined {
  return p.vmas.find((v) => v.start <= addr && addr < v.end);
}

function overlapping(p: MProc, start: number, end: number): MVma[] {
  return p.vmas.filter((v) => v.start < end && v.end > start);
}

function isFree(p: MProc, start: number, end: number): boolean {
  return overlapping(p, start, end).length === 0;
}

function hasHole(p: MProc, start: number, end: number): boolean {
  let cursor = start;
  for (const v of overlapping(p, start, end)) {
    if (v.start > cursor) return true;
    cursor = v.end;
  }
  return cursor < end;
}

function insertVma(p: MProc, v: MVma): void {
  p.vmas.push(v);
  p.vmas.sort((a, b) => a.start - b.start);
}

/** A split of a hugetlb VMA must fall on a huge-page boundary (hugetlb_vm_op_split). */
function canSplitAt(p: MProc, addr: number): boolean {
  const v = p.vmas.find((x) => x.start < addr && addr < x.end);
  return v === undefined || v.kind !== 'hugetlb' || addr % PMD_SIZE === 0;
}

function splitAt(p: MProc, addr: number): void {
  const v = p.vmas.find((x) => x.start < addr && addr < x.end);
  if (v === undefined) return;
  insertVma(p, { ...v, start: addr, pgoff: v.pgoff + (addr - v.start) / PAGE });
  v.end = addr;
}

/**
 * Splits at the edges like the kernel's vma split and returns the VMAs inside `[start, end)`, or
 * null (-EINVAL) when an edge cuts a huge page of a hugetlb VMA. As in the kernel, a split at the
 * start stays done when the one at the end is refused.
 */
function isolate(p: MProc, start: number, end: number): MVma[] | null {
  if (overlapping(p, start, end).length === 0) return [];
  if (!canSplitAt(p, start)) return null;
  splitAt(p, start);
  if (!canSplitAt(p, end)) return null;
  splitAt(p, end);
  return overlapping(p, start, end);
}

function statesIn(p: MProc, start: number, end: number): [number, PState][] {
  const out: [number, PState][] = [];
  for (const e of p.priv) if (e[0] * PAGE >= start && e[0] * PAGE < end) out.push(e);
  return out;
}

function dropStates(p: MProc, start: number, end: number): void {
  for (const [vpn] of statesIn(p, start, end)) p.priv.delete(vpn);
}

/** munmap in the model: false (-EINVAL, nothing unmapped) when an edge cuts a huge page. */
function unmapModel(p: MProc, start: number, end: number): boolean {
  if (start >= end) return true;
  const vmas = isolate(p, start, end);
  if (vmas === null) return false;
  dropHuge(p, start, end);
  for (const v of vmas) {
    p.vmas.splice(p.vmas.indexOf(v), 1);
    closeVma(v);
  }
  dropStates(p, start, end);
  return true;
}

/**
 * Forgets the populated hugetlb chunks inside `[start, end)` (`__unmap_hugepage_range`): an
 * owner's page is marked to restore its reservation, whose index gets it back in the map; a
 * page no one maps any more is freed (giving the reservation back if marked).
 */
function dropHuge(p: MProc, start: number, end: number): void {
  for (const [c, h] of [...p.huge])
    if (c * PMD_SIZE >= start && (c + 1) * PMD_SIZE <= end) {
      const v = lookup(p, c * PMD_SIZE);
      p.huge.delete(c);
      if (v?.resv) {
        h.restore = true;
        v.resv.consumed.delete(hugeIdx(v, c * PMD_SIZE));
      }
      if (h.restore && hugeMappers(W, h) === 0) {
        h.restore = false;
        W.resv++;
      }
    }
}

/** hugetlb_vm_op_close: an owner VMA gives back the reservations of its range not used. */
function closeVma(v: MVma): void {
  if (v.resv === null) return;
  const first = hugeIdx(v, v.start);
  const last = hugeIdx(v, v.end);
  let used = 0;
  for (const i of v.resv.consumed) if (i >= first && i < last) used++;
  W.resv -= last - first - used;
  v.resv = null;
}

/** exit_mmap in the model: every VMA zapped, then closed. */
function exitModel(p: MProc): void {
  dropHuge(p, 0, TASK_SIZE);
  for (const v of p.vmas) closeVma(v);
  p.vmas = [];
}

/** Huge pages of the pool in use: the distinct ones any process maps. */
function hugeInUse(w: World): number {
  const pages = new Set<HugePage>();
  for (const p of w.procs) for (const h of p.huge.values()) pages.add(h);
  return pages.size;
}

/** Processes mapping huge page `h`. */
function hugeMappers(w: World, h: HugePage): number {
  let n = 0;
  for (const p of w.procs) for (const x of p.huge.values()) if (x === h) n++;
  return n;
}

/** What a page of `v` may hold. */
function expected(p: MProc, v: MVma, vpn: number): Bytes[] {
  if (isPrivate(v)) {
    const s = p.priv.get(vpn);
    if (s !== undefined) return s.cands;
    if (v.obj === null) return [null];
  }
  return [v.obj!.pages.get(fileIndex(v, vpn * PAGE)) ?? null];
}

/** The signal an access at `addr` must raise, or null. */
function accessFault(p: MProc, addr: number, write: boolean): 'segv' | 'bus' | null {
  const v = lookup(p, addr);
  if (v === undefined) return 'segv';
  if (write ? (v.prot & PROT_WRITE) === 0 : (v.prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) === 0)
    return 'segv';
  if (v.obj !== null && fileIndex(v, addr) >= eofPages(v.obj)) return 'bus';
  return null;
}

function sameBytes(actual: Uint8Array, cand: Bytes, off: number): boolean {
  if (cand === null && actual === ZERO) return true;
  const c = cand ?? ZERO;
  return (
    Buffer.compare(
      Buffer.from(actual.buffer, actual.byteOffset, actual.length),
      Buffer.from(c.buffer, c.byteOffset + off, actual.length),
    ) === 0
  );
}

function isZero(b: Uint8Array): boolean {
  return sameBytes(b, null, 0);
}

function dedupe(cands: Bytes[]): Bytes[] {
  const out: Bytes[] = [];
  for (const c of cands) if (!out.some((o) => sameBytes(c ?? ZERO, o, 0))) out.push(c);
  return out;
}

function describeDiff(actual: Uint8Array, cands: Bytes[], off: number): string {
  const c = cands[0] ?? ZERO;
  let i = 0;
  while (i < actual.length && actual[i] === c[off + i]) i++;
  return `${cands.length} candidate(s); first difference at page offset ${off + i}: got ${actual[i]}, model ${c[off + i]}${
    cands.length > 1 ? ` (or ${(cands[1] ?? ZERO)[off + i]})` : ''
  }`;
}

/** Checks observed bytes of page `vpn` (from `off`) against the model, narrowing ambiguous pages. */
function observe(p: MProc, v: MVma, vpn: number, actual: Uint8Array, off: number, what: string): void {
  const cands = expected(p, v, vpn);
  const ok = cands.filter((c) => sameBytes(actual, c, off));
  if (ok.length === 0)
    throw new Error(
      `${what}: mm ${p.p.pid} page ${hex(vpn * PAGE)} (${v.kind}) differs from the model: ${describeDiff(actual, cands, off)}`,
    );
  const s = p.priv.get(vpn);
  if (s !== undefined && isPrivate(v) && ok.length < s.cands.length) s.cands = ok;
}

function withBytes(base: Bytes, off: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(PAGE);
  if (base !== null) out.set(base);
  out.set(data, off);
  return out;
}

function modelWrite(p: MProc, v: MVma, vpn: number, off: number, data: Uint8Array): void {
  if (isPrivate(v)) {
    const cands = expected(p, v, vpn).map((c) => withBytes(c, off, data));
    p.priv.set(vpn, { cands: dedupe(cands), lazy: false, swapped: false });
  } else {
    const idx = fileIndex(v, vpn * PAGE);
    const o = v.obj!;
    o.pages.set(idx, withBytes(o.pages.get(idx) ?? null, off, data));
  }
}

/** Moves `[oldAddr, +oldSize)` (inside one VMA) to `newAddr`, `newSize` long (mremap's move_vma). */
function moveModel(
  p: MProc,
  oldAddr: number,
  oldSize: number,
  newAddr: number,
  newSize: number,
  dontUnmap: boolean,
): void {
  const olds = isolate(p, oldAddr, oldAddr + oldSize);
  if (olds?.length !== 1) throw new Error(`model: mremap source spans ${olds?.length} VMAs`);
  const old = olds[0]!;
  const moving = statesIn(p, oldAddr, oldAddr + oldSize);
  for (const [vpn] of moving) p.priv.delete(vpn);
  for (const [vpn, s] of moving) p.priv.set(vpn - oldAddr / PAGE + newAddr / PAGE, s);
  // Huge pages move with their page-table entries (the ranges are huge-page aligned).
  const movingHuge = [...p.huge].filter(([c]) => c * PMD_SIZE >= oldAddr && c * PMD_SIZE < oldAddr + oldSize);
  for (const [c] of movingHuge) p.huge.delete(c);
  for (const [c, h] of movingHuge) p.huge.set(c + (newAddr - oldAddr) / PMD_SIZE, h);
  insertVma(p, { ...old, start: newAddr, end: newAddr + newSize });
  if (!dontUnmap) p.vmas.splice(p.vmas.indexOf(old), 1);
}

// ---- checks after every command -------------------------------------------------------------------

function simKind(file: SimFile | null, flags: number): Kind {
  if ((flags & VM_HUGETLB) !== 0) return 'hugetlb';
  if (file === null) return 'anon';
  if ((flags & VM_SHARED) === 0) return 'filePrivate';
  return file.shmem ? 'shmem' : 'fileShared';
}

interface Span {
  start: number;
  end: number;
  prot: number;
  kind: Kind;
  file: number;
  pgoff: number;
  thp: number;
}

/** Adjacent spans with the same attributes (and contiguous file offsets) merged, as vma_merge would. */
function merged(spans: Span[]): string[] {
  const out: Span[] = [];
  for (const s of spans) {
    const last = out[out.length - 1];
    if (
      last !== undefined &&
      last.end === s.start &&
      last.prot === s.prot &&
      last.kind === s.kind &&
      last.file === s.file &&
      last.thp === s.thp &&
      (s.file === 0 || last.pgoff + (last.end - last.start) / PAGE === s.pgoff)
    )
      last.end = s.end;
    else out.push({ ...s });
  }
  return out.map(
    (s) =>
      `[${hex(s.start)}, ${hex(s.end)}) prot ${s.prot} ${s.kind}${s.file === 0 ? '' : ` file ${s.file} pgoff ${s.pgoff}`}${s.thp ? ` thp ${s.thp}` : ''}`,
  );
}

function checkLayout(p: MProc): void {
  const sim = merged(
    p.p.mm.vmas.map((v) => ({
      start: v.start,
      end: v.end,
      prot: v.flags & 7,
      kind: simKind(v.file, v.flags),
      file: v.file?.id ?? 0,
      pgoff: v.pgoff,
      thp: (v.flags & VM_HUGEPAGE) !== 0 ? 1 : (v.flags & VM_NOHUGEPAGE) !== 0 ? 2 : 0,
    })),
  );
  const model = merged(p.vmas.map((v) => ({ ...v, file: v.obj?.sim.id ?? 0 })));
  if (sim.join('\n') !== model.join('\n')) expect(sim, `VMA layout of mm ${p.p.pid}`).toEqual(model);
}

/** Contents of every populated page against the model, and of every live page cache. */
function checkContents(w: World): void {
  const k = w.k;
  const pm = k.pm;
  const frameBytes = (pfn: number): Uint8Array => (pm.hasData(pfn) ? pm.readableBytes(pfn) : ZERO);
  // hugetlb: the pool's use, and which chunks map which huge page, against the model.
  const hugeHead = new Map<HugePage, number>();
  const headHuge = new Map<number, HugePage>();
  if (k.hugetlb.freeHugePages !== w.hugeNr - hugeInUse(w))
    throw new Error(
      `hugetlb pool has ${k.hugetlb.freeHugePages} free pages, the model ${w.hugeNr - hugeInUse(w)}`,
    );
  if (k.hugetlb.resvHugePages !== w.resv)
    throw new Error(`hugetlb pool has ${k.hugetlb.resvHugePages} reservations, the model ${w.resv}`);
  for (const p of w.procs) {
    const seen = new Set<number>();
    const hugeSeen = new Set<number>();
    const check = (vpn: number, actual: Uint8Array): void => {
      seen.add(vpn);
      const v = lookup(p, vpn * PAGE);
      if (v !== undefined) observe(p, v, vpn, actual, 0, 'page tables');
    };
    walkMm(k, p.p.mm, (vpn, level, lo, hi) => {
      const kind = lo & PTE_KIND_MASK;
      if (level === 1) {
        if (kind === PTE_PRESENT) check(vpn, frameBytes(hi));
        else if (kind === PTE_SWAP) check(vpn, k.swap.read(hi) ?? ZERO);
      } else if (level === 2 && kind === PTE_PRESENT) {
        for (let i = 0; i < HPAGE_PMD_NR; i++) check(vpn + i, frameBytes(hi + i));
        if ((pm.flags[hi]! & PG_hugetlb) === 0) return;
        const c = vpn / HPAGE_PMD_NR;
        const h = p.huge.get(c);
        hugeSeen.add(c);
        if (h === undefined)
          throw new Error(`mm ${p.p.pid} maps a huge page at ${hex(c * PMD_SIZE)}, the model none`);
        if ((hugeHead.get(h) ?? hi) !== hi || (headHuge.get(hi) ?? h) !== h)
          throw new Error(`mm ${p.p.pid}: huge page at ${hex(c * PMD_SIZE)} shared other than in the model`);
        hugeHead.set(h, hi);
        headHuge.set(hi, h);
      }
    });
    for (const c of p.huge.keys())
      if (!hugeSeen.has(c)) throw new Error(`mm ${p.p.pid} lost its huge page at ${hex(c * PMD_SIZE)}`);
    // Private pages with nothing mapped: a fault would give zeros, or the page cache's page.
    for (const [vpn] of p.priv) {
      if (seen.has(vpn)) continue;
      const v = lookup(p, vpn * PAGE);
      if (v === undefined)
        throw new Error(`model keeps a private page at ${hex(vpn * PAGE)} outside its VMAs`);
      const actual = v.obj === null ? ZERO : (v.obj.pages.get(fileIndex(v, vpn * PAGE)) ?? ZERO);
      observe(p, v, vpn, actual, 0, 'unpopulated page');
    }
  }
  const refs = new Map<MObj, number>();
  const ref = (o: MObj): void => {
    refs.set(o, (refs.get(o) ?? 0) + 1);
  };
  for (const p of w.procs) {
    for (const o of p.fds.values()) ref(o);
    for (const v of p.vmas) if (v.obj !== null) ref(v.obj);
  }
  for (const o of w.objs) {
    const n = refs.get(o) ?? 0;
    if (o.sim.refs !== n) throw new Error(`file ${o.sim.id} has ${o.sim.refs} references, the model ${n}`);
    if (n === 0) {
      if (o.sim.pages.size !== 0)
        throw new Error(`released file ${o.sim.id} keeps ${o.sim.pages.size} cached pages`);
      continue;
    }
    for (const [idx, pfn] of o.sim.pages) {
      const want = o.pages.get(idx) ?? null;
      if (!sameBytes(frameBytes(pfn), want, 0))
        throw new Error(
          `page cache of file ${o.sim.id} page ${idx} differs from the model: ${describeDiff(pm.readableBytes(pfn), [want], 0)}`,
        );
    }
    for (const [idx, bytes] of o.pages)
      if (!o.sim.pages.has(idx) && !isZero(bytes))
        throw new Error(`file ${o.sim.id} lost page ${idx}: not in the page cache`);
  }
}

function checkWorld(w: World): void {
  auditKernel(w.k);
  for (const p of w.procs) checkLayout(p);
  checkContents(w);
}

// ---- commands -----------------------------------------------------------------------------------

function pickProc(w: World, sel: number): MProc {
  return w.procs[sel % w.procs.length]!;
}

/** Generated bytes: random from a seed, zeros, or one repeated byte. */
function makeData(len: number, seed: number, pattern: number): Uint8Array {
  const out = new Uint8Array(len);
  if (pattern === 1) return out;
  if (pattern === 2) return out.fill((seed & 0xff) | 1);
  let x = seed | 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Signal expected from a CPU access, checked against what was thrown. */
function checkSignal(err: unknown, fault: { type: 'segv' | 'bus'; addr: number } | null, what: string): void {
  if (fault === null) {
    if (err !== undefined) throw err;
    return;
  }
  if (err === undefined) throw new Error(`${what}: expected ${fault.type} at ${hex(fault.addr)}, got none`);
  const cls = fault.type === 'segv' ? SegmentationFault : BusError;
  if (!(err instanceof cls))
    throw new Error(`${what}: expected ${cls.name} at ${hex(fault.addr)}, got ${String(err)}`);
  expect(err.addr, `${what}: faulting address`).toBe(fault.addr);
}

/**
 * A CPU access stops at an out-of-memory kill only when memory is truly exhausted; the access
 * then took effect up to the page that could not be allocated.
 */
function oomStop(w: World, err: unknown, fault: { addr: number } | null): number | null {
  if (!(err instanceof OutOfMemoryKill)) return null;
  if (w.k.pm.freeFrames !== 0)
    throw new Error(`OOM kill with ${w.k.pm.freeFrames} frames free: ${err.message}`);
  if (fault !== null && err.addr > fault.addr)
    throw new Error(`OOM kill past the expected fault: ${err.message}`);
  return err.addr;
}

abstract class Cmd implements fc.AsyncCommand<World, World> {
  check(): boolean {
    return true;
  }
  async run(w: World): Promise<void> {
    await this.exec(w);
    checkWorld(w);
  }
  abstract exec(w: World): Promise<void>;
  abstract toString(): string;
}

interface MmapArgs {
  proc: number;
  kind: number;
  npages: number;
  lenCut: number;
  place: number;
  placePage: number;
  align2M: boolean;
  prot: number;
  populate: boolean;
  huge: boolean;
  reuseFd: number;
  fileSizePages: number;
  fileSizeCut: number;
  offsetPages: number;
  closeFd: boolean;
  invalid: number;
}

const KINDS: Kind[] = ['anon', 'shmem', 'filePrivate', 'fileShared', 'hugetlb'];

class MmapCmd extends Cmd {
  constructor(readonly a: MmapArgs) {
    super();
  }
  toString(): string {
    return `mmap(${JSON.stringify(this.a)})`;
  }
  async exec(w: World): Promise<void> {
    const a = this.a;
    const p = pickProc(w, a.proc);
    const kind = KINDS[a.kind]!;
    const file = kind === 'filePrivate' || kind === 'fileShared';
    let fd = -1;
    let obj: MObj | null = null;
    let created = false;
    let createdFd = -1;
    if (file) {
      const fds = [...p.fds];
      if (a.reuseFd > 0 && fds.length > 0) [fd, obj] = fds[a.reuseFd % fds.length]!;
      else {
        const size = Math.max(1, a.fileSizePages * PAGE - a.fileSizeCut);
        let want = 3;
        while (p.fds.has(want)) want++;
        fd = await p.p.createTmpFile(size);
        expect(fd, 'createTmpFile fd').toBe(want);
        obj = { sim: p.p.fds.get(fd)!.file!, size, pages: new Map() };
        w.objs.push(obj);
        p.fds.set(fd, obj);
        created = true;
        createdFd = fd;
      }
    }
    const hugetlb = kind === 'hugetlb';
    const align = hugetlb ? PMD_SIZE : PAGE;
    let length = a.npages * PAGE - a.lenCut;
    const len = Math.ceil(length / align) * align;
    let addr = 0;
    if (a.place > 0) {
      addr = ARENA + a.placePage * PAGE;
      if (a.align2M) addr = Math.floor(addr / PMD_SIZE) * PMD_SIZE;
    }
    const fixed = a.place === 2;
    const noreplace = a.place === 3;
    let flags =
      (kind === 'shmem' || kind === 'fileShared' ? MAP_SHARED : MAP_PRIVATE) |
      (file ? 0 : MAP_ANONYMOUS) |
      (hugetlb ? MAP_HUGETLB : 0) |
      (fixed ? MAP_FIXED : 0) |
      (noreplace ? MAP_FIXED_NOREPLACE : 0);
    const populate = !hugetlb && a.populate && a.npages <= 64 && w.k.pm.freeFrames > 2 * a.npages + 64;
    if (populate) flags |= MAP_POPULATE;
    let offset = file ? a.offsetPages * PAGE : 0;
    let want: number | null = null;
    switch (a.invalid) {
      case 1:
        length = 0;
        want = -EINVAL;
        break;
      case 2:
        if (file) {
          fd = 1000;
          want = -EBADF;
        }
        break;
      case 3:
        if (file) {
          offset += 100;
          want = -EINVAL;
        }
        break;
      case 4:
        flags &= ~(MAP_PRIVATE | MAP_SHARED);
        want = -EINVAL;
        break;
      case 5:
        addr = ARENA + a.placePage * PAGE + 8;
        flags |= MAP_FIXED;
        want = -EINVAL;
        break;
    }
    // do_mmap's order: alignment of a fixed address, MAP_FIXED_NOREPLACE, the munmap of
    // MAP_FIXED (which cannot cut a huge page), then the hugetlb reservation
    // (hugetlbfs_file_mmap): -ENOMEM when the free pages cannot cover every reservation, the old
    // mapping being gone already.
    if (want === null && (fixed || noreplace) && addr % align !== 0) want = -EINVAL;
    if (want === null && noreplace && !isFree(p, addr, addr + len)) want = -EEXIST;
    if (want === null && fixed && !unmapModel(p, addr, addr + len)) want = -EINVAL;
    const reserves = want === null && hugetlb;
    if (reserves && w.resv + len / PMD_SIZE > w.hugeNr - hugeInUse(w)) want = -ENOMEM;
    const r = await p.p.mmap(addr, length, a.prot, flags, fd, offset);
    if (want !== null) expect(r, 'mmap result').toBe(want);
    else {
      if (fixed || noreplace) expect(r, 'mmap at a fixed address').toBe(addr);
      else {
        const hint = Math.ceil(addr / align) * align;
        expect(r, 'mmap result').toBeGreaterThanOrEqual(MMAP_MIN_ADDR);
        expect(r % align, 'mmap alignment').toBe(0);
        expect(r + len, 'mmap end').toBeLessThanOrEqual(TASK_SIZE);
        expect(isFree(p, r, r + len), `mmap placed at ${hex(r)} over a mapping`).toBe(true);
        if (hint >= MMAP_MIN_ADDR && isFree(p, hint, hint + len))
          expect(r, 'mmap honours a free hint').toBe(hint);
      }
      if (kind === 'shmem') {
        obj = { sim: p.p.mm.vmaLookup(r)!.file!, size: len, pages: new Map() };
        w.objs.push(obj);
      }
      const v: MVma = {
        start: r,
        end: r + len,
        prot: a.prot,
        kind,
        obj,
        pgoff: offset / PAGE,
        thp: 0,
        resv: hugetlb ? { consumed: new Set() } : null,
        unmapped: false,
      };
      if (hugetlb) w.resv += len / PMD_SIZE;
      insertVma(p, v);
      if (populate && kind === 'filePrivate' && (a.prot & PROT_WRITE) !== 0) {
        // MAP_POPULATE write-faults a private writable mapping: COW copies up to the end of file.
        for (let addr2 = r; addr2 < r + len && fileIndex(v, addr2) < eofPages(obj!); addr2 += PAGE)
          p.priv.set(addr2 / PAGE, { cands: expected(p, v, addr2 / PAGE), lazy: false, swapped: false });
      }
      if (a.huge) {
        expect(await p.p.madvise(r, len, MADV_HUGEPAGE), 'madvise(HUGEPAGE) after mmap').toBe(0);
        v.thp = 1;
      }
    }
    if (created && a.closeFd) {
      expect(await p.p.close(createdFd), 'close').toBe(0);
      p.fds.delete(createdFd);
    }
  }
}

/** Pages that hold data in the model (private pages, and pages of shared objects mapped here). */
function hotPages(p: MProc): number[] {
  const out = [...p.priv.keys()];
  for (const v of p.vmas) {
    if (v.obj === null || isPrivate(v)) continue;
    const n = (v.end - v.start) / PAGE;
    for (const idx of v.obj.pages.keys())
      if (idx >= v.pgoff && idx < v.pgoff + n) out.push(v.start / PAGE + idx - v.pgoff);
  }
  return out.sort((x, y) => x - y);
}

/**
 * A range chosen relative to the process's VMAs (or the arena when it has none): somewhere in a
 * VMA (clipped to it or running on), a whole VMA, its first 2 MiB-aligned chunk, or around a page
 * that holds data.
 */
interface RangeArgs {
  vma: number;
  startPermille: number;
  before: number;
  npages: number;
  lenCut: number;
  clip: boolean;
  shape: number;
}

function resolveRange(p: MProc, r: RangeArgs, prefer?: (v: MVma) => boolean): [number, number] {
  if (p.vmas.length === 0) return [ARENA + r.before * PAGE, r.npages * PAGE - r.lenCut];
  const preferred = prefer === undefined ? [] : p.vmas.filter(prefer);
  const vmas = preferred.length > 0 ? preferred : p.vmas;
  const v = vmas[r.vma % vmas.length]!;
  const vp = (v.end - v.start) / PAGE;
  switch (r.shape) {
    case 1:
      return [v.start, v.end - v.start];
    case 2: {
      const c = Math.ceil(v.start / PMD_SIZE) * PMD_SIZE;
      return c + PMD_SIZE <= v.end ? [c, PMD_SIZE] : [v.start, v.end - v.start];
    }
    case 3: {
      const hot = hotPages(p);
      if (hot.length > 0) {
        const vpn = hot[r.vma % hot.length]!;
        return [
          Math.max(MMAP_MIN_ADDR, (vpn - r.before) * PAGE),
          (r.before + 1 + (r.npages % 4)) * PAGE - r.lenCut,
        ];
      }
      return [v.start, v.end - v.start];
    }
    default: {
      const off = Math.floor((r.startPermille * vp) / 1000);
      const s = v.start + off * PAGE - r.before * PAGE;
      const n = r.clip ? Math.min(r.npages, vp - off) : r.npages;
      return [Math.max(s, MMAP_MIN_ADDR), n * PAGE - r.lenCut];
    }
  }
}

const rangeArb = fc.record({
  vma: fc.nat(31),
  startPermille: fc.integer({ min: 0, max: 999 }),
  before: fc.oneof(
    { weight: 3, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) },
  ),
  npages: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 700 })),
  lenCut: fc.oneof(
    { weight: 3, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: PAGE - 1 }) },
  ),
  clip: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  shape: fc.oneof(
    { weight: 3, arbitrary: fc.constant(0) },
    { weight: 3, arbitrary: fc.constant(1) },
    { weight: 1, arbitrary: fc.constant(2) },
    { weight: 3, arbitrary: fc.constant(3) },
  ),
});

class MunmapCmd extends Cmd {
  constructor(
    readonly proc: number,
    readonly r: RangeArgs,
    readonly invalid: number,
  ) {
    super();
  }
  toString(): string {
    return `munmap(${this.proc}, ${JSON.stringify(this.r)}, invalid ${this.invalid})`;
  }
  async exec(w: World): Promise<void> {
    const p = pickProc(w, this.proc);
    const [start, length] = resolveRange(p, this.r);
    if (this.invalid === 1)
      return expect(await p.p.munmap(start + 8, length), 'munmap unaligned').toBe(-EINVAL);
    if (this.invalid === 2) return expect(await p.p.munmap(start, 0), 'munmap of 0 bytes').toBe(-EINVAL);
    const r = await p.p.munmap(start, length);
    expect(r, 'munmap').toBe(unmapModel(p, start, start + pageAlign(length)) ? 0 : -EINVAL);
  }
}

class MprotectCmd extends Cmd {
  constructor(
    readonly proc: number,
    readonly r: RangeArgs,
    readonly prot: number,
    readonly invalid: number,
  ) {
    super();
  }
  toString(): string {
    return `mprotect(${this.proc}, ${JSON.stringify(this.r)}, prot ${this.prot}, invalid ${this.invalid})`;
  }
  async exec(w: World): Promise<void> {
    const p = pickProc(w, this.proc);
    const [start, length] = resolveRange(p, this.r);
    if (this.invalid === 1)
      return expect(await p.p.mprotect(start + 8, length, this.prot), 'mprotect unaligned').toBe(-EINVAL);
    if (this.invalid === 2)
      return expect(await p.p.mprotect(start, length, 0x10), 'mprotect bad prot').toBe(-EINVAL);
    const r = await p.p.mprotect(start, length, this.prot);
    // do_mprotect_pkey: the first VMA must contain `start`; VMAs are changed in order (split off
    // only when their protection changes) until the first hole, which fails the call with ENOMEM
    // after the earlier ones changed.
    const end = start + pageAlign(length);
    let cursor = start;
    for (const v of overlapping(p, start, end)) {
      if (v.start > cursor) break;
      const to = Math.min(end, v.end);
      if (v.prot !== this.prot) {
        const vmas = isolate(p, cursor, to);
        if (vmas === null) return expect(r, 'mprotect cutting a huge page').toBe(-EINVAL);
        for (const x of vmas) x.prot = this.prot;
      }
      cursor = to;
    }
    expect(r, 'mprotect').toBe(cursor < end ? -ENOMEM : 0);
  }
}

const ADVICE = [MADV_DONTNEED, MADV_FREE, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_PAGEOUT, MADV_COLLAPSE];
const ADVICE_NAMES = ['DONTNEED', 'FREE', 'HUGEPAGE', 'NOHUGEPAGE', 'PAGEOUT', 'COLLAPSE'];

/** Runs madvise on the real process and the model; returns nothing, checks the result. */
async function madviseBoth(p: MProc, start: number, length: number, advice: number): Promise<void> {
  const r = await p.p.madvise(start, length, advice);
  const what = `madvise(${hex(start)}, ${length}, ${ADVICE_NAMES[ADVICE.indexOf(advice)]})`;
  const end = start + pageAlign(length);
  if (end === start) return expect(r, what).toBe(0);
  const hole = hasHole(p, start, end);
  const tail = hole ? -ENOMEM : 0;
  const vmas = overlapping(p, start, end);
  const clip = (v: MVma): [number, number] => [Math.max(start, v.start), Math.min(end, v.end)];
  switch (advice) {
    case MADV_DONTNEED:
      for (const v of vmas) {
        let [s, e] = clip(v);
        if (v.kind === 'hugetlb') {
          // madvise_dontneed_free_valid_vma: an aligned start; the end rounds down to a huge page.
          if (s % PMD_SIZE !== 0) return expect(r, what).toBe(-EINVAL);
          e = Math.floor(e / PMD_SIZE) * PMD_SIZE;
          dropHuge(p, s, e);
        }
        if (isPrivate(v)) dropStates(p, s, e);
      }
      return expect(r, what).toBe(tail);
    case MADV_FREE: {
      for (const v of vmas) {
        if (v.kind !== 'anon') return expect(r, what).toBe(-EINVAL);
        for (const [, s] of statesIn(p, ...clip(v))) {
          // Swapped-out pages are discarded at once; the others may go at the next reclaim.
          if (s.swapped) s.cands = dedupe([...s.cands, null]);
          s.swapped = false;
          s.lazy = true;
        }
      }
      return expect(r, what).toBe(tail);
    }
    case MADV_PAGEOUT:
      for (const v of vmas) {
        if (v.kind === 'hugetlb') return expect(r, what).toBe(-EINVAL); // can_madv_lru_vma
        if (v.kind !== 'anon') continue;
        for (const [, s] of statesIn(p, ...clip(v))) {
          if (s.lazy) s.cands = dedupe([...s.cands, null]);
          s.swapped = true;
        }
      }
      return expect(r, what).toBe(tail);
    case MADV_HUGEPAGE:
    case MADV_NOHUGEPAGE: {
      // Only VMAs whose flag changes are split (madvise_update_vma).
      const thp = advice === MADV_HUGEPAGE ? 1 : 2;
      for (const v of overlapping(p, start, end)) {
        if (v.thp === thp) continue;
        const isolated = isolate(p, Math.max(start, v.start), Math.min(end, v.end));
        if (isolated === null) return expect(r, what).toBe(-EINVAL);
        for (const w of isolated) w.thp = thp;
      }
      return expect(r, what).toBe(tail);
    }
    default: {
      // MADV_COLLAPSE: a chunk may fail for want of a huge page or on a page it cannot take.
      const allowed = new Set<number>();
      let stopped = false;
      // Judged per VMA of the machine: the model keeps its mappings unmerged, and the layout check
      // holds the machine's VMAs to them up to merging.
      for (const sv of p.p.mm.vmasIn(start, end)) {
        const v = { ...lookup(p, Math.max(start, sv.start))!, start: sv.start, end: sv.end };
        const [s, e] = clip(v);
        // A VMA that never had an anonymous page has no anon_vma: no written page may be in it.
        if (sv.anonVma === null)
          for (const [vpn, st] of statesIn(p, sv.start, sv.end))
            if (st.cands.some((c) => c !== null))
              throw new Error(`${what}: page ${hex(vpn * PAGE)} holds data in a VMA without an anon_vma`);
        // -EINVAL also for a VMA without an aligned 2 MiB block (thp_vma_suitable_order), without
        // an anon_vma, and for a range strictly inside one block (madvise_collapse's wrapped
        // unsigned count).
        const h = Math.floor((v.end - PMD_SIZE) / PMD_SIZE) * PMD_SIZE;
        const noBlock = h < v.start || h + PMD_SIZE > v.end;
        if (
          v.kind !== 'anon' ||
          v.thp === 2 ||
          noBlock ||
          sv.anonVma === null ||
          Math.ceil(s / PMD_SIZE) > Math.floor(e / PMD_SIZE)
        ) {
          allowed.add(-EINVAL);
          stopped = true;
          break;
        }
        if (Math.ceil(s / PMD_SIZE) * PMD_SIZE + PMD_SIZE <= e) {
          allowed.add(-EAGAIN);
          allowed.add(-ENOMEM);
          // A block whose pages are all mapped read-only (COW-shared after fork, PROT_READ or
          // PROT_NONE): SCAN_PAGE_RO. The model does not track PTE write bits.
          allowed.add(-EINVAL);
        }
      }
      if (!stopped) allowed.add(tail);
      if (!allowed.has(r))
        throw new Error(`${what} returned ${r}, the model allows ${[...allowed].join(', ')}`);
    }
  }
}

class MadviseCmd extends Cmd {
  constructor(
    readonly proc: number,
    readonly r: RangeArgs,
    readonly advice: number,
    readonly invalid: number,
    readonly thenPageout: boolean,
  ) {
    super();
  }
  toString(): string {
    return `madvise(${this.proc}, ${JSON.stringify(this.r)}, ${ADVICE_NAMES[this.advice]}, invalid ${this.invalid}${
      this.thenPageout ? ', then PAGEOUT' : ''
    })`;
  }
  async exec(w: World): Promise<void> {
    const p = pickProc(w, this.proc);
    const advice = ADVICE[this.advice]!;
    // FREE, PAGEOUT and COLLAPSE act on anonymous memory: aim at it mostly.
    const anonOnly = advice === MADV_FREE || advice === MADV_PAGEOUT || advice === MADV_COLLAPSE;
    const [start, length] = resolveRange(
      p,
      this.r,
      anonOnly && this.r.vma % 4 !== 0 ? (v) => v.kind === 'anon' : undefined,
    );
    if (this.invalid === 1)
      return expect(await p.p.madvise(start + 8, length, advice), 'madvise unaligned').toBe(-EINVAL);
    if (this.invalid === 2)
      return expect(await p.p.madvise(start, length, 1234), 'madvise bad advice').toBe(-EINVAL);
    await madviseBoth(p, start, length, advice);
    if (this.thenPageout) await madviseBoth(p, start, length, MADV_PAGEOUT);
  }
}

/** Reclaim of a whole process: MADV_PAGEOUT over each of its VMAs. */
class PageoutCmd extends Cmd {
  constructor(readonly proc: number) {
    super();
  }
  toString(): string {
    return `pageout(${this.proc})`;
  }
  async exec(w: World): Promise<void> {
    const p = pickProc(w, this.proc);
    for (const v of [...p.vmas]) await madviseBoth(p, v.start, v.end - v.start, MADV_PAGEOUT);
  }
}

interface MremapArgs {
  proc: number;
  vma: number;
  offPermille: number;
  lenPermille: number;
  whole: boolean;
  mode: number;
  delta: number;
  flags: number;
  targetPage: number;
  targetAlign: number;
  invalid: number;
}

const MREMAP_FLAGS = [
  0,
  MREMAP_MAYMOVE,
  MREMAP_MAYMOVE | MREMAP_FIXED,
  MREMAP_MAYMOVE | MREMAP_DONTUNMAP,
  MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP,
];

class MremapCmd extends Cmd {
  constructor(readonly a: MremapArgs) {
    super();
  }
  toString(): string {
    return `mremap(${JSON.stringify(this.a)})`;
  }
  async exec(w: World): Promise<void> {
    const a = this.a;
    const p = pickProc(w, a.proc);
    if (p.vmas.length === 0) return;
    const v = p.vmas[a.vma % p.vmas.length]!;
    const vp = (v.end - v.start) / PAGE;
    const offP = a.whole ? 0 : Math.floor((a.offPermille * vp) / 1000);
    const maxOld = vp - offP;
    const oldP = a.whole ? maxOld : Math.min(maxOld, 1 + Math.floor((a.lenPermille * maxOld) / 1000));
    const oldAddr = v.start + offP * PAGE;
    const flags = MREMAP_FLAGS[a.flags]!;
    const dontUnmap = (flags & MREMAP_DONTUNMAP) !== 0;
    let newP = a.mode === 0 ? Math.max(1, oldP - 1 - (a.delta % oldP)) : a.mode === 1 ? oldP : oldP + a.delta;
    if (dontUnmap) newP = oldP;
    const oldSize = oldP * PAGE;
    const newSize = newP * PAGE;
    let newAddr = 0;
    if ((flags & MREMAP_FIXED) !== 0) {
      newAddr = ARENA + a.targetPage * PAGE;
      if (a.targetAlign === 1) newAddr = Math.floor(newAddr / PMD_SIZE) * PMD_SIZE;
      if (a.targetAlign === 2) newAddr = Math.floor(newAddr / PMD_SIZE) * PMD_SIZE + (oldAddr % PMD_SIZE);
    }
    const call = (o: number, os: number, ns: number, f: number, na: number) => p.p.mremap(o, os, ns, f, na);
    switch (a.invalid) {
      case 1:
        return expect(await call(oldAddr + 8, oldSize, newSize, flags, newAddr), 'mremap unaligned').toBe(
          -EINVAL,
        );
      case 2:
        return expect(await call(oldAddr, oldSize, 0, flags, newAddr), 'mremap to 0 bytes').toBe(-EINVAL);
      case 3:
        return expect(await call(oldAddr, oldSize, newSize, MREMAP_FIXED, ARENA), 'mremap FIXED alone').toBe(
          -EINVAL,
        );
      case 4:
        return expect(
          await call(oldAddr, oldSize, oldSize + PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0),
          'mremap DONTUNMAP resizing',
        ).toBe(-EINVAL);
      case 5:
        return expect(await call(MMAP_MIN_ADDR, PAGE, 2 * PAGE, MREMAP_MAYMOVE, 0), 'mremap of a hole').toBe(
          -EFAULT,
        );
      case 6:
        if (lookup(p, v.end) === undefined && v.kind !== 'hugetlb')
          return expect(
            await call(
              oldAddr,
              v.end - oldAddr + PAGE,
              v.end - oldAddr + 2 * PAGE,
              flags & MREMAP_MAYMOVE,
              0,
            ),
            'mremap across the end of a VMA',
          ).toBe(-EFAULT);
        break;
    }
    const r = await call(oldAddr, oldSize, newSize, flags, newAddr);
    const what = `mremap(${hex(oldAddr)}, ${oldSize}, ${newSize}, ${flags}, ${hex(newAddr)})`;
    // Mainline's order: check_mremap_params, align_hugetlb, then mremap_to or mremap_at.
    let os = oldSize;
    let ns = newSize;
    const hugetlb = v.kind === 'hugetlb';
    if (hugetlb) {
      os = Math.ceil(os / PMD_SIZE) * PMD_SIZE;
      ns = Math.ceil(ns / PMD_SIZE) * PMD_SIZE;
      if (oldAddr % PMD_SIZE !== 0 || newAddr % PMD_SIZE !== 0)
        return expect(r, `${what} of hugetlb`).toBe(-EINVAL);
      if (ns > os) return expect(r, `${what} growing hugetlb`).toBe(-EINVAL);
    }
    const align = hugetlb ? PMD_SIZE : PAGE;
    if ((flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) !== 0) {
      // mremap_to
      if (newAddr < oldAddr + os && oldAddr < newAddr + ns)
        return expect(r, `${what} onto itself`).toBe(-EINVAL);
      if ((flags & MREMAP_FIXED) !== 0 && !unmapModel(p, newAddr, newAddr + ns))
        return expect(r, `${what} unmapping part of a huge page`).toBe(-EINVAL);
      if (ns < os) {
        if (!unmapModel(p, oldAddr + ns, oldAddr + os))
          return expect(r, `${what} cutting a huge page`).toBe(-EINVAL);
        os = ns;
      }
      // remap_is_valid: hugetlb VMAs are VM_DONTEXPAND, which DONTUNMAP refuses.
      if (dontUnmap && hugetlb) return expect(r, `${what} DONTUNMAP of hugetlb`).toBe(-EINVAL);
      if ((flags & MREMAP_FIXED) !== 0) expect(r, what).toBe(newAddr);
      else {
        expect(r % align, `${what} alignment`).toBe(0);
        expect(isFree(p, r, r + ns), `${what} moved over a mapping (to ${hex(r)})`).toBe(true);
      }
      moveModel(p, oldAddr, os, r, ns, dontUnmap);
      return;
    }
    // mremap_at
    if (ns <= os) {
      if (!unmapModel(p, oldAddr + ns, oldAddr + os))
        return expect(r, `${what} cutting a huge page`).toBe(-EINVAL);
      return expect(r, what).toBe(oldAddr);
    }
    const delta = ns - os;
    if (oldAddr + os === v.end && isFree(p, v.end, v.end + delta)) {
      expect(r, `${what} grows in place`).toBe(oldAddr);
      v.end += delta;
      return;
    }
    if ((flags & MREMAP_MAYMOVE) === 0) return expect(r, what).toBe(-ENOMEM);
    expect(r, what).toBeGreaterThanOrEqual(MMAP_MIN_ADDR);
    expect(r % align, `${what} alignment`).toBe(0);
    expect(isFree(p, r, r + ns), `${what} moved over a mapping (to ${hex(r)})`).toBe(true);
    moveModel(p, oldAddr, os, r, ns, false);
  }
}

class ForkCmd extends Cmd {
  constructor(
    readonly proc: number,
    readonly fresh: boolean,
  ) {
    super();
  }
  toString(): string {
    return this.fresh ? 'createProcess()' : `fork(${this.proc})`;
  }
  async exec(w: World): Promise<void> {
    if (w.procs.length >= MAX_PROCS) return;
    if (this.fresh) {
      w.procs.push({
        p: await w.k.createProcess(),
        vmas: [],
        priv: new Map(),
        fds: new Map(),
        huge: new Map(),
      });
      return;
    }
    const p = pickProc(w, this.proc);
    const child = await p.p.fork();
    w.procs.push({
      p: child,
      // hugetlb_dup_vma_private: a child has no reservations of its own.
      vmas: p.vmas.map((v) => ({ ...v, resv: null, unmapped: false })),
      priv: new Map([...p.priv].map(([vpn, s]) => [vpn, { ...s }])),
      fds: new Map(p.fds),
      huge: new Map(p.huge),
    });
  }
}

class ExitCmd extends Cmd {
  constructor(readonly proc: number) {
    super();
  }
  toString(): string {
    return `exit(${this.proc})`;
  }
  async exec(w: World): Promise<void> {
    if (w.procs.length <= 1) return;
    const p = pickProc(w, this.proc);
    await p.p.exit();
    exitModel(p);
    w.procs.splice(w.procs.indexOf(p), 1);
  }
}

class CloseCmd extends Cmd {
  constructor(
    readonly proc: number,
    readonly fd: number,
  ) {
    super();
  }
  toString(): string {
    return `close(${this.proc}, ${this.fd})`;
  }
  async exec(w: World): Promise<void> {
    const p = pickProc(w, this.proc);
    const fds = [...p.fds.keys()];
    if (fds.length === 0) return expect(await p.p.close(3), 'close of no descriptor').toBe(-EBADF);
    const fd = fds[this.fd % fds.length]!;
    expect(await p.p.close(fd), 'close').toBe(0);
    p.fds.delete(fd);
  }
}

interface AccessArgs {
  proc: number;
  vma: number;
  offPermille: number;
  inPage: number;
  len: number;
  /** 0: in a VMA, 1: at a page holding data, 2: anywhere in the arena, 3: in a VMA's first 2 MiB chunk. */
  where: number;
  /** A 32-bit load or store (`load32` / `store32`) instead of `len` bytes. */
  word: boolean;
  wildPage: number;
}

function accessAddr(p: MProc, a: AccessArgs): number {
  const hot = a.where === 1 ? hotPages(p) : [];
  if (hot.length > 0) return hot[a.vma % hot.length]! * PAGE + a.inPage;
  if (a.where === 2 || p.vmas.length === 0) return ARENA + a.wildPage * PAGE + a.inPage;
  const firstChunk = (x: MVma): number => Math.ceil(x.start / PMD_SIZE) * PMD_SIZE;
  const huge = a.where === 3 ? p.vmas.filter((x) => firstChunk(x) + PMD_SIZE <= x.end) : [];
  if (huge.length > 0) {
    const v = huge[a.vma % huge.length]!;
    return firstChunk(v) + Math.floor((a.offPermille * HPAGE_PMD_NR) / 1000) * PAGE + a.inPage;
  }
  const v = p.vmas[a.vma % p.vmas.length]!;
  const vp = (v.end - v.start) / PAGE;
  return v.start + Math.floor((a.offPermille * vp) / 1000) * PAGE + a.inPage;
}

interface Chunk {
  a: number;
  vpn: number;
  off: number;
  n: number;
}

interface AccessPlan {
  /** The pages (parts) the access reaches, in order. */
  list: Chunk[];
  /** Where and how it must fault, if it does. */
  fault: { type: 'segv' | 'bus'; addr: number } | null;
  /** What the access does to hugetlb chunks (chunk → first address needing it, what happens). */
  huge: Map<number, HugeTake>;
}

/**
 * A hugetlb fault of an access: a first touch (`reserve`: using the VMA's reservation), a
 * copy-on-write into a new page, or (`steal`) the owner's copy-on-write without a free page,
 * which takes `page` away from the other processes sharing it.
 */
interface HugeTake {
  at: number;
  page: HugePage;
  vma: MVma;
  first: boolean;
  reserve: boolean;
  steal: boolean;
}

/**
 * Splits `[addr, addr+len)` into page chunks up to the first one that must fault. A hugetlb chunk
 * takes a huge page from the pool at its first touch, and at a write while another process
 * shares its page (COW); with the pool empty that fault is SIGBUS.
 */
function chunks(w: World, p: MProc, addr: number, len: number, write: boolean): AccessPlan {
  const list: Chunk[] = [];
  const huge = new Map<number, HugeTake>();
  let free = w.hugeNr - hugeInUse(w);
  let resv = w.resv;
  for (let a = addr; a < addr + len; ) {
    const vpn = Math.floor(a / PAGE);
    const off = a - vpn * PAGE;
    const n = Math.min(PAGE - off, addr + len - a);
    let f = accessFault(p, a, write);
    const v = lookup(p, a);
    if (f === null && v?.kind === 'hugetlb') {
      const c = Math.floor(a / PMD_SIZE);
      const cur = p.huge.get(c);
      const fresh = (): HugePage => ({ hugePage: true, restore: false });
      if (!huge.has(c) && cur === undefined) {
        // hugetlb_no_page → alloc_hugetlb_folio.
        const reserve = v.resv !== null && !v.resv.consumed.has(hugeIdx(v, a));
        if (v.unmapped || free === 0 || (!reserve && free - resv <= 0)) f = 'bus';
        else {
          free--;
          if (reserve) resv--;
          huge.set(c, { at: a, page: fresh(), vma: v, first: true, reserve, steal: false });
        }
      } else if (!huge.has(c) && cur !== undefined && write && hugeMappers(w, cur) > 1) {
        // hugetlb_wp: the copy needs a page no reservation holds (cow_from_owner, or a child).
        if (free > 0 && free - resv > 0) {
          free--;
          huge.set(c, { at: a, page: fresh(), vma: v, first: false, reserve: false, steal: false });
        } else if (v.resv !== null)
          huge.set(c, { at: a, page: cur, vma: v, first: false, reserve: false, steal: true });
        else f = 'bus';
      }
    }
    if (f !== null) return { list, fault: { type: f, addr: a }, huge };
    list.push({ a, vpn, off, n });
    a += n;
  }
  return { list, fault: null, huge };
}

/** The huge pages an access took, for the chunks it reached (before `stop`). */
function takeHuge(p: MProc, plan: AccessPlan, stop: number | null): void {
  for (const [c, t] of plan.huge) {
    if (stop !== null && t.at >= stop) continue;
    if (t.steal) {
      // unmap_ref_private: every other process's VMA without reservations loses the page.
      for (const q of W.procs) {
        if (q === p) continue;
        for (const [c2, h] of [...q.huge]) {
          const qv = lookup(q, c2 * PMD_SIZE);
          if (h !== t.page || qv === undefined || qv.resv !== null) continue;
          q.huge.delete(c2);
          dropStates(q, c2 * PMD_SIZE, (c2 + 1) * PMD_SIZE);
          qv.unmapped = true;
        }
      }
      continue;
    }
    p.huge.set(c, t.page);
    if (t.reserve) W.resv--;
    if (t.first && t.vma.resv !== null) t.vma.resv.consumed.add(hugeIdx(t.vma, t.at));
  }
}

class ReadCmd extends Cmd {
  constructor(readonly a: AccessArgs) {
    super();
  }
  toString(): string {
    return `read(${JSON.stringify(this.a)})`;
  }
  async exec(w: World): Promise<void> {
    const p = pickProc(w, this.a.proc);
    const addr = accessAddr(p, this.a);
    const len = this.a.word ? 4 : this.a.len;
    const plan = chunks(w, p, addr, len, false);
    const { list, fault } = plan;
    let got: Uint8Array | undefined;
    let err: unknown;
    try {
      got = this.a.word ? le32(await p.p.load32(addr)) : await p.p.read(addr, len);
    } catch (e) {
      err = e;
    }
    const what = `${this.a.word ? 'load32' : 'read'}(${hex(addr)}, ${len}) in mm ${p.p.pid}`;
    const stop = oomStop(w, err, fault);
    takeHuge(p, plan, stop);
    const reached = stop === null ? list : list.filter((c) => c.a < stop);
    // Pages the access reached were faulted in: none of them is on swap any more.
    for (const c of reached) {
      const s = p.priv.get(c.vpn);
      if (s !== undefined) s.swapped = false;
    }
    if (stop !== null) return;
    checkSignal(err, fault, what);
    if (fault !== null) return;
    let done = 0;
    for (const c of list) {
      observe(p, lookup(p, c.a)!, c.vpn, got!.subarray(done, done + c.n), c.off, what);
      done += c.n;
    }
  }
}

class WriteCmd extends Cmd {
  constructor(
    readonly a: AccessArgs,
    readonly seed: number,
    readonly pattern: number,
  ) {
    super();
  }
  toString(): string {
    return `write(${JSON.stringify(this.a)}, seed ${this.seed}, pattern ${this.pattern})`;
  }
  async exec(w: World): Promise<void> {
    const p = pickProc(w, this.a.proc);
    const data = makeData(this.a.word ? 4 : this.a.len, this.seed, this.pattern);
    await writeBoth(w, p, accessAddr(p, this.a), data, this.a.word);
  }
}

/** The four bytes of a little-endian 32-bit value. */
function le32(v: number): Uint8Array {
  return new Uint8Array([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24]);
}

/** A CPU write (or a 32-bit store when `word`) on the real process and the model. */
async function writeBoth(w: World, p: MProc, addr: number, data: Uint8Array, word = false): Promise<void> {
  const plan = chunks(w, p, addr, data.length, true);
  const { list, fault } = plan;
  let err: unknown;
  try {
    if (word)
      await p.p.store32(addr, (data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24)) >>> 0);
    else await p.p.write(addr, data);
  } catch (e) {
    err = e;
  }
  const what = `${word ? 'store32' : 'write'}(${hex(addr)}, ${data.length}) in mm ${p.p.pid}`;
  const stop = oomStop(w, err, fault);
  if (stop === null) checkSignal(err, fault, what);
  takeHuge(p, plan, stop);
  // The CPU wrote every page before the faulting one.
  let done = 0;
  for (const c of list) {
    if (stop !== null && c.a >= stop) break;
    modelWrite(p, lookup(p, c.a)!, c.vpn, c.off, data.subarray(done, done + c.n));
    done += c.n;
  }
}

/**
 * The MADV_FREE life cycle over pages that hold data: FREE, maybe write some of them again (which
 * must keep them), then reclaim (which may drop the others).
 */
class LazyFreeCmd extends Cmd {
  constructor(
    readonly proc: number,
    readonly r: RangeArgs,
    readonly rewrite: number,
    readonly seed: number,
  ) {
    super();
  }
  toString(): string {
    return `lazyfree(${this.proc}, ${JSON.stringify(this.r)}, rewrite ${this.rewrite}, seed ${this.seed})`;
  }
  async exec(w: World): Promise<void> {
    const p = pickProc(w, this.proc);
    const [start, length] = resolveRange(p, { ...this.r, shape: 3 }, (v) => v.kind === 'anon');
    await madviseBoth(p, start, length, MADV_FREE);
    const end = start + pageAlign(length);
    for (let a = start, i = 0; a < end; a += PAGE, i++)
      if ((this.rewrite >> i) & 1)
        await writeBoth(w, p, a + (this.seed & 0xfff), makeData(1 + (this.seed % 64), this.seed + i, 0));
    await madviseBoth(p, start, length, MADV_PAGEOUT);
  }
}

// ---- arbitraries --------------------------------------------------------------------------------

const procArb = fc.nat(7);
const invalidArb = (n: number) =>
  fc.oneof(
    { weight: 12, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: n }) },
  );
const protArb = fc.oneof(
  { weight: 10, arbitrary: fc.constant(PROT_READ | PROT_WRITE) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 7 }) },
);

const mmapArb = fc
  .record({
    proc: procArb,
    kind: fc.oneof(
      { weight: 6, arbitrary: fc.constant(0) },
      { weight: 2, arbitrary: fc.constant(1) },
      { weight: 4, arbitrary: fc.constant(2) },
      { weight: 4, arbitrary: fc.constant(3) },
      { weight: 1, arbitrary: fc.constant(4) },
    ),
    npages: fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: 1, max: 16 }) },
      { weight: 2, arbitrary: fc.integer({ min: 17, max: 200 }) },
      { weight: 2, arbitrary: fc.integer({ min: 512, max: 600 }) },
    ),
    lenCut: fc.oneof(
      { weight: 4, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: PAGE - 1 }) },
    ),
    place: fc.oneof(
      { weight: 2, arbitrary: fc.constant(0) },
      { weight: 3, arbitrary: fc.constant(1) },
      { weight: 2, arbitrary: fc.constant(2) },
      { weight: 1, arbitrary: fc.constant(3) },
    ),
    placePage: fc.integer({ min: 0, max: ARENA_PAGES - 1 }),
    align2M: fc.oneof(
      { weight: 2, arbitrary: fc.constant(true) },
      { weight: 1, arbitrary: fc.constant(false) },
    ),
    prot: protArb,
    populate: fc.oneof(
      { weight: 5, arbitrary: fc.constant(false) },
      { weight: 1, arbitrary: fc.constant(true) },
    ),
    huge: fc.boolean(),
    reuseFd: fc.nat(3),
    fileSizePages: fc.integer({ min: 1, max: 600 }),
    fileSizeCut: fc.oneof(
      { weight: 2, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: PAGE - 1 }) },
    ),
    offsetPages: fc.oneof(
      { weight: 3, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 64 }) },
    ),
    closeFd: fc.boolean(),
    invalid: invalidArb(5),
  })
  // Large mappings mostly go to a 2 MiB-aligned hint, where they can hold a THP.
  .map(
    (a) =>
      new MmapCmd(
        a.npages >= HPAGE_PMD_NR && a.place === 0 && a.placePage % 2 === 0
          ? { ...a, place: 1, align2M: true }
          : a,
      ),
  );

const accessArb = fc.record({
  proc: procArb,
  vma: fc.nat(31),
  offPermille: fc.integer({ min: 0, max: 999 }),
  inPage: fc.oneof(
    { weight: 1, arbitrary: fc.constant(0) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: PAGE - 1 }) },
  ),
  len: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 3 * PAGE })),
  where: fc.oneof(
    { weight: 4, arbitrary: fc.constant(0) },
    { weight: 4, arbitrary: fc.constant(1) },
    { weight: 1, arbitrary: fc.constant(2) },
    { weight: 2, arbitrary: fc.constant(3) },
  ),
  wildPage: fc.integer({ min: 0, max: ARENA_PAGES - 1 }),
  word: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

const weightedCommands = [
  { weight: 5, arbitrary: mmapArb },
  {
    weight: 2,
    arbitrary: fc.tuple(procArb, rangeArb, invalidArb(2)).map(([p, r, i]) => new MunmapCmd(p, r, i)),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(procArb, rangeArb, fc.integer({ min: 0, max: 7 }), invalidArb(2))
      .map(([p, r, prot, i]) => new MprotectCmd(p, r, prot, i)),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(procArb, rangeArb, fc.integer({ min: 0, max: ADVICE.length - 1 }), invalidArb(2), fc.boolean())
      .map(([p, r, adv, i, po]) => new MadviseCmd(p, r, adv, i, po)),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({
        proc: procArb,
        vma: fc.nat(31),
        offPermille: fc.integer({ min: 0, max: 999 }),
        lenPermille: fc.integer({ min: 0, max: 999 }),
        whole: fc.boolean(),
        mode: fc.integer({ min: 0, max: 2 }),
        delta: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 600 })),
        flags: fc.integer({ min: 0, max: MREMAP_FLAGS.length - 1 }),
        targetPage: fc.integer({ min: 0, max: ARENA_PAGES - 1 }),
        targetAlign: fc.integer({ min: 0, max: 2 }),
        invalid: invalidArb(6),
      })
      .map((a) => new MremapCmd(a)),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        procArb,
        fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      )
      .map(([p, f]) => new ForkCmd(p, f)),
  },
  { weight: 1, arbitrary: procArb.map((p) => new ExitCmd(p)) },
  { weight: 1, arbitrary: fc.tuple(procArb, fc.nat(7)).map(([p, fd]) => new CloseCmd(p, fd)) },
  { weight: 5, arbitrary: accessArb.map((a) => new ReadCmd(a)) },
  {
    weight: 6,
    arbitrary: fc
      .tuple(
        accessArb,
        fc.integer(),
        fc.oneof(
          { weight: 6, arbitrary: fc.constant(0) },
          { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 }) },
        ),
      )
      .map(([a, seed, pat]) => new WriteCmd(a, seed, pat)),
  },
  { weight: 2, arbitrary: procArb.map((p) => new PageoutCmd(p)) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(procArb, rangeArb, fc.nat(15), fc.nat())
      .map(([p, r, rw, seed]) => new LazyFreeCmd(p, r, rw, seed)),
  },
];

const commandArb: fc.Arbitrary<Cmd> = fc.oneof(...weightedCommands);

// ---- the property -------------------------------------------------------------------------------

const MIB = 1024 * 1024;

interface Config {
  memoryMiB: number;
  swapMiB: number;
  procs: number;
  thp: 'madvise' | 'always';
}

async function newWorld(cfg: Config): Promise<World> {
  const k = new Machine({
    memory: cfg.memoryMiB * MIB,
    swap: cfg.swapMiB * MIB,
    hugetlbPages: 1,
    thp: cfg.thp,
  });
  const w: World = {
    k,
    procs: [],
    objs: [],
    freeFrames0: k.pm.freeFrames,
    hugeNr: k.hugetlb.nrHugePages,
    resv: 0,
  };
  W = w;
  for (let i = 0; i < cfg.procs; i++)
    w.procs.push({ p: await k.createProcess(), vmas: [], priv: new Map(), fds: new Map(), huge: new Map() });
  return w;
}

/** Every process exits; then nothing may remain allocated. */
async function teardown(w: World): Promise<void> {
  for (const p of [...w.procs]) {
    await p.p.exit();
    exitModel(p);
  }
  w.procs = [];
  const k = w.k;
  auditKernel(k);
  expect(k.mms.size, 'address spaces left (mm_count not dropped)').toBe(0);
  expect(k.pm.freeFrames, 'free frames after every exit').toBe(w.freeFrames0);
  expect(k.swap.inUse, 'swap slots in use after every exit').toBe(0);
  expect(k.pt.inUse, 'page tables in use after every exit').toBe(0);
  expect(k.hugetlb.freeHugePages, 'hugetlb pool').toBe(k.hugetlb.nrHugePages);
  expect(k.hugetlb.resvHugePages, 'hugetlb reservations after every exit').toBe(0);
  expect(w.resv, 'model reservations after every exit').toBe(0);
  for (const o of w.objs) {
    expect(o.sim.refs, `file ${o.sim.id} references`).toBe(0);
    expect(o.sim.pages.size, `file ${o.sim.id} page cache`).toBe(0);
  }
}

const configArb = (thp: Config['thp']) =>
  fc.record({
    memoryMiB: fc.constantFrom(8, 16, 32),
    swapMiB: fc.constantFrom(0, 1, 8),
    procs: fc.integer({ min: 1, max: 2 }),
    thp: fc.constant(thp),
  });

const mmProperty = (thp: Config['thp']) =>
  fc.asyncProperty(
    configArb(thp),
    // A few mappings first, so that the random commands meet populated address spaces.
    fc.array(mmapArb, { minLength: 1, maxLength: 4 }),
    fc.commands([commandArb], { maxCommands: 25, size: 'max' }),
    async (cfg, setup, cmds) => {
      const w = await newWorld(cfg);
      checkWorld(w);
      await fc.asyncModelRun(() => ({ model: w, real: w }), [...setup, ...cmds]);
      await teardown(w);
    },
  );

// MM_MODEL_RUNS and MM_MODEL_SEED override the run count and the seed, to explore further.
const RUNS = Number(process.env.MM_MODEL_RUNS ?? 2000);
const SEED = Number(process.env.MM_MODEL_SEED ?? 0x4d4d);

it('mm model (THP on madvise): 2000 random command sequences keep data, refcounts, rss and swap consistent', async () => {
  await fc.assert(mmProperty('madvise'), { numRuns: RUNS, seed: SEED });
});

it('mm model (THP always): 1000 more sequences with every eligible anonymous fault a THP', async () => {
  await fc.assert(mmProperty('always'), { numRuns: Math.ceil(RUNS / 2), seed: SEED + 1 });
});

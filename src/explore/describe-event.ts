/**
 * One line of an explorer account for a bus event, with the kernel's names where the kernel has
 * them: notifier events (`UNMAP`, `MIGRATE`), system-call flags (`PROT_READ|PROT_WRITE`,
 * `MADV_DONTNEED`) and errnos (`-ENOENT`), rather than their numbers.
 * @module
 */
import {
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
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from '../mm/constants.ts';
import type { MmEvent } from '../mm/events.ts';
import { MMU_NOTIFY_EVENT_NAMES } from '../mm/mmu-notifier.ts';
import { errnoName } from '../sim/errno.ts';

const PROT_BITS: readonly (readonly [number, string])[] = [
  [PROT_READ, 'PROT_READ'],
  [PROT_WRITE, 'PROT_WRITE'],
  [PROT_EXEC, 'PROT_EXEC'],
];
const MAP_BITS: readonly (readonly [number, string])[] = [
  [MAP_SHARED, 'MAP_SHARED'],
  [MAP_PRIVATE, 'MAP_PRIVATE'],
  [MAP_FIXED, 'MAP_FIXED'],
  [MAP_ANONYMOUS, 'MAP_ANONYMOUS'],
  [MAP_NORESERVE, 'MAP_NORESERVE'],
  [MAP_POPULATE, 'MAP_POPULATE'],
  [MAP_HUGETLB, 'MAP_HUGETLB'],
  [MAP_FIXED_NOREPLACE, 'MAP_FIXED_NOREPLACE'],
];
const MADV: Readonly<Record<number, string>> = {
  [MADV_DONTNEED]: 'MADV_DONTNEED',
  [MADV_FREE]: 'MADV_FREE',
  [MADV_HUGEPAGE]: 'MADV_HUGEPAGE',
  [MADV_NOHUGEPAGE]: 'MADV_NOHUGEPAGE',
  [MADV_PAGEOUT]: 'MADV_PAGEOUT',
  [MADV_COLLAPSE]: 'MADV_COLLAPSE',
};

/** `PROT_READ|PROT_WRITE`; unknown bits stay as a hex remainder. */
function bits(v: number, names: readonly (readonly [number, string])[], none: string): string {
  const parts: string[] = [];
  let rest = v;
  for (const [bit, name] of names) {
    if ((v & bit) !== 0) {
      parts.push(name);
      rest &= ~bit;
    }
  }
  if (rest !== 0) parts.push(`0x${rest.toString(16)}`);
  return parts.length === 0 ? none : parts.join('|');
}

/** The arguments of a system call, each by its kernel meaning. */
function syscallArgs(name: string, args: readonly number[]): string[] {
  const shown = args.map(hex);
  if ((name === 'mmap' || name === 'mprotect') && args.length > 2)
    shown[2] = bits(args[2]!, PROT_BITS, 'PROT_NONE');
  if (name === 'mmap' && args.length > 3) shown[3] = bits(args[3]!, MAP_BITS, '0');
  if (name === 'madvise' && args.length > 2) shown[2] = MADV[args[2]!] ?? String(args[2]);
  return shown;
}

/** A result: an address in hex, a negative errno by name, a small count in decimal. */
function result(v: number): string {
  return v < 0 ? errnoName(v) : hex(v);
}

/** One line for a bus event. */
export function describeEvent(e: MmEvent): string {
  switch (e.type) {
    case 'fault':
      return `fault mm ${e.mm} ${hex(e.addr)} ${e.write ? 'write' : 'read'} → ${e.result}`;
    case 'invalidate_start':
    case 'invalidate_end': {
      const r = e.range;
      const event = MMU_NOTIFY_EVENT_NAMES[r.event] ?? `event ${r.event}`;
      return `${e.type} mm ${r.mm.id} [${hex(r.start)}, ${hex(r.end)}) ${event}${r.blockable ? '' : ' non-blockable'}`;
    }
    case 'syscall':
      return `${e.name}(${syscallArgs(e.name, e.args).join(', ')}) mm ${e.mm} → ${result(e.result)}`;
    case 'counter':
      return `counter ${e.name} = ${e.value}`;
    case 'span':
      return `${e.phase === 'B' ? 'begin' : 'end'} ${e.name}${describeArgs(e.args)}`;
    case 'instant':
      return `${e.name}${describeArgs(e.args)}`;
  }
}

/** `key=value` pairs; a negative `ret` or `result` is an errno and shown by name. */
function describeArgs(args: Record<string, unknown> | undefined): string {
  if (args === undefined) return '';
  const parts: string[] = [];
  for (const k in args) {
    const v = args[k];
    const text =
      typeof v === 'number' ? ((k === 'ret' || k === 'result') && v < 0 ? errnoName(v) : hex(v)) : String(v);
    parts.push(`${k}=${text}`);
  }
  return parts.length === 0 ? '' : ` ${parts.join(' ')}`;
}

/** Addresses and other large numbers in hex, small ones (lengths, results, errnos) in decimal. */
function hex(n: number): string {
  return Number.isInteger(n) && n >= 0x10000 ? `0x${n.toString(16)}` : String(n);
}

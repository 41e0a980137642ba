/**
 * Compiles a scenario into a program of `kernel/runner/hmmsim-runner.c`, the runner that executes
 * the scenario's sequential steps on the real kernel (the line format is described at the top of
 * that file). Steps the runner cannot express are refused with a {@link ProgramRefusal} naming
 * the step: concurrent threads, swap, and commands 6.12's test_hmm does not have.
 * @module
 */
import { MAP_ANONYMOUS, PAGE_SIZE } from '../../mm/constants.ts';
import {
  actingProcess,
  DMIRROR_COMMANDS,
  fallocateModeOf,
  MADVISE_ADVICE,
  mapFlagsOf,
  mremapFlagsOf,
  protOf,
  stepRange,
} from '../scenario/constants.ts';
import { parseSize } from '../scenario/schema.ts';
import type { MmapFields, Pattern, PatternSpec, ScenarioDoc, SourceRef, Step } from '../scenario/types.ts';
import { mappingPages } from '../scenario/validate.ts';

/** A step the kernel runner cannot express. */
export class ProgramRefusal extends Error {
  override readonly name = 'ProgramRefusal';
  constructor(
    readonly file: string,
    readonly source: SourceRef,
    readonly detail: string,
  ) {
    super(`${file}:${source.line}: ${source.path}: ${detail}`);
  }
}

/** One compiled step: its id in the program and where it was written. */
export interface ProgramStep {
  readonly id: number;
  readonly source: SourceRef;
  readonly op: string;
}

/** A compiled scenario. */
export interface Program {
  readonly name: string;
  /** The program's lines, `scenario` … `end`. */
  readonly text: string;
  /** Every step that gives a result, in order. */
  readonly steps: readonly ProgramStep[];
}

/** The largest range one step may touch (the runner's static buffer). */
export const RUNNER_MAX_PAGES = (64 << 20) / PAGE_SIZE;
const RUNNER_MAX_SLOTS = 16;
const RUNNER_MAX_MAPS = 64;
const RUNNER_MAX_FILES = 16;
const RUNNER_MAX_SEGMENTS = 8;
const RUNNER_MAX_BYTES = 16;

/** `name` made safe for the program's one-word field. */
const word = (name: string): string => name.replace(/[^\w.-]/g, '_') || 'scenario';

/** Compiles `doc`; `firstId` numbers its steps (a batch gives each scenario its own ids). */
export function compileProgram(doc: ScenarioDoc, firstId = 0): Program {
  const refuse = (source: SourceRef, detail: string): never => {
    throw new ProgramRefusal(doc.file, source, detail);
  };
  const top: SourceRef = { path: 'machine', line: 1, column: 1 };
  if (doc.machine.swap !== undefined && parseSize(doc.machine.swap) > 0) {
    refuse(top, 'machine.swap: the kernel guest has no swap device, so swap cannot be compared');
  }
  if ((doc.machine.giganticPages ?? 0) > 0) {
    refuse(
      top,
      'machine.giganticPages: the kernel guest reserves no 1 GiB pages at boot, so they cannot be compared',
    );
  }
  const lines = [
    `scenario ${word(doc.name)} ${doc.machine.thp ?? 'madvise'} ${doc.machine.hugetlbPages ?? 2}`,
  ];
  const steps: ProgramStep[] = [];
  const slots = new Map<string, number>();
  const exited = new Set<string>();
  const maps = new Map<string, { id: number; process: string; pages: number }>();
  const fileMaps = new Set<number>();
  const files = new Map<string, { id: number; slot: number }>();
  const minors = new Map<string, number>();
  let nextMap = 0;
  let nextFile = 0;
  for (const d of doc.devices) {
    const coherent = d.type === 'coherent';
    const used = [...minors.values()];
    const minor = (coherent ? [2, 3] : [0, 1]).find((m) => !used.includes(m));
    if (minor === undefined) refuse(top, `device "${d.name}": no free /dev/hmm_dmirror minor`);
    minors.set(d.name, minor!);
  }
  for (const p of doc.processes) {
    slots.set(p, slots.size);
    lines.push(`process ${slots.get(p)}`);
  }

  const slotOf = (source: SourceRef, name: string): number => {
    const s = slots.get(name);
    if (s === undefined) return refuse(source, `process "${name}" does not exist`);
    if (exited.has(name)) return refuse(source, `process "${name}" has exited`);
    return s;
  };
  const mapOf = (source: SourceRef, name: string) => {
    const m = maps.get(name);
    if (m === undefined) return refuse(source, `mapping "${name}" was never mapped`);
    return m;
  };
  const rangeOf = (source: SourceRef, f: { mapping: string; page?: number; pages?: number }) => {
    const m = mapOf(source, f.mapping);
    const { page, pages } = stepRange(f, m.pages);
    if (pages > RUNNER_MAX_PAGES)
      refuse(source, `a range of ${pages} pages is above the runner's ${RUNNER_MAX_PAGES}`);
    return `${m.id} ${page} ${pages}`;
  };
  const pattern = (source: SourceRef, spec: PatternSpec): string => {
    const segs = (Array.isArray(spec) ? spec : [spec]) as readonly Pattern[];
    if (segs.length > RUNNER_MAX_SEGMENTS)
      refuse(source, `more than ${RUNNER_MAX_SEGMENTS} pattern segments`);
    const out = segs.map((p) => {
      const pages = p.pages ?? -1;
      if ('fill' in p) return `${pages} f ${p.fill}`;
      if ('int32' in p) return `${pages} i ${p.int32} ${p.step ?? 1}`;
      if ('pageInt32' in p) return `${pages} p ${p.pageInt32} ${p.step ?? 1}`;
      if (p.bytes.length > RUNNER_MAX_BYTES)
        refuse(source, `a bytes pattern longer than ${RUNNER_MAX_BYTES}`);
      return `${pages} b ${p.bytes.length} ${p.bytes.join(' ')}`;
    });
    return `${segs.length} ${out.join(' ')}`;
  };
  const emit = (s: { source: SourceRef; op: string }, body: string): void => {
    const id = firstId + steps.length;
    steps.push({ id, source: s.source, op: s.op });
    lines.push(`step ${id} ${body}`);
  };

  const mmap = (s: MmapFields & { source: SourceRef; op: string }): void => {
    const proc = actingProcess(doc, s.process);
    const slot = slotOf(s.source, proc);
    const pages = mappingPages(s);
    if (pages > RUNNER_MAX_PAGES)
      refuse(s.source, `a mapping of ${pages} pages is above the runner's ${RUNNER_MAX_PAGES}`);
    if (nextMap >= RUNNER_MAX_MAPS) refuse(s.source, `more than ${RUNNER_MAX_MAPS} mmaps`);
    const id = nextMap++;
    maps.set(s.name, { id, process: proc, pages });
    if ((mapFlagsOf(s.flags) & MAP_ANONYMOUS) === 0) fileMaps.add(id);
    const prot = protOf(s.prot);
    const flags = mapFlagsOf(s.flags);
    const thp = s.thp === 'hugepage' ? 1 : s.thp === 'nohugepage' ? 2 : 0;
    emit(s, `mmap ${slot} ${id} ${pages} ${prot} ${flags} ${s.align === 'pmd' ? 1 : 0} ${thp}`);
  };

  for (const m of doc.mappings) mmap({ ...m, op: 'mmap' });
  const step = (s: Step): undefined => {
    const procFor = (name: string | undefined, mapping?: string): number =>
      slotOf(
        s.source,
        actingProcess(doc, name, mapping === undefined ? undefined : maps.get(mapping)?.process),
      );
    switch (s.op) {
      case 'mmap':
        mmap(s);
        return undefined;
      case 'munmap':
        emit(s, `munmap ${procFor(s.process, s.mapping)} ${rangeOf(s.source, s)}`);
        return undefined;
      case 'mremap': {
        const slot = procFor(s.process, s.mapping);
        const range = rangeOf(s.source, s);
        const to = s.to === undefined ? '-1 0' : `${mapOf(s.source, s.to.mapping).id} ${s.to.page ?? 0}`;
        if (s.newPages > RUNNER_MAX_PAGES)
          refuse(s.source, `a mapping of ${s.newPages} pages is above the runner's ${RUNNER_MAX_PAGES}`);
        if (nextMap >= RUNNER_MAX_MAPS) refuse(s.source, `more than ${RUNNER_MAX_MAPS} mmaps`);
        const id = nextMap++;
        maps.set(s.name, {
          id,
          process: actingProcess(doc, s.process, maps.get(s.mapping)?.process),
          pages: s.newPages,
        });
        emit(s, `mremap ${slot} ${range} ${id} ${s.newPages} ${mremapFlagsOf(s.flags ?? [])} ${to}`);
        return undefined;
      }
      case 'fallocate': {
        const m = mapOf(s.source, s.mapping);
        if (!fileMaps.has(m.id))
          refuse(
            s.source,
            `mapping "${s.mapping}" has no file (fallocate needs a file mapping made by mmap)`,
          );
        const slot = procFor(s.process, s.mapping);
        const { page, pages } = stepRange(s, m.pages);
        const len = s.length ?? pages * PAGE_SIZE;
        emit(
          s,
          `fallocate ${slot} ${m.id} ${fallocateModeOf(s.mode)} ${page * PAGE_SIZE + (s.offset ?? 0)} ${len}`,
        );
        return undefined;
      }
      case 'vmas':
        emit(s, `vmas ${procFor(s.process, s.mapping)} ${rangeOf(s.source, s)}`);
        return undefined;
      case 'mprotect':
        emit(s, `mprotect ${procFor(s.process, s.mapping)} ${rangeOf(s.source, s)} ${protOf(s.prot)}`);
        return undefined;
      case 'madvise':
        emit(
          s,
          `madvise ${procFor(s.process, s.mapping)} ${rangeOf(s.source, s)} ${MADVISE_ADVICE[s.advice]}`,
        );
        return undefined;
      case 'write':
        emit(
          s,
          `write ${procFor(s.process, s.mapping)} ${rangeOf(s.source, s)} ${pattern(s.source, s.pattern)}`,
        );
        return undefined;
      case 'read':
        emit(s, `read ${procFor(s.process, s.mapping)} ${rangeOf(s.source, s)}`);
        return undefined;
      case 'store32':
      case 'load32': {
        const m = mapOf(s.source, s.mapping);
        const off = (s.page ?? 0) * PAGE_SIZE + (s.offset ?? 0);
        const value = s.op === 'store32' ? ` ${s.value >>> 0}` : '';
        emit(s, `${s.op} ${procFor(s.process, s.mapping)} ${m.id} ${off}${value}`);
        return undefined;
      }
      case 'fork': {
        const parent = actingProcess(doc, s.process);
        const pslot = slotOf(s.source, parent);
        if (slots.has(s.child)) refuse(s.source, `process "${s.child}" already exists`);
        if (slots.size >= RUNNER_MAX_SLOTS) refuse(s.source, `more than ${RUNNER_MAX_SLOTS} processes`);
        slots.set(s.child, slots.size);
        emit(s, `fork ${pslot} ${slots.get(s.child)}`);
        return undefined;
      }
      case 'exit': {
        emit(s, `exit ${slotOf(s.source, s.process)}`);
        exited.add(s.process);
        for (const [name, f] of files) if (f.slot === slots.get(s.process)) files.delete(name);
        return undefined;
      }
      case 'sleep':
        // Virtual time only: sequential steps on the kernel do not depend on it.
        return undefined;
      case 'open': {
        const slot = slotOf(s.source, actingProcess(doc, s.process));
        if (nextFile >= RUNNER_MAX_FILES) refuse(s.source, `more than ${RUNNER_MAX_FILES} opens`);
        const id = nextFile++;
        files.set(s.file, { id, slot });
        emit(s, `open ${slot} ${id} ${minors.get(s.device)}`);
        return undefined;
      }
      case 'close': {
        const f = files.get(s.file) ?? refuse(s.source, `file "${s.file}" is not open`);
        files.delete(s.file);
        emit(s, `close ${f.slot} ${f.id}`);
        return undefined;
      }
      case 'release': {
        const f = files.get(s.file) ?? refuse(s.source, `file "${s.file}" is not open`);
        emit(s, `ioctl ${f.slot} ${f.id} ${DMIRROR_COMMANDS.release.runner}`);
        return undefined;
      }
      case 'setFlags':
        return refuse(
          s.source,
          "setFlags: HMM_DMIRROR_FLAGS does not exist in Linux 6.12's lib/test_hmm.c (it came with THP device migration)",
        );
      case 'threads':
        return refuse(
          s.source,
          'threads: the kernel runner executes sequential steps only (interleavings are not reproducible on a real kernel)',
        );
      default: {
        const f = files.get(s.file) ?? refuse(s.source, `file "${s.file}" is not open`);
        const data = s.op === 'deviceWrite' ? ` ${pattern(s.source, s.pattern)}` : '';
        emit(s, `ioctl ${f.slot} ${f.id} ${DMIRROR_COMMANDS[s.op].runner} ${rangeOf(s.source, s)}${data}`);
      }
    }
  };
  for (const s of doc.steps) step(s);
  lines.push('end');
  return { name: doc.name, text: `${lines.join('\n')}\n`, steps };
}

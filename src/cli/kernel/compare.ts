/**
 * Runs compiled scenarios on the real kernel (one guest boot for a whole batch) and on hmmsim, and
 * compares them step by step: return values, cpages and faults of device commands that succeeded,
 * the data CPU reads and device commands returned (page by page, as FNV-1a hashes), snapshot
 * bytes, loaded values, signals and VMA layouts.
 *
 * hmmsim runs each scenario as Linux 6.12 (`machine.kernelVersion: '6.12'` where the simulator
 * knows that option), leniently: a failing system call or a signal is an outcome to compare, not
 * a failed step.
 * @module
 */

import { PAGE_SIZE } from '../../mm/constants.ts';
import { errnoName } from '../../sim/errno.ts';
import {
  DEFAULT_RUN_STEP_BUDGET,
  protName,
  runScenario,
  type StepResult,
  summarizeProt,
} from '../scenario/run.ts';
import type { MachineSpec, ScenarioDoc, SourceRef } from '../scenario/types.ts';
import type { KernelArtifacts } from './artifacts.ts';
import { compileProgram, type Program } from './program.ts';
import { type BootOptions, bootGuest, type GuestRun } from './qemu.ts';

/** The kernel version the oracle's guest runs; hmmsim follows it where it models differences. */
export const ORACLE_KERNEL_VERSION = '6.12';

/** One step's result as the runner printed it. */
export interface KernelStepResult {
  readonly id: number;
  readonly ret?: number;
  readonly cpages?: number;
  readonly faults?: number;
  /** Pages as run-length coded FNV-1a hashes (see {@link encodePages}). */
  readonly data?: string;
  /** Snapshot bytes in hex. */
  readonly prot?: string;
  readonly value?: number;
  readonly signal?: string;
  /** VMAs over a range, as `vmas` steps report them (`"0+4 rw-p"`). */
  readonly vmas?: readonly string[];
  /** The mmap worked but its THP hint (madvise) failed. */
  readonly hint?: boolean;
  /** Not run: the step's mapping was never mapped (its mmap failed). */
  readonly unmapped?: boolean;
}

/** What the runner printed in one boot. */
export interface RunnerOutput {
  readonly results: ReadonlyMap<number, KernelStepResult>;
  /** `@@E` lines: the runner gave up (a bug in the runner or an impossible program). */
  readonly errors: readonly string[];
  /** Kernel warnings, bugs and oopses in the guest's log. */
  readonly kernelLog: readonly string[];
}

/** Parses the console of a runner boot. */
export function parseRunnerOutput(lines: readonly string[]): RunnerOutput {
  const results = new Map<number, KernelStepResult>();
  const errors: string[] = [];
  const kernelLog: string[] = [];
  for (const line of lines) {
    const at = line.indexOf('@@');
    if (at < 0) continue;
    const l = line.slice(at);
    if (l.startsWith('@@R ')) {
      try {
        const r = JSON.parse(l.slice(4)) as KernelStepResult;
        results.set(r.id, r);
      } catch {
        errors.push(`unreadable result line (mixed with kernel output?): ${l.slice(0, 200)}`);
      }
    } else if (l.startsWith('@@E ')) errors.push(l.slice(4));
    else if (l.startsWith('@@K ')) kernelLog.push(l.slice(4));
  }
  return { results, errors, kernelLog };
}

function fnv1a(data: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ data[i]!, 16777619) >>> 0;
  return h >>> 0;
}

/** Pages as the runner prints them: FNV-1a of each page in hex, runs of equal pages as `h*n`. */
export function encodePages(data: Uint8Array): string {
  const pages = Math.floor(data.length / PAGE_SIZE);
  const parts: string[] = [];
  let i = 0;
  while (i < pages) {
    const h = fnv1a(data, i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
    let j = i + 1;
    while (j < pages && fnv1a(data, j * PAGE_SIZE, (j + 1) * PAGE_SIZE) === h) j++;
    const hex = h.toString(16).padStart(8, '0');
    parts.push(j - i > 1 ? `${hex}*${j - i}` : hex);
    i = j;
  }
  return parts.join(',');
}

function decodePages(s: string): string[] {
  if (s === '') return [];
  return s.split(',').flatMap((p) => {
    const [h, n] = p.split('*');
    return new Array<string>(n === undefined ? 1 : Number(n)).fill(h!);
  });
}

const ZERO_PAGE_HASH = fnv1a(new Uint8Array(PAGE_SIZE), 0, PAGE_SIZE).toString(16).padStart(8, '0');

/** One field of one step on which the kernel and hmmsim disagree. */
export interface Divergence {
  readonly source: SourceRef;
  readonly op: string;
  readonly field: string;
  readonly kernel: string;
  readonly hmmsim: string;
}

/** The comparison of one scenario. */
export interface ScenarioComparison {
  readonly name: string;
  readonly file: string;
  /** Steps compared. */
  readonly steps: number;
  readonly divergences: readonly Divergence[];
  /** Per step: the kernel's and hmmsim's answers, as text, and whether they agree. */
  readonly lines: readonly {
    readonly source: SourceRef;
    readonly op: string;
    readonly kernel: string;
    readonly hmmsim: string;
    readonly agree: boolean;
  }[];
  /** hmmsim stopped early (an expectation failed, or the simulation refused a step). */
  readonly hmmsimFailure: string | null;
}

/** A short text of a result. */
export function describeResult(r: KernelStepResult | StepResult | undefined, op: string): string {
  if (r === undefined) return '(no result)';
  if ('unmapped' in r && r.unmapped) return '(not run: its mapping was never mapped)';
  const parts: string[] = [];
  if (r.signal !== undefined) return r.signal;
  if (r.ret !== undefined) parts.push(`ret ${errnoName(r.ret)}`);
  if (r.ret === 0 || r.ret === undefined) {
    if (r.cpages !== undefined && op !== 'release') parts.push(`cpages ${r.cpages}`);
    if (r.faults !== undefined && op !== 'release') parts.push(`faults ${r.faults}`);
    if (r.value !== undefined) parts.push(`value ${r.value}`);
    const data = r.data === undefined ? undefined : typeof r.data === 'string' ? r.data : encodePages(r.data);
    if (data !== undefined) parts.push(`data ${summarizeData(data)}`);
    const prot = r.prot === undefined ? undefined : typeof r.prot === 'string' ? hexBytes(r.prot) : r.prot;
    if (prot !== undefined) parts.push(`prot ${summarizeProt(prot)}`);
    if (r.vmas !== undefined) parts.push(`VMAs ${r.vmas.join(', ') || 'none'}`);
  }
  return parts.length === 0 ? 'ok' : parts.join(', ');
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function summarizeData(encoded: string): string {
  const pages = decodePages(encoded);
  const zero = pages.filter((h) => h === ZERO_PAGE_HASH).length;
  return `${pages.length} pages (${zero} zero), hash ${fnv1a(new TextEncoder().encode(encoded), 0, encoded.length).toString(16).padStart(8, '0')}`;
}

function dataDifference(kernel: string, hmmsim: Uint8Array): string | null {
  const mine = encodePages(hmmsim);
  if (mine === kernel) return null;
  const k = decodePages(kernel);
  const h = decodePages(mine);
  const i = k.findIndex((x, n) => x !== h[n]);
  const at = i < 0 ? Math.min(k.length, h.length) : i;
  const describe = (hash: string | undefined): string =>
    hash === undefined ? 'no page' : hash === ZERO_PAGE_HASH ? 'zeros' : `fnv ${hash}`;
  const words = new DataView(
    hmmsim.buffer,
    hmmsim.byteOffset + at * PAGE_SIZE,
    Math.min(16, hmmsim.length - at * PAGE_SIZE),
  );
  const first = [0, 4, 8, 12]
    .filter((o) => o + 4 <= words.byteLength)
    .map((o) => words.getUint32(o, true))
    .join(' ');
  const same = h.indexOf(k[at] ?? '');
  const where =
    same >= 0 && same !== at ? `; the kernel's page ${at} holds what hmmsim has at page ${same}` : '';
  return `page ${at} of ${k.length}: kernel ${describe(k[at])}, hmmsim ${describe(h[at])} (hmmsim's first words: ${first})${where}`;
}

/** Compares the kernel's and hmmsim's results of `program`'s steps. */
export function compareScenario(
  doc: ScenarioDoc,
  program: Program,
  kernel: RunnerOutput,
  hmmsim: ReadonlyMap<string, StepResult>,
  hmmsimFailure: string | null,
): ScenarioComparison {
  const divergences: Divergence[] = [];
  const lines: ScenarioComparison['lines'][number][] = [];
  for (const step of program.steps) {
    const k = kernel.results.get(step.id);
    const h = hmmsim.get(step.source.path);
    if (h === undefined && hmmsimFailure !== null) break;
    const diverge = (field: string, kv: string, hv: string): void => {
      divergences.push({ source: step.source, op: step.op, field, kernel: kv, hmmsim: hv });
    };
    const before = divergences.length;
    if (k?.unmapped === true && h?.unmapped === true) {
      // Neither ran it: the mapping's mmap failed on both sides (compared at the mmap).
    } else if (k === undefined || h === undefined || k.unmapped || h.unmapped) {
      diverge(
        'result',
        k === undefined ? '(none: the runner stopped)' : describeResult(k, step.op),
        h === undefined ? '(none)' : describeResult(h, step.op),
      );
    } else {
      const kSig = k.signal ?? 'none';
      const hSig = h.signal ?? 'none';
      if (kSig !== hSig) diverge('signal', kSig, hSig);
      else if (
        k.ret !== undefined &&
        h.ret !== undefined &&
        k.ret !== h.ret &&
        !(step.op === 'open' && k.ret >= 0)
      ) {
        diverge('ret', errnoName(k.ret), errnoName(h.ret));
      } else if (k.ret === undefined || k.ret === 0 || step.op === 'open') {
        if (step.op !== 'release' && k.cpages !== undefined && k.cpages !== h.cpages)
          diverge('cpages', String(k.cpages), String(h.cpages));
        if (step.op !== 'release' && k.faults !== undefined && k.faults !== h.faults)
          diverge('faults', String(k.faults), String(h.faults));
        if (k.value !== undefined && k.value !== h.value) diverge('value', String(k.value), String(h.value));
        if (k.data !== undefined) {
          if (h.data === undefined) diverge('data', summarizeData(k.data), '(none)');
          else {
            const d = dataDifference(k.data, h.data);
            if (d !== null) diverge('data', d, '');
          }
        }
        if (k.vmas !== undefined && k.vmas.join(', ') !== (h.vmas ?? []).join(', '))
          diverge('vmas', k.vmas.join(', ') || 'none', (h.vmas ?? []).join(', ') || 'none');
        if (k.prot !== undefined) {
          const kp = hexBytes(k.prot);
          const hp = h.prot ?? new Uint8Array(0);
          const i = [...kp].findIndex((b, n) => hp[n] !== b);
          if (i >= 0 || kp.length !== hp.length) {
            const at = i < 0 ? kp.length : i;
            diverge(
              'prot',
              `page ${at}: ${protName(kp[at] ?? 0)} (all: ${summarizeProt(kp)})`,
              `${protName(hp[at] ?? 0)} (all: ${summarizeProt(hp)})`,
            );
          }
        }
      }
    }
    lines.push({
      source: step.source,
      op: step.op,
      kernel: describeResult(k, step.op),
      hmmsim: describeResult(h, step.op),
      agree: divergences.length === before,
    });
  }
  return { name: doc.name, file: doc.file, steps: lines.length, divergences, lines, hmmsimFailure };
}

/** The scenario as hmmsim runs it for the comparison: following the oracle's kernel version. */
export function asOracleVersion(doc: ScenarioDoc): ScenarioDoc {
  // `kernelVersion` is read by simulators that model version differences (and ignored otherwise).
  // The guest's /tmp, where the runner creates the files of file mappings, is tmpfs.
  const machine = { ...doc.machine, kernelVersion: ORACLE_KERNEL_VERSION, tmpfs: true } as MachineSpec;
  return { ...doc, machine };
}

/** Runs `doc` on hmmsim; returns every step's result by its path, and the failure that stopped it. */
export async function runOnHmmsim(
  doc: ScenarioDoc,
): Promise<{ results: Map<string, StepResult>; failure: string | null }> {
  const results = new Map<string, StepResult>();
  const r = await runScenario(asOracleVersion(doc), {
    lenient: true,
    stepBudget: DEFAULT_RUN_STEP_BUDGET,
    onResult: (source, result) => results.set(source.path, result),
  });
  const failure = r.failure
    ? `${doc.file}:${r.failure.line}: ${r.failure.path} (${r.failure.op}): ${r.failure.message}`
    : null;
  return { results, failure };
}

/** The script the guest runs for a batch of scenario programs. */
export function runnerJobScript(programFile: string): string {
  return [
    '#!/bin/sh',
    '# No background collapse: khugepaged would change page tables between steps.',
    'echo 3600000 > /sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs',
    'echo 3600000 > /sys/kernel/mm/transparent_hugepage/khugepaged/alloc_sleep_millisecs',
    `/bin/hmmsim-runner ${programFile}`,
    'rc=$?',
    "dmesg | grep -E 'WARNING|BUG|Oops|Call Trace' | sed 's/^/@@K /'",
    'exit $rc',
    '',
  ].join('\n');
}

/** Compiled scenarios run in one boot. */
export interface BatchRun {
  readonly guest: GuestRun;
  readonly output: RunnerOutput;
}

/** Runs the compiled programs on the kernel, all in one guest boot. */
export async function runBatchOnKernel(
  artifacts: KernelArtifacts,
  programs: readonly Program[],
  options: BootOptions = {},
): Promise<BatchRun> {
  const guest = await bootGuest(
    artifacts,
    [
      { path: 'job/run', data: runnerJobScript('/job/programs.txt'), mode: 0o755 },
      { path: 'job/programs.txt', data: programs.map((p) => p.text).join('') },
    ],
    { timeoutMs: 120_000 + programs.length * 10_000, ...options },
  );
  return { guest, output: parseRunnerOutput(guest.lines) };
}

/** Compiles scenarios with consecutive step ids (for one batch). */
export function compileBatch(docs: readonly ScenarioDoc[]): Program[] {
  let next = 0;
  return docs.map((d) => {
    const p = compileProgram(d, next);
    next += p.steps.length;
    return p;
  });
}

/**
 * `hmmsim workload`: runs a workload (a JSON file, a uvm-eval fault CSV, or `--gen`), a sweep of
 * them, a shard of a sweep, merges shards, lists what exists, and runs the validation targets.
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChromeTraceWriter, traceWorkload } from '../../trace/index.ts';
import {
  ACC_PREFETCH,
  ACC_WRITE,
  COST_COMPONENTS,
  EngineError,
  GENERATORS,
  generatorWorkload,
  type Param,
  ParamError,
  PLATFORMS,
  POLICIES,
  type RunObserver,
  type RunResult,
  runWorkload,
  runWorkloadFunctional,
  TraceBuilder,
  VALIDATION_TARGETS,
  type ValidationResult,
  WorkloadError,
  type WorkloadSpec,
} from '../../workload/index.ts';
import { parseSize } from '../../workload/units.ts';
import { CliUsageError } from '../args.ts';
import { type CommandContext, EXIT_FAILED, EXIT_OK } from '../context.ts';
import { Progress } from '../io.ts';
import { ScenarioError } from '../scenario/validate.ts';
import { loadWorkloadFile } from './file.ts';
import { batchPlotSpec, CsvCollector, renderSvg, sweepPlotSpec } from './outputs.ts';

const VALIDATION_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../validation');

const list = (o: unknown): readonly string[] => (Array.isArray(o) ? (o as string[]) : []);

function readText(ctx: CommandContext, file: string, what: string): string {
  try {
    return readFileSync(ctx.resolve(file), 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : err.message;
    throw new CliUsageError(`cannot read ${what} ${file}: ${why}`, 'workload');
  }
}

function writeText(ctx: CommandContext, file: string, text: string, what: string): void {
  try {
    writeFileSync(ctx.resolve(file), text);
  } catch (e) {
    throw new CliUsageError(`cannot write ${what} ${file}: ${(e as Error).message}`, 'workload');
  }
}

/** `K=V` → [K, V]. */
function keyValue(opt: string, text: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0 || eq === text.length - 1)
    throw new CliUsageError(`--${opt} expects KEY=VALUE, got "${text}"`, 'workload');
  return [text.slice(0, eq), text.slice(eq + 1)];
}

/** Reads uvm-eval fault records (`f,addr,…`) into a one-kernel workload replaying them. */
function faultCsvWorkload(text: string, file: string, sms: number): WorkloadSpec {
  const lines = text.split(/\r?\n/);
  const addrs: number[] = [];
  const smOf: number[] = [];
  const flagsOf: number[] = [];
  lines.forEach((line, i) => {
    const cols = line.split(',');
    if (cols[0] !== 'f') return;
    const a = Number.parseInt(cols[1] ?? '', 16);
    const utlb = Number(cols[11] ?? 0);
    const client = Number(cols[9] ?? 0);
    if (!Number.isFinite(a) || !Number.isFinite(utlb) || !Number.isFinite(client)) {
      throw new ScenarioError([
        {
          file,
          line: i + 1,
          column: 1,
          path: '',
          message: 'malformed fault record (expected f,<hex address>,…,<client id>,…,<utlb id>,…)',
        },
      ]);
    }
    addrs.push(a);
    smOf.push((utlb * 2 + (client % 2)) % sms);
    // Access type as uvm_fault_access_type_t: 0 prefetch, 1 read, 2 write, 3–4 atomics.
    const access = Number(cols[4] ?? 1);
    flagsOf.push(access === 0 ? ACC_PREFETCH : access >= 2 ? ACC_WRITE : 0);
  });
  if (addrs.length === 0)
    throw new ScenarioError([
      { file, line: 1, column: 1, path: '', message: 'no fault records (lines starting with "f,")' },
    ]);
  const base = Math.floor(Math.min(...addrs) / 2 ** 21) * 2 ** 21;
  const top = Math.max(...addrs) + 4096;
  const t = new TraceBuilder('replay', sms);
  for (const [i, a] of addrs.entries()) t.push(smOf[i]!, Math.floor((a - base) / 4096), flagsOf[i]!);
  return {
    name: path.basename(file),
    allocations: [{ name: 'trace', size: Math.ceil((top - base) / 2 ** 21) * 2 ** 21, init: 'cpu' }],
    steps: [{ replay: t.build(), array: 'trace' }],
  };
}

/** The runs of a sweep: the cartesian product of every --sweep, in the order given. */
function sweepRuns(sweeps: readonly string[]): Record<string, string>[] {
  let runs: Record<string, string>[] = [{}];
  for (const s of sweeps) {
    const [k, vs] = keyValue('sweep', s);
    const values = vs.split(',').filter((x) => x !== '');
    if (values.length === 0) throw new CliUsageError(`--sweep ${k}= has no values`, 'workload');
    runs = runs.flatMap((r) => values.map((v) => ({ ...r, [k]: v })));
  }
  return runs;
}

function parseShard(text: string | undefined): { i: number; n: number } | null {
  if (text === undefined) return null;
  const m = /^(\d+)\/(\d+)$/.exec(text);
  if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) {
    throw new CliUsageError(`--shard expects I/N with 0 ≤ I < N (e.g. 0/4), got "${text}"`, 'workload');
  }
  return { i: Number(m[1]), n: Number(m[2]) };
}

const us = (ns: number): string => `${(ns / 1000).toFixed(1)} µs`;
const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;

/** The text report of one run. */
export function formatRun(r: RunResult): string[] {
  const c = r.counters;
  const lines = [
    `${r.workload}: ${r.policy} on ${r.platform} (${r.tier} tier), footprint ${(r.footprintBytes / 2 ** 20).toFixed(1)} MiB, device ${(r.deviceMemoryBytes / 2 ** 20).toFixed(1)} MiB (oversubscription ${r.oversub.toFixed(2)}, ${r.oversubMode}), seed ${r.seed}`,
    `time ${(r.timeNs / 1e6).toFixed(3)} ms`,
    '',
    `faults ${c.faults} (coalesced ${c.faultsCoalesced}, duplicates ${c.duplicates}) in ${c.batches} batches: ${c.blocksPerBatch.toFixed(2)} VA blocks/batch, ${c.faultsPerBlock.toFixed(2)} faults/block (SC21 Table 3: ${c.vaBlocksPerBatch.toFixed(2)} VA blocks/batch, ${c.faultsPerVaBlock.toFixed(2)} fetched faults/VA block)`,
    `H2D ${(c.bytesH2D / 2 ** 20).toFixed(1)} MiB (prefetched ${(c.bytesPrefetched / 2 ** 20).toFixed(1)} MiB), D2H ${(c.bytesD2H / 2 ** 20).toFixed(1)} MiB, evictions ${c.evictions}, thrashing detections ${c.thrashingDetected} (throttles ${c.throttles}, pins ${c.pins}), CPU faults ${c.cpuFaults}, replays ${c.replays}, invalidations ${c.invalidations}`,
    `copy engines busy: H2D ${pct(r.linkUtilization.h2d)}, D2H ${pct(r.linkUtilization.d2h)}`,
  ];
  // Remote mappings (access counters, eviction, thrashing pins, memory advice), when there are any.
  if (c.remoteAccesses > 0 || c.remoteMapsOnEviction > 0 || c.adviceRemoteMaps > 0) {
    lines.push(
      `remote accesses ${c.remoteAccesses}, access-counter notifications ${c.accessCounterNotifications} (${c.accessCounterMigrations} pages migrated), pages mapped remotely: on eviction ${c.remoteMapsOnEviction}, by advice ${c.adviceRemoteMaps}`,
    );
  }
  // Read duplication (cudaMemAdviseSetReadMostly), when there was any.
  if (c.readDuplications > 0 || c.duplicateCollapses > 0) {
    lines.push(
      `read duplication: ${c.readDuplications} pages copied to the GPU with the CPU copy kept, ${c.duplicateCollapses} collapsed by writes, ${c.readDuplicatesEvicted} evicted without a copy back`,
    );
  }
  lines.push('', 'time by component:');
  for (const k of COST_COMPONENTS) {
    const v = r.breakdownNs[k];
    if (v > 0) lines.push(`  ${k.padEnd(14)} ${us(v).padStart(16)}  ${pct(v / r.timeNs).padStart(8)}`);
  }
  return lines;
}

/**
 * The targets `workload validate [ID …]` runs: all of them, or those named (V1, v3, …); an
 * unknown name is a usage error listing the known ones.
 */
function chosenTargets(ids: readonly string[]): typeof VALIDATION_TARGETS {
  if (ids.length === 0) return VALIDATION_TARGETS;
  const known = VALIDATION_TARGETS.map((t) => t.target.id);
  for (const id of ids) {
    if (!known.includes(id.toUpperCase()))
      throw new CliUsageError(`unknown validation target "${id}"; known: ${known.join(', ')}`, 'workload');
  }
  const wanted = new Set(ids.map((id) => id.toUpperCase()));
  return VALIDATION_TARGETS.filter((t) => wanted.has(t.target.id));
}

function runValidate(ctx: CommandContext, ids: readonly string[]): Promise<number> {
  const targets = chosenTargets(ids);
  return (async () => {
    const results: ValidationResult[] = [];
    const progress = new Progress(ctx.io);
    for (const { target, expectations } of targets) {
      progress.update(`validating ${target.id}…`, true);
      const file = path.join(VALIDATION_DIR, expectations);
      const expect = JSON.parse(readText(ctx, file, 'expectation file'));
      const r = await target.run(expect);
      progress.done();
      results.push(r);
      if (!ctx.json) {
        ctx.print(`${r.pass ? 'PASS' : 'FAIL'} ${r.id} ${r.title}`);
        ctx.print(`     source: ${r.source}`);
        for (const n of r.notes ?? []) ctx.print(`     ${n}`);
        for (const p of r.points) {
          const ratio = Number.isFinite(p.ratio) ? p.ratio.toFixed(3) : '-';
          ctx.print(
            `  ${p.pass ? 'ok  ' : 'MISS'} ${p.label}: expected ${p.expected}, got ${p.got}, ratio ${ratio} (${p.tolerance})`,
          );
        }
        ctx.print('');
      }
    }
    const ok = results.every((r) => r.pass);
    if (ctx.json) ctx.emit({ command: 'workload validate', ok, targets: results });
    else
      ctx.print(
        `${results.filter((r) => r.pass).length} passed, ${results.filter((r) => !r.pass).length} failed`,
      );
    return ok ? EXIT_OK : EXIT_FAILED;
  })();
}

function paramLines(params: Readonly<Record<string, Param>>): string[] {
  return Object.entries(params).map(
    ([k, p]) =>
      `    ${k} = ${p.value}${p.unit ? ` ${p.unit}` : ''}${p.choices ? ` (${p.choices.join('|')})` : ''}${p.unverified ? ' [unverified]' : ''} — ${p.doc}; source: ${p.source}`,
  );
}

function runList(ctx: CommandContext): number {
  if (ctx.json) {
    ctx.emit({
      command: 'workload --list',
      generators: GENERATORS.map((g) => ({
        name: g.name,
        description: g.description,
        arrays: g.arrays,
        args: g.args,
      })),
      policies: POLICIES,
      platforms: PLATFORMS,
    });
    return EXIT_OK;
  }
  ctx.print('Generators (--gen NAME, --arg K=V):');
  for (const g of GENERATORS) {
    ctx.print(`  ${g.name} [arrays: ${g.arrays.join(', ')}] — ${g.description}`);
    for (const l of paramLines(g.args)) ctx.print(l);
  }
  ctx.print('\nPolicies (--policy NAME; every parameter settable with --set K=V):');
  for (const p of POLICIES) {
    ctx.print(`  ${p.name} — ${p.description}`);
    for (const l of paramLines(p.params)) ctx.print(l);
  }
  ctx.print('\nPlatforms (--platform NAME; every parameter settable with --set K=V):');
  for (const p of PLATFORMS) {
    ctx.print(`  ${p.name} — ${p.description}`);
    for (const l of paramLines(p.params)) ctx.print(l);
  }
  return EXIT_OK;
}

async function runMerge(ctx: CommandContext, files: readonly string[]): Promise<number> {
  if (files.length === 0)
    throw new CliUsageError(
      'workload merge needs the shard files (the --json output of each --shard run)',
      'workload',
    );
  const all: (RunResult & { index?: number })[] = [];
  for (const f of files) {
    let doc: unknown;
    try {
      doc = JSON.parse(readText(ctx, f, 'shard file'));
    } catch (e) {
      if (e instanceof CliUsageError) throw e;
      throw new ScenarioError([
        { file: f, line: 1, column: 1, path: '', message: `not JSON: ${(e as Error).message}` },
      ]);
    }
    const runs = Array.isArray(doc) ? doc : [doc];
    for (const [i, r] of runs.entries()) {
      if (
        typeof r !== 'object' ||
        r === null ||
        typeof (r as RunResult).timeNs !== 'number' ||
        typeof (r as RunResult).counters !== 'object'
      ) {
        throw new ScenarioError([
          {
            file: f,
            line: 1,
            column: 1,
            path: `${i}`,
            message: 'not a workload run (expected the --json output of hmmsim workload)',
          },
        ]);
      }
      all.push(r as RunResult & { index?: number });
    }
  }
  const seen = new Set<number>();
  for (const r of all) {
    if (r.index === undefined) continue;
    if (seen.has(r.index))
      throw new ScenarioError([
        {
          file: files.join(' '),
          line: 1,
          column: 1,
          path: '',
          message: `run ${r.index} appears in two shards`,
        },
      ]);
    seen.add(r.index);
  }
  all.sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
  const total = (all.find((r) => 'sweepSize' in r) as { sweepSize?: number } | undefined)?.sweepSize;
  if (total !== undefined && seen.size !== total) {
    const missing = Array.from({ length: total }, (_, i) => i).filter((i) => !seen.has(i));
    ctx.io.err(
      `hmmsim: warning: ${missing.length} of ${total} runs missing: ${missing.slice(0, 20).join(', ')}\n`,
    );
  }
  await writePlot(ctx, all, null);
  if (ctx.json) ctx.emit(all);
  else for (const r of all) for (const l of [...formatRun(r), '']) ctx.print(l);
  return EXIT_OK;
}

async function writePlot(
  ctx: CommandContext,
  results: readonly RunResult[],
  csv: CsvCollector | null,
): Promise<void> {
  const file = ctx.options.plot as string | undefined;
  if (file === undefined) return;
  const spec =
    results.length > 1 || csv === null
      ? sweepPlotSpec(results)
      : batchPlotSpec(
          `${results[0]!.workload}: batch time vs bytes (${results[0]!.policy}, ${results[0]!.platform})`,
          csv.points,
        );
  writeText(ctx, file, await renderSvg(spec), 'plot');
}

/** The `workload` command. */
export async function runWorkloadCommand(ctx: CommandContext): Promise<number> {
  const o = ctx.options;
  const [first, ...rest] = ctx.positionals;
  if (o.list) return runList(ctx);
  if (first === 'validate') return runValidate(ctx, rest);
  if (first === 'merge') return runMerge(ctx, rest);
  if (rest.length > 0)
    throw new CliUsageError(`unexpected argument "${rest[0]}" (give one workload file)`, 'workload');
  const gen = o.gen as string | undefined;
  if (first !== undefined && gen !== undefined)
    throw new CliUsageError('give a workload file or --gen NAME, not both', 'workload');
  if (first === undefined && gen === undefined)
    throw new CliUsageError('missing FILE.json or --gen NAME (or --list, validate, merge)', 'workload');
  if (gen === undefined && (o.footprint !== undefined || list(o.arg).length > 0)) {
    throw new CliUsageError('--footprint and --arg go with --gen', 'workload');
  }
  const platformOpt = o.platform as string | undefined;
  const platformForSms = PLATFORMS.find((p) => p.name === (platformOpt ?? 'pascal-pcie3'));
  let spec: WorkloadSpec;
  if (gen !== undefined) {
    const fp = o.footprint as string | undefined;
    if (fp === undefined) throw new CliUsageError('--gen needs --footprint SIZE (e.g. 512MiB)', 'workload');
    const bytes = parseSize(fp);
    if (!Number.isFinite(bytes) || bytes <= 0)
      throw new CliUsageError(
        `--footprint: "${fp}" is not a size (use bytes or 4KiB, 12MiB, 4GiB)`,
        'workload',
      );
    const args: Record<string, number> = {};
    const g = GENERATORS.find((x) => x.name === gen);
    for (const a of list(o.arg)) {
      const [k, v] = keyValue('arg', a);
      if (g && !(k in g.args))
        throw new CliUsageError(
          `--arg: generator ${gen} has no argument "${k}" (it has ${Object.keys(g.args).join(', ')})`,
          'workload',
        );
      const n = Number(v);
      if (!Number.isFinite(n))
        throw new CliUsageError(`--arg ${k}: expected a number, got "${v}"`, 'workload');
      args[k] = n;
    }
    try {
      spec = generatorWorkload(gen, bytes, args);
    } catch (e) {
      if (e instanceof WorkloadError) throw new CliUsageError(`--gen: ${e.message}`, 'workload');
      throw e;
    }
  } else if (first!.endsWith('.csv')) {
    spec = faultCsvWorkload(
      readText(ctx, first!, 'fault CSV'),
      first!,
      Math.floor(platformForSms?.params.sms.value ?? 28),
    );
  } else {
    spec = loadWorkloadFile(readText(ctx, first!, 'workload file'), first!);
  }
  const sets = list(o.set).map((s) => keyValue('set', s));
  const runs = sweepRuns(list(o.sweep));
  const shard = parseShard(o.shard as string | undefined);
  const indexed = runs
    .map((r, index) => ({ r, index }))
    .filter(({ index }) => shard === null || index % shard.n === shard.i);
  const single = runs.length === 1;
  if (!single && (o.batches !== undefined || o.faults !== undefined)) {
    throw new CliUsageError('--batches and --faults write one run; drop them or the --sweep', 'workload');
  }
  const csv = new CsvCollector(
    o.batches !== undefined,
    o.faults !== undefined,
    o.plot !== undefined && single,
  );
  const traceFile = o.trace as string | undefined;
  const chunks: string[] = [];
  const writer = traceFile ? new ChromeTraceWriter((c) => chunks.push(c)) : null;
  writer?.begin();
  const progress = new Progress(ctx.io);
  const results: (RunResult & { index: number; sweepSize: number; sweep: Record<string, string> })[] = [];
  for (const [k, { r, index }] of indexed.entries()) {
    const runSets: [string, string][] = [...sets];
    let policy = o.policy as string | undefined;
    let platform = platformOpt;
    let oversub = o.oversub as number | undefined;
    let seed = o.seed as number | undefined;
    for (const [key, val] of Object.entries(r)) {
      if (key === 'policy') policy = val;
      else if (key === 'platform') platform = val;
      else if (key === 'oversub') {
        oversub = Number(val);
        if (!(oversub > 0))
          throw new CliUsageError(`--sweep oversub: "${val}" is not a positive number`, 'workload');
      } else if (key === 'seed') {
        seed = Number(val);
        if (!Number.isInteger(seed) || seed < 0)
          throw new CliUsageError(`--sweep seed: "${val}" is not a seed`, 'workload');
      } else runSets.push([key, val]);
    }
    const observers: RunObserver[] = [];
    if (single) observers.push(csv.observer());
    if (writer)
      observers.push(
        traceWorkload(writer, `${spec.name} ${policy ?? spec.policy ?? 'nvidia-uvm'} ${JSON.stringify(r)}`),
      );
    const label = `[${k + 1}/${indexed.length}] ${Object.entries(r)
      .map(([a, b]) => `${a}=${b}`)
      .join(' ')}`;
    observers.push({
      onProgress: (done, total) =>
        progress.update(`${label} ${((100 * done) / Math.max(1, total)).toFixed(0)} %`),
    });
    progress.update(label, true);
    let result: RunResult;
    try {
      const runOpts = {
        ...(policy !== undefined ? { policy } : {}),
        ...(platform !== undefined ? { platform } : {}),
        ...(oversub !== undefined ? { oversub } : {}),
        ...(o['oversub-mode'] !== undefined
          ? { oversubMode: o['oversub-mode'] as 'shrink' | 'reserve' }
          : {}),
        ...(seed !== undefined ? { seed } : {}),
        set: runSets,
        observer: mergeObservers(observers),
      };
      if (o.functional) {
        // The real kernel replays the run's residency changes in lockstep (src/workload/functional).
        const f = await runWorkloadFunctional(spec, runOpts);
        if (!f.functional.agreed) {
          progress.done();
          const d = f.functional.divergences;
          ctx.io.err(
            `hmmsim workload --functional: the functional tier disagrees with the model at backend call ${d[0]!.call} (${d[0]!.op}, block ${d[0]!.block}):\n${d
              .map((x) => `  ${x.field}: model ${x.recorded}, kernel ${x.functional}`)
              .join('\n')}\n`,
          );
          return EXIT_FAILED;
        }
        result = f;
      } else result = runWorkload(spec, runOpts);
    } catch (e) {
      progress.done();
      if (e instanceof WorkloadError || e instanceof ParamError) {
        if (
          gen !== undefined ||
          first!.endsWith('.csv') ||
          ['policy', 'platform', 'set', 'oversub', 'footprint'].includes(
            (e as WorkloadError).path?.split('.')[0] ?? 'set',
          )
        ) {
          throw new CliUsageError(e.message, 'workload');
        }
        throw new ScenarioError([
          { file: first!, line: 1, column: 1, path: (e as WorkloadError).path ?? '', message: e.message },
        ]);
      }
      if (e instanceof EngineError) throw new CliUsageError(e.message, 'workload');
      throw e;
    }
    progress.done();
    results.push({ ...result, index, sweepSize: runs.length, sweep: r });
  }
  if (writer) {
    writer.end();
    writeText(ctx, traceFile!, chunks.join(''), 'trace');
  }
  if (o.batches !== undefined)
    writeText(ctx, o.batches as string, `${csv.batches.join('\n')}\n`, 'batch CSV');
  if (o.faults !== undefined) writeText(ctx, o.faults as string, `${csv.faults.join('\n')}\n`, 'fault CSV');
  await writePlot(ctx, results, single ? csv : null);
  if (ctx.json) {
    ctx.emit(single && shard === null ? results[0] : results);
  } else {
    for (const res of results) {
      if (!single)
        ctx.print(
          `# run ${res.index}: ${Object.entries(res.sweep)
            .map(([a, b]) => `${a}=${b}`)
            .join(' ')}`,
        );
      for (const l of formatRun(res)) ctx.print(l);
      ctx.print('');
    }
    if (traceFile) ctx.print(`trace written to ${traceFile}: open it in https://ui.perfetto.dev`);
  }
  return EXIT_OK;
}

function mergeObservers(list: readonly RunObserver[]): RunObserver {
  const o: RunObserver = {};
  const pick = <K extends keyof RunObserver>(k: K): void => {
    const fs = list.map((x) => x[k]).filter((f) => f !== undefined) as ((a: never, b?: never) => void)[];
    if (fs.length > 0)
      (o as Record<string, unknown>)[k] = (a: never, b?: never) => {
        for (const f of fs) f(a, b);
      };
  };
  pick('onBatch');
  pick('onTransfer');
  pick('onFault');
  pick('onSpan');
  pick('onSmGroup');
  pick('onProgress');
  return o;
}

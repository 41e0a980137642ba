/**
 * Runs a {@link WorkloadSpec}: lays out the allocations at 2 MiB boundaries, applies the platform,
 * policy and parameter settings, sizes device memory for the oversubscription, and drives the
 * engine through the steps. Returns the result `--json` prints.
 * @module
 */
import { Prng } from '../../sim/prng.ts';
import { type Breakdown, COST_COMPONENTS } from '../cost/cost-model.ts';
import { findPlatform, type PlatformParams } from '../cost/platform.ts';
import { findGenerator, GENERATORS } from '../generators/generators.ts';
import type { KernelTrace } from '../generators/trace.ts';
import { type ParamSet, withParam } from '../params.ts';
import {
  ADVISE_ACCESSED_BY_GPU,
  ADVISE_PREFER_CPU,
  ADVISE_PREFER_GPU,
  ADVISE_READ_MOSTLY,
} from '../policy/advice.ts';
import { findPolicy, type PolicyParams } from '../policy/presets.ts';
import { FastBackend } from '../residency/fast-backend.ts';
import type { Step, WorkloadSpec } from '../spec.ts';
import { BLOCK_PAGES, BLOCK_SHIFT, WL_PAGE_SIZE } from '../units.ts';
import type { ResidencyBackend } from './backend.ts';
import { type Counters, Engine } from './engine.ts';
import type { RunObserver } from './observer.ts';

/** A mistake in a workload or its settings (unknown names, bad values). */
export class WorkloadError extends Error {
  override readonly name = 'WorkloadError';
  /** Dotted path of the offending field, when known (`steps.2.gen`). */
  readonly path: string | undefined;
  constructor(message: string, path?: string) {
    super(message);
    this.path = path;
  }
}

/** Overrides given on the command line. */
export interface RunOptions {
  readonly platform?: string;
  readonly policy?: string;
  readonly set?: readonly (readonly [string, string | number])[];
  readonly oversub?: number;
  readonly oversubMode?: 'shrink' | 'reserve';
  readonly seed?: number;
  readonly observer?: RunObserver;
  /** Builds the residency backend (default: the fast tier). The functional tier passes its own. */
  readonly backend?: (pages: number) => ResidencyBackend;
}

/** What one run produced (`--json`). */
export interface RunResult {
  readonly workload: string;
  readonly policy: string;
  readonly platform: string;
  readonly tier: string;
  readonly seed: number;
  readonly footprintBytes: number;
  readonly deviceMemoryBytes: number;
  readonly oversub: number;
  readonly oversubMode: string;
  /** The run's total virtual time. */
  readonly timeNs: number;
  readonly counters: Counters;
  /** Time per named component. */
  readonly breakdownNs: Breakdown;
  /** Busy fraction of each copy engine over the run. */
  readonly linkUtilization: { readonly h2d: number; readonly d2h: number };
  /** Parameters changed from the presets. */
  readonly settings: Readonly<Record<string, string | number>>;
}

/** Applies `key=value` to whichever of platform or policy has the key. */
export function applySetting(
  platform: PlatformParams,
  policy: PolicyParams,
  key: string,
  value: string | number,
): { platform: PlatformParams; policy: PolicyParams } {
  if (key in platform) return { platform: withParam(platform, key, value, `set ${key}=${value}`), policy };
  if (key in policy) return { platform, policy: withParam(policy, key, value, `set ${key}=${value}`) };
  throw new WorkloadError(`unknown parameter "${key}"`, 'set');
}

/** Every settable parameter name (platform and policy). */
export function settableKeys(): string[] {
  const p = findPlatform('pascal-pcie3')!.params as ParamSet;
  const q = findPolicy('nvidia-uvm')!.params as ParamSet;
  return [...Object.keys(p), ...Object.keys(q)];
}

/** Runs the workload. */
export function runWorkload(spec: WorkloadSpec, opts: RunOptions = {}): RunResult {
  const platformName = opts.platform ?? spec.platform ?? 'pascal-pcie3';
  const policyName = opts.policy ?? spec.policy ?? 'nvidia-uvm';
  const pf = findPlatform(platformName);
  if (!pf) throw new WorkloadError(`unknown platform "${platformName}"`, 'platform');
  const pol = findPolicy(policyName);
  if (!pol) throw new WorkloadError(`unknown policy "${policyName}"`, 'policy');
  let platform = pf.params;
  let policy = pol.params;
  const settings: Record<string, string | number> = {};
  for (const [k, v] of [...Object.entries(spec.set ?? {}), ...(opts.set ?? [])]) {
    try {
      ({ platform, policy } = applySetting(platform, policy, k, v));
    } catch (e) {
      if (e instanceof WorkloadError) throw e;
      throw new WorkloadError((e as Error).message, `set.${k}`);
    }
    settings[k] = v;
  }
  // Layout: every allocation starts at a 2 MiB boundary.
  const first = new Map<string, { first: number; pages: number; bytes: number }>();
  let pages = 0;
  spec.allocations.forEach((a, i) => {
    if (first.has(a.name))
      throw new WorkloadError(`allocation "${a.name}" is declared twice`, `allocations.${i}.name`);
    const n = Math.ceil(a.size / WL_PAGE_SIZE);
    first.set(a.name, { first: pages, pages: n, bytes: a.size });
    pages += Math.ceil(n / BLOCK_PAGES) * BLOCK_PAGES;
  });
  if (pages === 0) throw new WorkloadError('the workload allocates nothing', 'allocations');
  if (pages >= 2 ** 28)
    throw new WorkloadError(
      `the footprint is ${pages} pages; at most 2^28 (1 TiB) are supported`,
      'allocations',
    );
  const footprint = spec.allocations.reduce((s, a) => s + Math.ceil(a.size / WL_PAGE_SIZE) * WL_PAGE_SIZE, 0);
  const oversub = opts.oversub ?? spec.oversub;
  const mode = opts.oversubMode ?? spec.oversubMode ?? 'shrink';
  const deviceBytes = platform.deviceMemory.value;
  let capacityBytes = deviceBytes;
  if (oversub !== undefined) {
    if (!(oversub > 0)) throw new WorkloadError(`oversubscription must be > 0, got ${oversub}`, 'oversub');
    // shrink: device memory = footprint / ratio (UVM Smart -gddr_size); reserve: the rest of the
    // device is taken by cudaMalloc (ARIADNE, uvm_oversubs) — the same capacity for managed data.
    capacityBytes = Math.floor(footprint / oversub);
    if (mode === 'reserve' && capacityBytes > deviceBytes) {
      throw new WorkloadError(
        `oversubscription ${oversub} by reserving needs ${capacityBytes} bytes free but the device has ${deviceBytes}`,
        'oversub',
      );
    }
  }
  const seed = opts.seed ?? spec.seed ?? 1;
  const backend = opts.backend ? opts.backend(pages) : new FastBackend(pages);
  const preferGpu = new Uint8Array(Math.ceil(pages / BLOCK_PAGES));
  const advice = new Uint8Array(preferGpu.length);
  for (const a of spec.allocations) {
    const bits =
      (a.preferredLocation === 'gpu' ? ADVISE_PREFER_GPU : 0) |
      (a.preferredLocation === 'cpu' ? ADVISE_PREFER_CPU : 0) |
      (a.accessedBy === 'gpu' ? ADVISE_ACCESSED_BY_GPU : 0) |
      (a.readMostly === true ? ADVISE_READ_MOSTLY : 0);
    if (bits === 0) continue;
    const r = first.get(a.name)!;
    for (let b = r.first >>> BLOCK_SHIFT; b < Math.ceil((r.first + r.pages) / BLOCK_PAGES); b++) {
      advice[b] = bits;
      if (a.preferredLocation === 'gpu') preferGpu[b] = 1;
    }
  }
  const engine = new Engine({
    platform,
    policy,
    capacityPages: Math.floor(capacityBytes / WL_PAGE_SIZE),
    backend,
    seed,
    preferGpu,
    advice,
    ...(opts.observer ? { observer: opts.observer } : {}),
  });
  const rng = new Prng(seed ^ 0x5eed);
  const sms = Math.floor(platform.sms.value);
  // CPU init of the allocations.
  for (const a of spec.allocations) {
    if (a.init !== 'cpu') continue;
    const r = first.get(a.name)!;
    engine.cpuAccess(r.first, r.pages, true, a.initThreads ?? 1, `init ${a.name}`);
  }
  const runSteps = (steps: readonly Step[], path: string): void => {
    steps.forEach((st, i) => {
      const here = `${path}.${i}`;
      if ('replay' in st) {
        const r = first.get(st.array);
        if (!r) throw new WorkloadError(`unknown allocation "${st.array}"`, `${here}.array`);
        const pages = st.replay.pages.map((p) => r.first + Math.min(p, r.pages - 1));
        engine.runKernel({ ...st.replay, pages: Int32Array.from(pages) });
      } else if ('repeat' in st) {
        for (let k = 0; k < st.repeat; k++) runSteps(st.steps, `${here}.steps`);
      } else if ('kernel' in st) {
        const g = findGenerator(st.gen);
        if (!g) throw new WorkloadError(`unknown generator "${st.gen}"`, `${here}.gen`);
        if (st.arrays.length !== g.arrays.length) {
          throw new WorkloadError(
            `generator ${g.name} takes ${g.arrays.length} arrays (${g.arrays.join(', ')}), got ${st.arrays.length}`,
            `${here}.arrays`,
          );
        }
        const arrays = st.arrays.map((n, j) => {
          const r = first.get(n);
          if (!r) throw new WorkloadError(`unknown allocation "${n}"`, `${here}.arrays.${j}`);
          return { name: n, ...r };
        });
        const args: Record<string, number> = {};
        for (const [k, p] of Object.entries(g.args)) args[k] = p.value as number;
        for (const [k, v] of Object.entries(st.args)) {
          if (!(k in g.args))
            throw new WorkloadError(
              `generator ${g.name} has no argument "${k}" (it has ${Object.keys(g.args).join(', ')})`,
              `${here}.args.${k}`,
            );
          args[k] = v;
        }
        const kernels: KernelTrace[] = g.generate({ sms, arrays, args, rng, name: st.kernel });
        for (const k of kernels) engine.runKernel(k);
      } else if ('cpu' in st) {
        const r = first.get(st.array);
        if (!r) throw new WorkloadError(`unknown allocation "${st.array}"`, `${here}.array`);
        engine.cpuAccess(r.first, r.pages, st.cpu === 'write', st.threads, `cpu ${st.cpu} ${st.array}`);
      } else {
        const r = first.get(st.prefetch);
        if (!r) throw new WorkloadError(`unknown allocation "${st.prefetch}"`, `${here}.prefetch`);
        engine.prefetchToGpu(r.first, r.pages);
      }
    });
  };
  runSteps(spec.steps, 'steps');
  const counters = engine.finish();
  const breakdownNs = { ...engine.breakdown };
  for (const c of COST_COMPONENTS) breakdownNs[c] = Math.round(breakdownNs[c]);
  const t = engine.now;
  return {
    workload: spec.name,
    policy: policyName,
    platform: platformName,
    tier: backend.tier,
    seed,
    footprintBytes: footprint,
    deviceMemoryBytes: capacityBytes,
    oversub: oversub ?? footprint / deviceBytes,
    oversubMode: oversub === undefined ? 'none' : mode,
    timeNs: Math.round(t),
    counters,
    breakdownNs,
    linkUtilization: {
      h2d: t > 0 ? engine.engineBusy.h2d / t : 0,
      d2h: t > 0 ? engine.engineBusy.d2h / t : 0,
    },
    settings,
  };
}

/** The workload `--gen NAME --footprint SIZE [--arg K=V]` describes: the generator's arrays split the footprint evenly, CPU-initialized, one kernel step. */
export function generatorWorkload(
  gen: string,
  footprint: number,
  args: Readonly<Record<string, number>>,
): WorkloadSpec {
  const g = findGenerator(gen);
  if (!g)
    throw new WorkloadError(
      `unknown generator "${gen}" (known: ${GENERATORS.map((x) => x.name).join(', ')})`,
      'gen',
    );
  const per = Math.max(WL_PAGE_SIZE, Math.floor(footprint / g.arrays.length / WL_PAGE_SIZE) * WL_PAGE_SIZE);
  return {
    name: `${gen}-${footprint}`,
    allocations: g.arrays.map((n) => ({ name: n, size: per, init: 'cpu' as const })),
    steps: [{ kernel: gen, gen, arrays: g.arrays, args }],
  };
}

/**
 * `hmmsim workload --functional`: a workload run whose residency changes happen on the real
 * simulated kernel. The engine runs once over the fast tier with every backend call recorded;
 * the calls are then replayed, in order, on the functional tier ({@link replayLockstep}), which
 * must agree with the recording on every call (page counts, first touches, CPU faults, the
 * kernel's work and the block's bitmaps). While it agrees, every input of the engine's decisions
 * and cost functions is the same on both tiers, so the run's counters and time are the
 * functional run's too; the kernel's own invalidation count and the machine's clock are added.
 * When it does not, `functional.agreed` is false and the first divergence is reported: the
 * numbers are then the model's only.
 * @module
 */
import type { Oracle } from '../../explore/oracle.ts';
import { findPlatform } from '../cost/platform.ts';
import type { KernelWork } from '../engine/backend.ts';
import { type RunOptions, type RunResult, runWorkload, WorkloadError } from '../engine/run.ts';
import { FastBackend } from '../residency/fast-backend.ts';
import type { WorkloadSpec } from '../spec.ts';
import { WL_PAGE_SIZE } from '../units.ts';
import { FUNCTIONAL_MAX_BYTES, FunctionalBackend, type FunctionalViolation } from './functional-backend.ts';
import { type Divergence, RecordingBackend, replayLockstep } from './lockstep.ts';

/** What the functional tier adds to a run's result. */
export interface FunctionalReport {
  /** True when the functional tier agreed with the model on every backend call. */
  readonly agreed: boolean;
  /** Backend calls replayed. */
  readonly calls: number;
  /** The first disagreement, field by field (empty when agreed). */
  readonly divergences: readonly Divergence[];
  /** Kernel work summed over the run: as the model counted it, and as the kernel did it. */
  readonly kernelWork: { readonly model: KernelWork; readonly kernel: KernelWork };
  /** Virtual time on the simulated machine's clock at the end of the replay (ns). */
  readonly machineNs: number;
  /** What the attached oracles reported. */
  readonly violations: readonly FunctionalViolation[];
}

/** A run's result with the functional tier's report. */
export interface FunctionalRunResult extends RunResult {
  readonly functional: FunctionalReport;
}

/** Options of {@link runWorkloadFunctional}. */
export interface FunctionalRunOptions extends RunOptions {
  /** The explorer's oracles to watch the functional machine. */
  readonly oracles?: readonly Oracle[];
}

/** Runs `spec` on the functional tier (see the module comment). */
export async function runWorkloadFunctional(
  spec: WorkloadSpec,
  opts: FunctionalRunOptions = {},
): Promise<FunctionalRunResult> {
  let recorder: RecordingBackend | null = null;
  const fast = runWorkload(spec, {
    ...opts,
    backend: (pages) => {
      if (pages * WL_PAGE_SIZE > FUNCTIONAL_MAX_BYTES)
        throw new WorkloadError(
          `the functional tier takes footprints up to ${FUNCTIONAL_MAX_BYTES / 2 ** 20} MiB; this one lays out ${(pages * WL_PAGE_SIZE) / 2 ** 20} MiB (use the fast tier)`,
          'footprint',
        );
      recorder = new RecordingBackend(new FastBackend(pages, { hmm: true }));
      return recorder;
    },
  });
  const rec = recorder as RecordingBackend | null;
  if (rec === null) throw new Error('functional tier: the engine built no backend');
  const platform = findPlatform(fast.platform)!.params;
  const functional = await FunctionalBackend.create({
    pageCount: rec.pageCount,
    platform,
    seed: fast.seed,
    ...(opts.oracles ? { oracles: opts.oracles } : {}),
  });
  const replay = await replayLockstep(rec.calls, functional);
  const machineNs = functional.nowNs;
  await functional.close();
  return {
    ...fast,
    tier: 'functional',
    counters: {
      ...fast.counters,
      invalidations: functional.counters.invalidations,
      ebusyRetries: functional.counters.ebusyRetries,
    },
    functional: {
      agreed: replay.divergences.length === 0,
      calls: replay.replayed,
      divergences: replay.divergences,
      kernelWork: { model: replay.kernel.recorded, kernel: replay.kernel.functional },
      machineNs,
      violations: functional.violations,
    },
  };
}

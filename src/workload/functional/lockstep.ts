/**
 * Running the functional tier in lockstep with the engine. The engine is synchronous; the real
 * kernel is not (its threads await). So a run records every call the engine makes on its backend
 * ({@link RecordingBackend} around the fast tier), then replays the calls, in order, on the
 * functional backend and compares, call by call, what each tier did: the page counts, transfers
 * and the block's residency bitmaps afterwards. As long as both agree, the engine — whose every
 * decision depends only on those results and bitmaps — would have made the same decisions on the
 * functional tier, so the replay is the functional run. The first call where they differ ends the
 * agreement: it is reported with both sides, and the differential test fails on it.
 * @module
 */
import type {
  BackendCounters,
  Collapse,
  CpuAccess,
  CpuDuplication,
  Eviction,
  FirstTouch,
  GpuMigration,
  KernelWork,
  MigrationCause,
  ResidencyBackend,
} from '../engine/backend.ts';
import { BLOCK_WORDS } from '../units.ts';
import type { AsyncResidencyBackend } from './functional-backend.ts';

/** A block's bitmaps after a call. */
export interface BlockBitmaps {
  readonly gpuResident: Uint32Array;
  readonly cpuMapped: Uint32Array;
  readonly populated: Uint32Array;
  readonly readDuplicated: Uint32Array;
  readonly cpuReadOnly: Uint32Array;
}

/** One recorded backend call, with what the recorded backend returned and left behind. */
export type BackendCall =
  | {
      readonly op: 'migrateToGpu';
      readonly block: number;
      readonly mask: Uint32Array;
      readonly cause: MigrationCause;
      readonly result: GpuMigration;
      readonly after: BlockBitmaps;
    }
  | {
      readonly op: 'duplicateToGpu';
      readonly block: number;
      readonly mask: Uint32Array;
      readonly result: GpuMigration;
      readonly after: BlockBitmaps;
    }
  | {
      readonly op: 'collapseOnGpu';
      readonly block: number;
      readonly mask: Uint32Array;
      readonly result: Collapse;
      readonly after: BlockBitmaps;
    }
  | {
      readonly op: 'duplicateToCpu';
      readonly block: number;
      readonly mask: Uint32Array;
      readonly result: CpuDuplication;
      readonly after: BlockBitmaps;
    }
  | {
      readonly op: 'gpuFirstTouch';
      readonly block: number;
      readonly result: FirstTouch;
      readonly after: BlockBitmaps;
    }
  | {
      readonly op: 'evictToCpu';
      readonly block: number;
      readonly mask: Uint32Array;
      readonly result: Eviction;
      readonly after: BlockBitmaps;
    }
  | {
      readonly op: 'cpuAccess';
      readonly block: number;
      readonly mask: Uint32Array;
      readonly write: boolean;
      readonly result: CpuAccess;
      readonly after: BlockBitmaps;
    };

function blockBitmaps(
  b: Pick<ResidencyBackend, 'gpuResident' | 'cpuMapped' | 'populated' | 'readDuplicated' | 'cpuReadOnly'>,
  block: number,
): BlockBitmaps {
  const a = block * BLOCK_WORDS;
  return {
    gpuResident: b.gpuResident.slice(a, a + BLOCK_WORDS),
    cpuMapped: b.cpuMapped.slice(a, a + BLOCK_WORDS),
    populated: b.populated.slice(a, a + BLOCK_WORDS),
    readDuplicated: b.readDuplicated.slice(a, a + BLOCK_WORDS),
    // Read-only matters where the CPU maps the page.
    cpuReadOnly: b.cpuReadOnly.slice(a, a + BLOCK_WORDS).map((w, i) => w & b.cpuMapped[a + i]!),
  };
}

/** A {@link ResidencyBackend} that passes every call to `inner` and records it. */
export class RecordingBackend implements ResidencyBackend {
  /** Every call so far, in order. */
  readonly calls: BackendCall[] = [];

  /** @param inner the backend that does the work (the fast tier) */
  constructor(readonly inner: ResidencyBackend) {}

  get tier(): string {
    return this.inner.tier;
  }
  get blockCount(): number {
    return this.inner.blockCount;
  }
  get pageCount(): number {
    return this.inner.pageCount;
  }
  get gpuResident(): Uint32Array {
    return this.inner.gpuResident;
  }
  get cpuMapped(): Uint32Array {
    return this.inner.cpuMapped;
  }
  get populated(): Uint32Array {
    return this.inner.populated;
  }
  get gpuTouched(): Uint8Array {
    return this.inner.gpuTouched;
  }
  get readDuplicated(): Uint32Array {
    return this.inner.readDuplicated;
  }
  get cpuReadOnly(): Uint32Array {
    return this.inner.cpuReadOnly;
  }
  duplicateToGpu(block: number, mask: Uint32Array, maskOff: number): GpuMigration {
    const m = mask.slice(maskOff, maskOff + BLOCK_WORDS);
    const result = this.inner.duplicateToGpu(block, mask, maskOff);
    this.calls.push({
      op: 'duplicateToGpu',
      block,
      mask: m,
      result: { ...result, kernel: { ...result.kernel } },
      after: blockBitmaps(this.inner, block),
    });
    return result;
  }
  duplicateToCpu(block: number, mask: Uint32Array, maskOff: number): CpuDuplication {
    const m = mask.slice(maskOff, maskOff + BLOCK_WORDS);
    const result = this.inner.duplicateToCpu(block, mask, maskOff);
    this.calls.push({ op: 'duplicateToCpu', block, mask: m, result, after: blockBitmaps(this.inner, block) });
    return result;
  }
  gpuFirstTouch(block: number): FirstTouch {
    const result = this.inner.gpuFirstTouch(block);
    this.calls.push({ op: 'gpuFirstTouch', block, result, after: blockBitmaps(this.inner, block) });
    return result;
  }
  collapseOnGpu(block: number, mask: Uint32Array, maskOff: number): Collapse {
    const m = mask.slice(maskOff, maskOff + BLOCK_WORDS);
    const result = this.inner.collapseOnGpu(block, mask, maskOff);
    this.calls.push({ op: 'collapseOnGpu', block, mask: m, result, after: blockBitmaps(this.inner, block) });
    return result;
  }
  get counters(): BackendCounters {
    return this.inner.counters;
  }

  migrateToGpu(block: number, mask: Uint32Array, maskOff: number, cause: MigrationCause): GpuMigration {
    const m = mask.slice(maskOff, maskOff + BLOCK_WORDS);
    const result = this.inner.migrateToGpu(block, mask, maskOff, cause);
    this.calls.push({
      op: 'migrateToGpu',
      block,
      mask: m,
      cause,
      // A copy: the fast backend reuses its result object from call to call.
      result: { ...result, kernel: { ...result.kernel } },
      after: blockBitmaps(this.inner, block),
    });
    return result;
  }

  /**
   * Evicts the GPU-resident pages of `mask` of `block` (the whole block when no mask is given:
   * the backend interface takes a mask in newer engine versions and only the block in older ones).
   */
  evictToCpu(block: number, mask?: Uint32Array, maskOff = 0): Eviction {
    const a = block * BLOCK_WORDS;
    const m = mask
      ? mask.slice(maskOff, maskOff + BLOCK_WORDS)
      : this.inner.gpuResident.slice(a, a + BLOCK_WORDS);
    const evict = this.inner.evictToCpu as (b: number, m: Uint32Array, o: number) => Eviction;
    const result = evict.call(this.inner, block, m, 0);
    this.calls.push({ op: 'evictToCpu', block, mask: m, result, after: blockBitmaps(this.inner, block) });
    return result;
  }

  cpuAccess(block: number, mask: Uint32Array, maskOff: number, write: boolean): CpuAccess {
    const m = mask.slice(maskOff, maskOff + BLOCK_WORDS);
    const result = this.inner.cpuAccess(block, mask, maskOff, write);
    this.calls.push({
      op: 'cpuAccess',
      block,
      mask: m,
      write,
      result,
      after: blockBitmaps(this.inner, block),
    });
    return result;
  }
}

/** One field on which the two tiers disagreed. */
export interface Divergence {
  /** Index of the call in the recording. */
  readonly call: number;
  readonly op: BackendCall['op'];
  readonly block: number;
  /** The field (`pages`, `runs`, `cpuMapped`…). */
  readonly field: string;
  readonly recorded: string;
  readonly functional: string;
}

/** What a replay on the functional tier found. */
export interface LockstepReport {
  /** Calls replayed (all of them, or up to and including the first divergent one). */
  readonly replayed: number;
  /** Disagreements of the first divergent call (empty when the tiers agree throughout). */
  readonly divergences: readonly Divergence[];
  /** The functional backend's results, in call order (as far as replayed). */
  readonly results: readonly (GpuMigration | Eviction | CpuAccess | Collapse | CpuDuplication | FirstTouch)[];
  /** Kernel work summed over the replayed calls, per tier. */
  readonly kernel: { readonly recorded: KernelWork; readonly functional: KernelWork };
}

/** Which fields of a result must agree between the tiers (the rest are reported, not required). */
export interface LockstepFields {
  /** Compare the kernel-work counts (default true). */
  readonly kernel?: boolean;
  /** Compare the transfer runs (default true). */
  readonly runs?: boolean;
}

function text(v: unknown): string {
  if (v instanceof Uint32Array) return [...v].map((w) => w.toString(16).padStart(8, '0')).join(' ');
  return JSON.stringify(v);
}

function addWork(a: KernelWork, b: KernelWork): KernelWork {
  return {
    ptes: a.ptes + b.ptes,
    ranges: a.ranges + b.ranges,
    shootdowns: a.shootdowns + b.shootdowns,
    callbacks: a.callbacks + b.callbacks,
    pages: a.pages + b.pages,
    folios: a.folios + b.folios,
  };
}

const NO_WORK: KernelWork = { ptes: 0, ranges: 0, shootdowns: 0, callbacks: 0, pages: 0, folios: 0 };

/**
 * Replays `calls` on `functional`, in order, and compares each call's result and the block's
 * bitmaps afterwards with the recording; stops after the first call that differs.
 */
export async function replayLockstep(
  calls: readonly BackendCall[],
  functional: AsyncResidencyBackend,
  fields: LockstepFields = {},
): Promise<LockstepReport> {
  const results: (GpuMigration | Eviction | CpuAccess | Collapse | CpuDuplication | FirstTouch)[] = [];
  let recordedWork = NO_WORK;
  let functionalWork = NO_WORK;
  for (let i = 0; i < calls.length; i++) {
    const c = calls[i]!;
    let got: GpuMigration | Eviction | CpuAccess | Collapse | CpuDuplication | FirstTouch;
    if (c.op === 'migrateToGpu') got = await functional.migrateToGpu(c.block, c.mask, 0, c.cause);
    else if (c.op === 'duplicateToGpu') got = await functional.duplicateToGpu(c.block, c.mask, 0);
    else if (c.op === 'collapseOnGpu') got = await functional.collapseOnGpu(c.block, c.mask, 0);
    else if (c.op === 'duplicateToCpu') got = await functional.duplicateToCpu(c.block, c.mask, 0);
    else if (c.op === 'gpuFirstTouch') got = await functional.gpuFirstTouch(c.block);
    else if (c.op === 'evictToCpu') got = await functional.evictToCpu(c.block, c.mask, 0);
    else got = await functional.cpuAccess(c.block, c.mask, 0, c.write);
    results.push(got);
    recordedWork = addWork(recordedWork, c.result.kernel);
    functionalWork = addWork(functionalWork, got.kernel);
    const divergences: Divergence[] = [];
    const diff = (field: string, a: unknown, b: unknown): void => {
      const ta = text(a);
      const tb = text(b);
      if (ta !== tb)
        divergences.push({ call: i, op: c.op, block: c.block, field, recorded: ta, functional: tb });
    };
    for (const [key, value] of Object.entries(c.result)) {
      if (key === 'kernel' && fields.kernel === false) continue;
      if (key === 'runs' && fields.runs === false) continue;
      diff(key, value, (got as unknown as Record<string, unknown>)[key]);
    }
    const after = blockBitmaps(functional, c.block);
    diff('gpuResident', c.after.gpuResident, after.gpuResident);
    diff('cpuMapped', c.after.cpuMapped, after.cpuMapped);
    diff('populated', c.after.populated, after.populated);
    diff('readDuplicated', c.after.readDuplicated, after.readDuplicated);
    diff('cpuReadOnly', c.after.cpuReadOnly, after.cpuReadOnly);
    if (divergences.length > 0)
      return {
        replayed: i + 1,
        divergences,
        results,
        kernel: { recorded: recordedWork, functional: functionalWork },
      };
  }
  return {
    replayed: calls.length,
    divergences: [],
    results,
    kernel: { recorded: recordedWork, functional: functionalWork },
  };
}

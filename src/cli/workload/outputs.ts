/**
 * What `hmmsim workload` writes besides its report: uvm-eval's batch and fault CSVs (the formats
 * `tools/plotv2/Batch.py` and `Fault.py` of tallendev/uvm-eval read, so their plotting scripts
 * run on simulator output), and SVG plots drawn with Vega-Lite (rendered to SVG in Node, no
 * browser): batch time against bytes coloured by VA blocks for one run, slowdown against
 * oversubscription for a sweep.
 * @module
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { BatchRecord, FaultRecord, RunObserver } from '../../workload/engine/observer.ts';
import type { RunResult } from '../../workload/engine/run.ts';

/** Collects batch and fault rows. */
export class CsvCollector {
  readonly batches: string[] = [];
  readonly faults: string[] = [];
  private readonly batchTimes: { time: number; bytes: number; blocks: number }[] = [];
  constructor(
    private readonly wantBatches: boolean,
    private readonly wantFaults: boolean,
    private readonly wantPlot: boolean,
  ) {}

  /** The observer callbacks that fill it. */
  observer(): RunObserver {
    const o: RunObserver = {};
    if (this.wantBatches || this.wantPlot || this.wantFaults) {
      o.onBatch = (b: BatchRecord) => {
        if (this.wantBatches) this.batches.push(batchRow(b));
        if (this.wantFaults) this.faults.push(`b,${Math.round(b.durNs)},0`);
        if (this.wantPlot)
          this.batchTimes.push({ time: b.durNs / 1000, bytes: b.transferBytes, blocks: b.blocks });
      };
    }
    if (this.wantFaults) o.onFault = (f: FaultRecord) => this.faults.push(faultRow(f));
    return o;
  }

  /** Batch points for the single-run plot. */
  get points(): readonly { time: number; bytes: number; blocks: number }[] {
    return this.batchTimes;
  }
}

/**
 * One uvm-eval batch row: an unused first column, then start_time, time, cached, coalesced,
 * duplicate, actual faults, not_already_resident, num_vablock, num_prefetch, num_evict,
 * num_evict_ops, num_transfers, transfer_size, mapped pages and ops, root_chunk_allocs, the
 * transfer/map/unmap/service/make_resident/resident_pages/pop_pages/unmap_res/unmap_rdup times,
 * rmask_get_alloc, block_gpu_state_time, num_new_vablock, unmap_res_count, num_replays, status.
 * Times in ns. Columns the model does not have are 0.
 */
export function batchRow(b: BatchRecord): string {
  const r = Math.round;
  return [
    'b',
    r(b.startNs),
    r(b.durNs),
    b.cached,
    b.coalesced,
    b.duplicates,
    b.coalesced - b.duplicates,
    b.pages - b.prefetched,
    b.blocks,
    b.prefetched,
    b.evictions,
    b.evictions,
    b.transfers,
    b.transferBytes,
    b.pages,
    b.blocks,
    b.newBlocks,
    r(b.transferNs),
    r(b.mapNs),
    r(b.unmapNs),
    r(b.durNs),
    r(b.transferNs + b.mapNs + b.unmapNs),
    0,
    0,
    0,
    0,
    0,
    0,
    b.newBlocks,
    0,
    b.replays,
    0,
  ].join(',');
}

/**
 * One uvm-eval fault record: `f`, address (hex), timestamp, fault type (1 = invalid PTE), access
 * type (0 prefetch, 1 read, 2 write as nvidia-uvm's uvm_fault_access_type_t), access mask, instances, client
 * type, MMU engine type, client id (the SM within its μTLB), MMU engine id, μTLB id, GPC, channel,
 * VEID.
 */
export function faultRow(f: FaultRecord): string {
  return [
    'f',
    f.addr.toString(16),
    Math.round(f.timeNs),
    1,
    f.access === 1 ? 2 : f.access === 2 ? 0 : 1,
    0,
    1,
    0,
    0,
    f.sm,
    0,
    f.utlb,
    0,
    0,
    0,
  ].join(',');
}

/** Renders a Vega-Lite spec to SVG text. */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

/** SC21 Fig. 6/10 style: batch time against bytes migrated, coloured by VA blocks in the batch. */
export function batchPlotSpec(
  title: string,
  points: readonly { time: number; bytes: number; blocks: number }[],
): vl.TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 520,
    height: 320,
    data: {
      values: points.map((p) => ({
        'batch time (µs)': p.time,
        'bytes migrated (KiB)': p.bytes / 1024,
        'VA blocks': p.blocks,
      })),
    },
    mark: { type: 'point', filled: true, size: 18, opacity: 0.7 },
    encoding: {
      x: { field: 'bytes migrated (KiB)', type: 'quantitative' },
      y: { field: 'batch time (µs)', type: 'quantitative' },
      color: { field: 'VA blocks', type: 'quantitative', scale: { scheme: 'viridis' } },
    },
  };
}

/** Slowdown against oversubscription for a sweep, one line per policy (and platform). */
export function sweepPlotSpec(results: readonly RunResult[]): vl.TopLevelSpec {
  const minOversub = new Map<string, RunResult>();
  for (const r of results) {
    const k = `${r.policy} ${r.platform} ${r.workload}`;
    const m = minOversub.get(k);
    if (!m || r.oversub < m.oversub) minOversub.set(k, r);
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Slowdown vs oversubscription (relative to each policy at its smallest oversubscription)',
    width: 520,
    height: 320,
    data: {
      values: results.map((r) => {
        const k = `${r.policy} ${r.platform} ${r.workload}`;
        return {
          oversubscription: r.oversub,
          slowdown: r.timeNs / minOversub.get(k)!.timeNs,
          policy: `${r.policy} (${r.platform})`,
        };
      }),
    },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'oversubscription', type: 'quantitative', scale: { zero: false } },
      y: { field: 'slowdown', type: 'quantitative' },
      color: { field: 'policy', type: 'nominal' },
    },
  };
}

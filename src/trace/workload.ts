/**
 * Chrome trace of a workload run: a {@link RunObserver} that writes the engine's events as
 * slices on tracks named like the GPU they model — kernels (the SM group), the fault handler
 * (one slice per batch), one track per copy engine, CPU unmaps, CPU phases, evictions, and one
 * track per SM group (the SMs sharing a μTLB) with a slice for each stretch of time its faults
 * were outstanding — with
 * event names taken from CUPTI's unified-memory counter kinds (`Unified Memory Memcpy HtoD`,
 * `Unified Memory GPU page faults`…) and counters of bytes transferred.
 * @module
 */
import type { RunObserver } from '../workload/engine/observer.ts';
import type { ChromeTraceWriter } from './writer.ts';

/** Thread ids of the SM-group tracks start here (after the fixed tracks), one per μTLB. */
const SM_GROUP_TID = 100;

const TRACKS = {
  kernel: [1, 'SMs (kernels)'],
  'fault-handler': [2, 'UVM fault handler'],
  h2d: [3, 'copy engine H2D'],
  d2h: [4, 'copy engine D2H'],
  'cpu-unmap': [5, 'CPU unmap'],
  cpu: [6, 'CPU'],
  eviction: [7, 'eviction'],
} as const;

/** An observer that writes a run to `writer` as process `name`. */
export function traceWorkload(writer: ChromeTraceWriter, name: string): RunObserver {
  const pid = writer.claimPid();
  writer.processName(pid, name);
  for (const [tid, label] of Object.values(TRACKS)) writer.threadName(pid, tid, label, tid);
  let h2d = 0;
  let d2h = 0;
  // SM-group tracks are named when first used (the observer does not know the GPU's size).
  const named = new Set<number>();
  const us = (ns: number): number => ns / 1000;
  return {
    onSmGroup(g) {
      const tid = SM_GROUP_TID + g.utlb;
      if (!named.has(tid)) {
        named.add(tid);
        const last = g.firstSm + g.sms - 1;
        const sms = g.sms > 1 ? `SMs ${g.firstSm}–${last}` : `SM ${g.firstSm}`;
        writer.threadName(pid, tid, `μTLB ${g.utlb} (${sms})`, tid);
      }
      writer.event({
        name: 'faults outstanding',
        ph: 'X',
        pid,
        tid,
        ts: us(g.startNs),
        dur: us(g.durNs),
        cat: 'uvm',
        args: { maxOutstanding: g.maxOutstanding, kernel: g.kernel },
      });
    },
    onSpan(s) {
      const [tid] = TRACKS[s.track];
      const label =
        s.track === 'fault-handler' && s.name === 'batch' ? 'Unified Memory GPU page faults' : s.name;
      writer.event({
        name: label,
        ph: 'X',
        pid,
        tid,
        ts: us(s.startNs),
        dur: us(s.durNs),
        cat: 'uvm',
        ...(s.args ? { args: s.args } : {}),
      });
    },
    onTransfer(t) {
      const [tid] = TRACKS[t.dir];
      writer.event({
        name: t.dir === 'h2d' ? 'Unified Memory Memcpy HtoD' : 'Unified Memory Memcpy DtoH',
        ph: 'X',
        pid,
        tid,
        ts: us(t.startNs),
        dur: us(t.durNs),
        cat: 'uvm',
        args: { address: `0x${t.addr.toString(16)}`, bytes: t.bytes, cause: t.cause },
      });
      if (t.dir === 'h2d') h2d += t.bytes;
      else d2h += t.bytes;
      writer.event({
        name: 'Unified Memory bytes',
        ph: 'C',
        pid,
        ts: us(t.startNs + t.durNs),
        args: { BYTES_TRANSFER_HTOD: h2d, BYTES_TRANSFER_DTOH: d2h },
      });
    },
  };
}

/** ChromeTraceWriter: a streamed, valid Chrome Trace Event JSON object in bounded chunks. */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/sim/errors.ts';
import { ChromeTraceWriter, DEFAULT_TRACE_CHUNK_SIZE } from '../../../src/trace/index.ts';

function collect(chunkSize?: number): { chunks: string[]; writer: ChromeTraceWriter } {
  const chunks: string[] = [];
  const writer = new ChromeTraceWriter((c) => chunks.push(c), chunkSize === undefined ? {} : { chunkSize });
  return { chunks, writer };
}

describe('ChromeTraceWriter', () => {
  it('writes the JSON object form: traceEvents, displayTimeUnit ns, otherData', () => {
    const { chunks, writer } = collect();
    writer.begin();
    writer.processName(1, 'machine', 1);
    writer.threadName(1, 1, 'main', 0);
    writer.event({ name: 'x', ph: 'B', pid: 1, tid: 1, ts: 0.5 });
    writer.event({ name: 'x', ph: 'E', pid: 1, tid: 1, ts: 1.25, args: { result: 0 } });
    writer.end({ seed: 7 });
    const json = JSON.parse(chunks.join(''));
    expect(json.displayTimeUnit).toBe('ns');
    expect(json.otherData).toEqual({ generator: 'hmmsim', seed: 7, eventCount: 6 });
    expect(json.traceEvents).toEqual([
      { name: 'process_name', ph: 'M', pid: 1, args: { name: 'machine' } },
      { name: 'process_sort_index', ph: 'M', pid: 1, args: { sort_index: 1 } },
      { name: 'thread_name', ph: 'M', pid: 1, tid: 1, args: { name: 'main' } },
      { name: 'thread_sort_index', ph: 'M', pid: 1, tid: 1, args: { sort_index: 0 } },
      { name: 'x', ph: 'B', pid: 1, tid: 1, ts: 0.5 },
      { name: 'x', ph: 'E', pid: 1, tid: 1, ts: 1.25, args: { result: 0 } },
    ]);
    expect(writer.eventCount).toBe(6);
    expect(writer.ended).toBe(true);
  });

  it('an empty trace is valid JSON; begin is implicit and idempotent, end runs once', () => {
    const { chunks, writer } = collect();
    writer.end();
    writer.end();
    expect(JSON.parse(chunks.join(''))).toEqual({
      traceEvents: [],
      displayTimeUnit: 'ns',
      otherData: { generator: 'hmmsim', eventCount: 0 },
    });
    const b = collect();
    b.writer.event({ name: 'i', ph: 'i', pid: 1, tid: 1, ts: 0, s: 't' });
    b.writer.begin();
    b.writer.end();
    expect(JSON.parse(b.chunks.join('')).traceEvents).toHaveLength(1);
  });

  it('streams: nothing reaches the sink before a chunk fills, and no chunk exceeds the bound', () => {
    const { chunks, writer } = collect(256);
    writer.begin();
    writer.event({ name: 'a', ph: 'i', pid: 1, tid: 1, ts: 0, s: 't' });
    expect(chunks).toEqual([]);
    for (let i = 0; i < 500; i++)
      writer.event({ name: `event ${i}`, ph: 'i', pid: 1, tid: 1, ts: i / 1000, s: 't', args: { i } });
    // An event longer than a chunk is cut, at a place that keeps surrogate pairs whole.
    writer.event({ name: '🦀'.repeat(400), ph: 'i', pid: 1, tid: 1, ts: 1, s: 't' });
    writer.end();
    expect(chunks.length).toBeGreaterThan(100);
    for (const c of chunks) expect(c.length).toBeLessThanOrEqual(256);
    for (const c of chunks) expect(c).toBe(Buffer.from(c, 'utf8').toString('utf8'));
    const json = JSON.parse(chunks.join(''));
    expect(json.traceEvents).toHaveLength(502);
    expect(json.traceEvents[501].name).toBe('🦀'.repeat(400));
    expect(writer.chunkSize).toBe(256);
    expect(new ChromeTraceWriter(() => undefined).chunkSize).toBe(DEFAULT_TRACE_CHUNK_SIZE);
  });

  it('flush hands the buffered text over at once', () => {
    const { chunks, writer } = collect();
    writer.begin();
    writer.flush();
    expect(chunks).toEqual(['{"traceEvents":[']);
  });

  it('finishers registered with onEnd run before the JSON closes; unregistered ones do not', () => {
    const { chunks, writer } = collect();
    writer.onEnd(() => writer.event({ name: 'last', ph: 'i', pid: 1, tid: 1, ts: 2, s: 't' }));
    const off = writer.onEnd(() => writer.event({ name: 'never', ph: 'i', pid: 1, tid: 1, ts: 2, s: 't' }));
    off();
    writer.end();
    expect(JSON.parse(chunks.join('')).traceEvents.map((e: { name: string }) => e.name)).toEqual(['last']);
  });

  it('hands out distinct pids and refuses a taken one', () => {
    const { writer } = collect();
    expect(writer.claimPid()).toBe(1);
    expect(writer.claimPid(3)).toBe(3);
    expect(writer.claimPid()).toBe(2);
    expect(writer.claimPid()).toBe(4);
    expect(() => writer.claimPid(3)).toThrow(UsageError);
    expect(() => writer.claimPid(-1)).toThrow(UsageError);
  });

  it('refuses writing after the end and bad arguments', () => {
    const { writer } = collect();
    writer.end();
    expect(() => writer.event({ name: 'x', ph: 'i', pid: 1, ts: 0 })).toThrow(UsageError);
    expect(() => writer.begin()).toThrow(UsageError);
    expect(() => new ChromeTraceWriter(() => undefined, { chunkSize: 10 })).toThrow(UsageError);
    expect(() => new ChromeTraceWriter('sink' as never)).toThrow(UsageError);
  });
});

/**
 * A streaming writer of the Chrome Trace Event Format (the JSON object form that Perfetto and
 * `chrome://tracing` open): `{"traceEvents":[…],"displayTimeUnit":"ns","otherData":{…}}`.
 *
 * The writer never holds the whole trace: events are serialized one by one into a small buffer
 * that goes to the injected sink in chunks of at most {@link ChromeTraceWriterOptions.chunkSize}
 * characters. It uses nothing from Node, so the browser can use it with any sink.
 * @module
 */
import { UsageError } from '../sim/errors.ts';

/** Receives the trace text, chunk after chunk; the concatenation of all chunks is the JSON file. */
export type TraceSink = (chunk: string) => void;

/**
 * Event phases used by hmmsim: B/E (begin/end of a slice), X (complete slice with `dur`),
 * i (instant), C (counter), M (metadata: names and sort order of processes and threads).
 */
export type TracePhase = 'B' | 'E' | 'X' | 'i' | 'C' | 'M';

/** One record of the Chrome Trace Event Format. Times are in microseconds (fractions allowed). */
export interface TraceEvent {
  /** Event name: the slice, instant or counter name, or the metadata kind (`thread_name`…). */
  name: string;
  /** Phase. */
  ph: TracePhase;
  /** Process id: the track group (hmmsim: one per traced machine). */
  pid: number;
  /** Thread id: the track inside the process (hmmsim: a simulated thread or a device). */
  tid?: number;
  /** Timestamp in µs. Metadata events have none. */
  ts?: number;
  /** Duration in µs (phase X). */
  dur?: number;
  /** Comma-separated categories, for filtering in the viewer. */
  cat?: string;
  /** Scope of an instant: g (global), p (process) or t (thread). */
  s?: 'g' | 'p' | 't';
  /** Arguments shown with the event; counters: one series per key. */
  args?: Record<string, unknown>;
}

/** Options of a {@link ChromeTraceWriter}. */
export interface ChromeTraceWriterOptions {
  /**
   * Largest chunk handed to the sink, in characters (default 65536, at least 64). Events are
   * gathered up to this size; an event longer than it is cut into pieces.
   */
  chunkSize?: number;
  /** Entries for the trace's `otherData` object (shown by the viewer as trace metadata). */
  otherData?: Record<string, unknown>;
}

/** Default {@link ChromeTraceWriterOptions.chunkSize}. */
export const DEFAULT_TRACE_CHUNK_SIZE = 65536;

/**
 * Writes a Chrome trace to a sink as a stream of chunks: {@link begin}, then events one by one
 * ({@link event} and the metadata helpers), then {@link end}, which closes the JSON.
 *
 * ```ts
 * const chunks: string[] = [];
 * const writer = new ChromeTraceWriter((c) => chunks.push(c));
 * writer.begin();
 * traceMachine(machine, writer, { name: 'demo' });
 * // … run the simulation …
 * writer.end();
 * JSON.parse(chunks.join(''));
 * ```
 */
export class ChromeTraceWriter {
  /** Largest chunk passed to the sink, in characters. */
  readonly chunkSize: number;
  private readonly sink: TraceSink;
  private readonly otherData: Record<string, unknown>;
  private pending = '';
  private state: 'new' | 'open' | 'ended' = 'new';
  private count = 0;
  private readonly pids = new Set<number>();
  private finishers: (() => void)[] = [];

  /**
   * @param sink receives the chunks (e.g. `(c) => stream.write(c)` in Node)
   * @param options chunk size and `otherData` entries
   */
  constructor(sink: TraceSink, options: ChromeTraceWriterOptions = {}) {
    if (typeof sink !== 'function') throw new UsageError('ChromeTraceWriter(sink)', 'must be a function');
    const size = options.chunkSize ?? DEFAULT_TRACE_CHUNK_SIZE;
    if (!Number.isInteger(size) || size < 64) {
      throw new UsageError('ChromeTraceWriter(options.chunkSize)', `must be an integer ≥ 64, got ${size}`);
    }
    this.sink = sink;
    this.chunkSize = size;
    this.otherData = { ...options.otherData };
  }

  /** Events written so far (metadata included). */
  get eventCount(): number {
    return this.count;
  }

  /** True once {@link end} has run: nothing more can be written. */
  get ended(): boolean {
    return this.state === 'ended';
  }

  /**
   * Writes the opening of the JSON object. Calling it again while open does nothing; writing an
   * event before it begins the trace implicitly.
   */
  begin(): void {
    if (this.state === 'ended') throw new UsageError('ChromeTraceWriter.begin', 'the trace has ended');
    if (this.state === 'open') return;
    this.state = 'open';
    this.put('{"traceEvents":[');
  }

  /** Appends one event. */
  event(e: TraceEvent): void {
    if (this.state !== 'open') {
      if (this.state === 'ended') throw new UsageError('ChromeTraceWriter.event', 'the trace has ended');
      this.begin();
    }
    this.put(this.count === 0 ? '\n' : ',\n');
    this.put(JSON.stringify(e));
    this.count++;
  }

  /** Names process `pid` (`process_name` metadata) and, when given, sets its sort position. */
  processName(pid: number, name: string, sortIndex?: number): void {
    this.event({ name: 'process_name', ph: 'M', pid, args: { name } });
    if (sortIndex !== undefined)
      this.event({ name: 'process_sort_index', ph: 'M', pid, args: { sort_index: sortIndex } });
  }

  /** Names track `tid` of process `pid` (`thread_name` metadata) and, when given, its position. */
  threadName(pid: number, tid: number, name: string, sortIndex?: number): void {
    this.event({ name: 'thread_name', ph: 'M', pid, tid, args: { name } });
    if (sortIndex !== undefined)
      this.event({ name: 'thread_sort_index', ph: 'M', pid, tid, args: { sort_index: sortIndex } });
  }

  /**
   * Reserves a process id for one traced source: `pid` itself (a {@link UsageError} if it is
   * taken), or the smallest free id from 1 when `pid` is undefined.
   */
  claimPid(pid?: number): number {
    if (pid === undefined) {
      let p = 1;
      while (this.pids.has(p)) p++;
      this.pids.add(p);
      return p;
    }
    if (!Number.isInteger(pid) || pid < 0)
      throw new UsageError('ChromeTraceWriter.claimPid', `must be a non-negative integer, got ${pid}`);
    if (this.pids.has(pid))
      throw new UsageError('ChromeTraceWriter.claimPid', `pid ${pid} is already used in this trace`);
    this.pids.add(pid);
    return pid;
  }

  /**
   * Registers `finish`, run by {@link end} before the JSON is closed (a tracer closes its open
   * slices and writes final counter values there). Returns the function that unregisters it.
   */
  onEnd(finish: () => void): () => void {
    this.finishers.push(finish);
    return () => {
      this.finishers = this.finishers.filter((f) => f !== finish);
    };
  }

  /** Hands the buffered text to the sink now. */
  flush(): void {
    if (this.pending.length > 0) {
      const chunk = this.pending;
      this.pending = '';
      this.sink(chunk);
    }
  }

  /**
   * Runs the registered finishers, closes the JSON (with `displayTimeUnit` and `otherData`, to
   * which `otherData` adds entries) and flushes. Calling it again does nothing.
   */
  end(otherData: Record<string, unknown> = {}): void {
    if (this.state === 'ended') return;
    if (this.state === 'new') this.begin();
    for (const finish of [...this.finishers]) finish();
    this.finishers = [];
    const other = { generator: 'hmmsim', ...this.otherData, ...otherData, eventCount: this.count };
    this.put(`\n],"displayTimeUnit":"ns","otherData":${JSON.stringify(other)}}\n`);
    this.state = 'ended';
    this.flush();
  }

  /** Buffers `text`, flushing so that no chunk exceeds {@link chunkSize}. */
  private put(text: string): void {
    if (this.pending.length + text.length <= this.chunkSize) {
      this.pending += text;
      return;
    }
    this.flush();
    let at = 0;
    while (text.length - at > this.chunkSize) {
      let cut = at + this.chunkSize;
      // Never split a surrogate pair: each chunk stays valid UTF-16 on its own.
      const c = text.charCodeAt(cut - 1);
      if (c >= 0xd800 && c <= 0xdbff) cut--;
      this.sink(text.slice(at, cut));
      at = cut;
    }
    this.pending = at === 0 ? text : text.slice(at);
  }
}

/**
 * `--trace FILE`: one Chrome trace file for every machine a command creates, written through
 * the trace writer (src/trace) to a file stream, flushed and closed before the command exits.
 * @module
 */
import { createWriteStream, openSync, readFileSync, type WriteStream } from 'node:fs';
import type { Machine } from '../machine.ts';
import { ChromeTraceWriter, type TraceDetach, traceMachine } from '../trace/index.ts';
import { DEFAULT_TRACE_SPACING_NS } from '../trace/machine.ts';
import { CliUsageError } from './args.ts';

/** Re-exported from the trace layer, where the browser's trace export uses it too. */
export { DEFAULT_TRACE_SPACING_NS };

/** A trace file being written. */
export class TraceFile {
  private readonly stream: WriteStream;
  private readonly writer: ChromeTraceWriter;
  private attached: TraceDetach[] = [];
  private machines = 0;
  private error: Error | null = null;

  /** Opens (creates or truncates) `path`; a {@link CliUsageError} if it cannot be written. */
  constructor(
    readonly path: string,
    /** Display time added per traced event, ns (`--trace-spacing`; see traceMachine's spacingNs). */
    private readonly spacingNs = DEFAULT_TRACE_SPACING_NS,
  ) {
    let fd: number;
    try {
      fd = openSync(path, 'w');
    } catch (e) {
      throw new CliUsageError(`cannot write the trace file ${path}: ${(e as Error).message}`);
    }
    this.stream = createWriteStream(path, { fd });
    this.stream.on('error', (e) => {
      this.error = e;
    });
    this.writer = new ChromeTraceWriter((chunk) => {
      this.stream.write(chunk);
    });
    this.writer.begin();
  }

  /** Traces `machine` as process `name` of the trace. */
  attach(machine: Machine, name?: string): void {
    this.machines++;
    this.attached.push(
      traceMachine(machine, this.writer, {
        name: name ?? `machine ${this.machines}`,
        spacingNs: this.spacingNs,
      }),
    );
  }

  /** Stops tracing the machines attached so far (their slices close; they can be collected). */
  detachAll(): void {
    for (const d of this.attached) d();
    this.attached = [];
    this.writer.flush();
  }

  /** Ends the trace and closes the file; resolves when every byte is on disk. */
  async close(): Promise<void> {
    this.detachAll();
    this.writer.end();
    await new Promise<void>((resolve) => this.stream.end(resolve));
    if (this.error) throw this.error;
  }
}

/** What a written trace holds: events, named tracks, spans. */
export interface TraceSummary {
  readonly events: number;
  readonly tracks: readonly string[];
  readonly processes: readonly string[];
  readonly spans: number;
}

/** Reads a trace file back and counts what it holds. */
export function summarizeTrace(path: string): TraceSummary {
  const doc = JSON.parse(readFileSync(path, 'utf8')) as {
    traceEvents: { name: string; ph: string; args?: { name?: string } }[];
  };
  const ev = doc.traceEvents;
  return {
    events: ev.length,
    tracks: ev.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => String(e.args?.name)),
    processes: ev.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => String(e.args?.name)),
    spans: ev.filter((e) => e.ph === 'B' || e.ph === 'X').length,
  };
}

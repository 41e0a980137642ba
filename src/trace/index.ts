/**
 * Trace export: the Chrome Trace Event Format (JSON), which https://ui.perfetto.dev and
 * `chrome://tracing` open. {@link ChromeTraceWriter} streams a trace to a sink;
 * {@link traceMachine} maps a simulated machine onto it (see docs/trace.md).
 * @module
 */
export {
  DEVICE_TID_BASE,
  type TraceDetach,
  type TracedMachine,
  type TraceMachineOptions,
  traceMachine,
} from './machine.ts';
export { traceWorkload } from './workload.ts';
export {
  ChromeTraceWriter,
  type ChromeTraceWriterOptions,
  DEFAULT_TRACE_CHUNK_SIZE,
  type TraceEvent,
  type TracePhase,
  type TraceSink,
} from './writer.ts';

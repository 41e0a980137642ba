/**
 * The loaded run as a Chrome trace: downloaded as a file, or handed to the Perfetto UI in a new
 * tab through its postMessage protocol (PING until it answers PONG, then the buffer), so the
 * trace never leaves the browser.
 * @module
 */
import { scenarioName, status, traceJson } from './store.ts';

const PERFETTO = 'https://ui.perfetto.dev';

function fileName(): string {
  return `${scenarioName.value || 'run'}.trace.json`;
}

/** Saves `json` as a download named `name`. */
export function saveJson(name: string, json: string): void {
  const url = URL.createObjectURL(new Blob([json], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Saves the loaded run's trace as `NAME.trace.json`. */
export async function downloadTrace(): Promise<void> {
  status.value = 'tracing…';
  const json = await traceJson();
  saveJson(fileName(), json);
  status.value = `trace of ${scenarioName.value}: ${json.length} bytes, saved as ${fileName()}`;
}

/** Opens the loaded run's trace in the Perfetto UI (a new tab). */
export async function openInPerfetto(): Promise<void> {
  // The tab opens on the click (pop-up blockers allow that), the trace follows once it is made.
  const win = window.open(PERFETTO);
  if (!win) {
    status.value = 'the browser blocked the Perfetto tab: download the trace and open it there';
    return;
  }
  const json = await traceJson();
  const buffer = new TextEncoder().encode(json).buffer;
  const ping = setInterval(() => win.postMessage('PING', PERFETTO), 100);
  const onMessage = (e: MessageEvent) => {
    if (e.source !== win || e.data !== 'PONG') return;
    clearInterval(ping);
    window.removeEventListener('message', onMessage);
    win.postMessage({ perfetto: { buffer, title: fileName() } }, PERFETTO);
  };
  window.addEventListener('message', onMessage);
  // Give up after a minute (offline, or the tab was closed).
  setTimeout(() => {
    clearInterval(ping);
    window.removeEventListener('message', onMessage);
  }, 60_000);
}

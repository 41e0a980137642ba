/**
 * CLI traces give CPU-side work a visible width: `--trace-spacing` (default 10 ns per event);
 * `--trace-spacing 0` keeps the virtual clock exactly, where most slices have zero width.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TMP = mkdtempSync(path.join(tmpdir(), 'hmmsim-spacing-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

interface TraceEvent {
  ph: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
}

/** Slices (B/E pairs and X events) and how many of them have no width. */
function widths(file: string): { slices: number; zero: number } {
  const events = (JSON.parse(readFileSync(file, 'utf8')) as { traceEvents: TraceEvent[] }).traceEvents;
  const open = new Map<string, number[]>();
  let slices = 0;
  let zero = 0;
  for (const e of events) {
    const track = `${e.pid}/${e.tid}`;
    if (e.ph === 'B') open.set(track, [...(open.get(track) ?? []), e.ts]);
    else if (e.ph === 'E') {
      const begin = open.get(track)!.pop()!;
      slices++;
      if (e.ts <= begin) zero++;
    } else if (e.ph === 'X') {
      slices++;
      if (!(e.dur! > 0)) zero++;
    }
  }
  return { slices, zero };
}

async function trace(extra: string[]): Promise<{ slices: number; zero: number }> {
  const out = path.join(TMP, `t${extra.join('')}.json`);
  const code = await main(['trace', 'examples/scenarios/fork_device_private.json', '-o', out, ...extra], {
    out: () => {},
    err: () => {},
    errIsTTY: false,
    cwd: ROOT,
    now: () => performance.now(),
    readStdin: () => '',
  });
  expect(code).toBe(0);
  return widths(out);
}

describe('--trace-spacing', () => {
  it('by default no slice of fork_device_private has zero width', async () => {
    const w = await trace([]);
    expect(w.slices).toBeGreaterThan(1000);
    expect(w.zero).toBe(0);
  });

  it('--trace-spacing 0 keeps virtual timestamps: the zero-cost CPU work has zero width', async () => {
    const w = await trace(['--trace-spacing', '0']);
    expect(w.zero).toBeGreaterThan(w.slices / 2);
  });
});

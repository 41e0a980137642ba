/**
 * Learn mode: the narrated run of `hmmsim demo` as chapters; each line of narration is a point of
 * the recording, so clicking it shows the maps as they were then.
 * @module
 */
import { cursor, recording, seek } from '../store.ts';

/** The narration with its lines as seek points. */
export function Learn() {
  const rec = recording.value;
  const at = cursor.value;
  if (rec?.scenario !== 'demo')
    return (
      <section class="panel">
        <p class="hint">loading the demo…</p>
      </section>
    );
  // The line being shown: the last one whose moment the cursor has reached.
  let current = -1;
  for (const [k, m] of rec.marks.entries()) if (m.row < at) current = k;
  return (
    <section class="panel learn" id="learn">
      <h3>Learn: a process and a device sharing memory</h3>
      <p class="hint">
        The narrated run of <code>hmmsim demo</code>. Click a line to see the page tables, the device mirror
        and the notifiers at that moment; ◀ ▶ walk line by line.
      </p>
      <ol>
        {rec.marks.map((m, k) => (
          <li class={k === current ? 'cur' : ''}>
            <button type="button" class="link" onClick={() => seek(m.row + 1)}>
              {m.text}
            </button>
          </li>
        ))}
      </ol>
    </section>
  );
}

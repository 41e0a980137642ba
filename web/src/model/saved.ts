/**
 * Scenarios saved in the browser (localStorage), by name: one key each, so a damaged entry
 * loses only itself, and reading never throws (storage may be disabled or full: the error says so).
 * @module
 */

const PREFIX = 'hmmsim.scenario:';

/** One saved scenario. */
export interface SavedScenario {
  readonly name: string;
  readonly text: string;
  /** ISO time of the save. */
  readonly saved: string;
}

/** Every saved scenario, by name. */
export function listSaved(store: Storage): SavedScenario[] {
  const out: SavedScenario[] = [];
  for (let i = 0; i < store.length; i++) {
    const k = store.key(i);
    if (k === null || !k.startsWith(PREFIX)) continue;
    const s = readEntry(store, k);
    if (s) out.push(s);
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

function readEntry(store: Storage, key: string): SavedScenario | null {
  try {
    const v = JSON.parse(store.getItem(key) ?? 'null') as Partial<SavedScenario> | null;
    if (v && typeof v.text === 'string')
      return { name: key.slice(PREFIX.length), text: v.text, saved: String(v.saved ?? '') };
  } catch {
    // A damaged entry is skipped, not removed: nothing is lost by reading.
  }
  return null;
}

/** Saves `text` as `name` (replacing a scenario of that name); throws with the reason when storage refuses. */
export function saveScenario(store: Storage, name: string, text: string, now = new Date()): void {
  const n = name.trim();
  if (n === '') throw new Error('give the scenario a name to save it under');
  try {
    store.setItem(PREFIX + n, JSON.stringify({ text, saved: now.toISOString() }));
  } catch (e) {
    throw new Error(`the browser did not save "${n}": ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The saved scenario `name`, or null. */
export function loadSaved(store: Storage, name: string): SavedScenario | null {
  return readEntry(store, PREFIX + name);
}

/** Deletes the saved scenario `name`. */
export function deleteSaved(store: Storage, name: string): void {
  store.removeItem(PREFIX + name);
}

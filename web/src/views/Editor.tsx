/**
 * The scenario editor: CodeMirror 6 with JSON highlighting and, as lint diagnostics at their line,
 * the messages `hmmsim run` prints for the same text (the CLI's own validator runs on each edit);
 * the line of the step under the cursor is lit.
 * Loaded lazily, once the first recording is drawn: the maps do not wait for it.
 * @module
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Recording } from '../model/recorder.ts';
import { deleteSaved, listSaved, loadSaved, type SavedScenario, saveScenario } from '../model/saved.ts';
import { parseScenario } from '../model/scenario-text.ts';
import { encodeShare } from '../model/share.ts';
import {
  cursor,
  linkError,
  pageReady,
  race,
  recording,
  runText,
  scenarioName,
  scenarioNameOf,
  scenarioText,
  shared,
} from '../store.ts';

/** The browser's storage, or null where it is disabled (reading it can throw). */
function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/**
 * The source line of the top-level step under the cursor — the step the last applied event
 * belongs to — or null at the start, in the set-up, or for a recording that is not the editor's
 * scenario (`ofScenario` false: a race's replay).
 */
export function stepLineAt(rec: Recording | null, at: number, ofScenario: boolean): number | null {
  if (!rec || !ofScenario || at <= 0) return null;
  // Marks are the step ends in order (the set-up's first); the last applied row is at − 1.
  const k = rec.marks.findIndex((m) => m.row >= at - 1);
  return k >= 1 ? (rec.marks[k]?.line ?? null) : null;
}

/** The editor with its Run button. */
export function Editor() {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<{
    text: () => string;
    set: (t: string) => void;
    light: (line: number | null) => void;
  } | null>(null);
  const [editorReady, setEditorReady] = useState(false);
  const [problems, setProblems] = useState<string[]>([]);
  const [saved, setSaved] = useState<SavedScenario[]>(() => {
    const st = storage();
    return st ? listSaved(st) : [];
  });
  const [saveName, setSaveName] = useState('');
  const [note, setNote] = useState('');
  const [link, setLink] = useState('');
  const ready = pageReady.value;
  const currentText = () => view.current?.text() ?? scenarioText.value;
  const save = () => {
    const st = storage();
    const text = currentText();
    const name = saveName.trim() || scenarioNameOf(text) || scenarioName.value || 'custom';
    if (!st) {
      setNote('this browser keeps no local storage here: download the scenario instead');
      return;
    }
    try {
      saveScenario(st, name, text);
      setSaved(listSaved(st));
      setNote(`saved "${name}" in this browser`);
    } catch (e) {
      setNote((e as Error).message);
    }
  };
  const share = async () => {
    const text = currentText();
    const param = await encodeShare(text);
    shared.value = { text, param };
    const url = `${location.origin}${location.pathname}?share=${param}`;
    setLink(url);
    try {
      await navigator.clipboard.writeText(url);
      setNote('link copied');
    } catch {
      setNote('copy the link below');
    }
  };
  useEffect(() => {
    if (!ready) return;
    let destroyed = false;
    let destroy = () => {};
    void (async () => {
      const [
        { EditorView, basicSetup },
        { json },
        { linter, lintGutter },
        { EditorState, StateEffect, StateField },
        { Decoration },
      ] = await Promise.all([
        import('codemirror'),
        import('@codemirror/lang-json'),
        import('@codemirror/lint'),
        import('@codemirror/state'),
        import('@codemirror/view'),
      ]);
      if (destroyed || !host.current) return;
      // The line of the step under the cursor, lit (a line decoration set by an effect).
      const setStepLine = StateEffect.define<number | null>();
      const litLine = Decoration.line({ class: 'cm-step-line' });
      const stepLine = StateField.define({
        create: () => Decoration.none,
        update(deco, tr) {
          // An edit unlights it: the recording's lines no longer name the text's steps.
          let d = tr.docChanged ? Decoration.none : deco;
          for (const e of tr.effects)
            if (e.is(setStepLine))
              d =
                e.value === null || e.value > tr.state.doc.lines
                  ? Decoration.none
                  : Decoration.set([litLine.range(tr.state.doc.line(e.value).from)]);
          return d;
        },
        provide: (f) => EditorView.decorations.from(f),
      });
      const lint = linter(
        (v) => {
          const text = v.state.doc.toString();
          const r = parseScenario(text, `${scenarioName.value || 'custom'}.json`);
          if (!('kind' in r)) {
            setProblems([]);
            return [];
          }
          setProblems([...r.messages]);
          return r.issues.map((i) => {
            const line = v.state.doc.line(Math.max(1, Math.min(v.state.doc.lines, i.line)));
            const from = Math.min(line.to, line.from + Math.max(0, i.column - 1));
            return {
              from,
              to: Math.max(from + 1, line.to),
              severity: 'error' as const,
              message: `${i.path}: ${i.message}`,
            };
          });
        },
        { delay: 250 },
      );
      const ev = new EditorView({
        state: EditorState.create({
          doc: scenarioText.value,
          extensions: [basicSetup, json(), lintGutter(), lint, stepLine],
        }),
        parent: host.current,
      });
      view.current = {
        text: () => ev.state.doc.toString(),
        set: (t) => ev.dispatch({ changes: { from: 0, to: ev.state.doc.length, insert: t } }),
        light: (line) => {
          const pos = line === null || line > ev.state.doc.lines ? null : ev.state.doc.line(line).from;
          ev.dispatch({
            effects: [
              setStepLine.of(line),
              ...(pos === null ? [] : [EditorView.scrollIntoView(pos, { y: 'nearest' })]),
            ],
          });
        },
      };
      setEditorReady(true);
      destroy = () => ev.destroy();
    })();
    return () => {
      destroyed = true;
      destroy();
    };
  }, [ready]);
  useEffect(() => {
    const v = view.current;
    if (v && v.text() !== scenarioText.value) v.set(scenarioText.value);
  }, [scenarioText.value]);
  // Light the step under the cursor while the editor shows the text that was recorded. The
  // host's data-step-line and data-step-at say which line is lit for which cursor (tests).
  const at = cursor.value;
  const line = stepLineAt(recording.value, at, race.value === null);
  useEffect(() => {
    const v = view.current;
    if (!v || !host.current) return;
    const shown = v.text() === scenarioText.value ? line : null;
    v.light(shown);
    host.current.dataset.stepLine = shown === null ? '' : String(shown);
  }, [line, editorReady, scenarioText.value]);
  useEffect(() => {
    if (view.current && host.current) host.current.dataset.stepAt = String(at);
  }, [at, line, editorReady, scenarioText.value]);
  return (
    <section class="panel editor" id="editor">
      <h3>
        Scenario JSON{' '}
        <button
          type="button"
          id="run"
          disabled={problems.length > 0}
          onClick={() => {
            const t = view.current?.text();
            if (t !== undefined) void runText(scenarioName.value || 'custom', t);
          }}
        >
          ▶ Run
        </button>
      </h3>
      <div ref={host} class="cm-host" />
      <ul class="problems" id="problems">
        {linkError.value && <li id="link-error">{linkError.value}</li>}
        {problems.map((p) => (
          <li>{p}</li>
        ))}
      </ul>
      <div class="saving">
        <input
          id="save-name"
          placeholder="name to save under"
          value={saveName}
          onInput={(e) => setSaveName((e.target as HTMLInputElement).value)}
        />{' '}
        <button type="button" id="save" onClick={save} title="keep this scenario in this browser">
          Save
        </button>{' '}
        <button type="button" id="share" onClick={() => void share()} title="a link that opens this scenario">
          Share link
        </button>{' '}
        <span class="hint" id="save-note">
          {note}
        </span>
        {link && (
          <input
            id="share-link"
            readOnly
            value={link}
            onFocus={(e) => (e.target as HTMLInputElement).select()}
          />
        )}
        <ul id="saved" class="saved">
          {saved.map((x) => (
            <li data-name={x.name}>
              <button
                type="button"
                class="link load"
                title={`saved ${x.saved}`}
                onClick={() => {
                  const st = storage();
                  const got = st ? loadSaved(st, x.name) : null;
                  if (got) void runText(scenarioNameOf(got.text) ?? x.name, got.text);
                }}
              >
                {x.name}
              </button>{' '}
              <button
                type="button"
                class="link delete"
                title={`delete "${x.name}" from this browser`}
                onClick={() => {
                  const st = storage();
                  if (!st) return;
                  deleteSaved(st, x.name);
                  setSaved(listSaved(st));
                  setNote(`deleted "${x.name}"`);
                }}
              >
                delete
              </button>
            </li>
          ))}
        </ul>
      </div>
    </section>
  );
}

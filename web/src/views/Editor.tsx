/**
 * The scenario editor: CodeMirror 6 with JSON highlighting and, as lint diagnostics at their line,
 * the messages `hmmsim run` prints for the same text (the CLI's own validator runs on each edit).
 * Loaded lazily, once the first recording is drawn: the maps do not wait for it.
 * @module
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { parseScenario } from '../model/scenario-text.ts';
import { pageReady, runText, scenarioName, scenarioText } from '../store.ts';

/** The editor with its Run button. */
export function Editor() {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<{ text: () => string; set: (t: string) => void } | null>(null);
  const [problems, setProblems] = useState<string[]>([]);
  const ready = pageReady.value;
  useEffect(() => {
    if (!ready) return;
    let destroyed = false;
    let destroy = () => {};
    void (async () => {
      const [{ EditorView, basicSetup }, { json }, { linter, lintGutter }, { EditorState }] =
        await Promise.all([
          import('codemirror'),
          import('@codemirror/lang-json'),
          import('@codemirror/lint'),
          import('@codemirror/state'),
        ]);
      if (destroyed || !host.current) return;
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
          extensions: [basicSetup, json(), lintGutter(), lint],
        }),
        parent: host.current,
      });
      view.current = {
        text: () => ev.state.doc.toString(),
        set: (t) => ev.dispatch({ changes: { from: 0, to: ev.state.doc.length, insert: t } }),
      };
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
        {problems.map((p) => (
          <li>{p}</li>
        ))}
      </ul>
    </section>
  );
}

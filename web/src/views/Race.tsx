/**
 * Race mode: run the explorer in the page (a scenario with one "threads" step, or a mutant's
 * scenario), paste a replay token from `hmmsim explore`, step through the interleaving it names,
 * and fork a "what if" by changing one decision.
 * @module
 */
import { useState } from 'preact/hooks';
import { whatIf } from '../model/jobs.ts';
import { race, runToken, seek, status } from '../store.ts';
import { RaceExplore } from './RaceExplore.tsx';

/** A decision point of an account: where, what was picked, among which candidates. */
interface DecisionPoint {
  readonly index: number;
  readonly thread: string;
  readonly where: string;
  readonly picked: string;
  readonly candidates: readonly string[];
}

/** The decision points of an account (`decision N at "…": pick → X of [A, B]`). */
export function decisions(steps: readonly { thread: string; what: string }[]): DecisionPoint[] {
  const out: DecisionPoint[] = [];
  for (const s of steps) {
    const m = /^decision (\d+) at (.*): [^→]+ → (.*) of \[(.*)\]$/.exec(s.what);
    if (!m) continue;
    out.push({
      index: Number(m[1]),
      thread: s.thread,
      where: m[2]!,
      picked: m[3]!,
      candidates: m[4]!.split(', '),
    });
  }
  return out;
}

/** The race panel. */
export function Race() {
  const r = race.value;
  const [token, setToken] = useState(r?.token ?? '');
  return (
    <section class="panel race" id="race">
      <h3>Race</h3>
      <RaceExplore setToken={setToken} />
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          void runToken(token);
        }}
      >
        <label>
          replay token{' '}
          <input
            id="token"
            size={60}
            value={token}
            onInput={(e) => setToken((e.target as HTMLInputElement).value)}
            placeholder="hx1.…"
          />
        </label>{' '}
        <button type="submit" id="replay">
          Replay
        </button>
      </form>
      {r && (
        <div>
          <p id="race-result" data-violation={r.violation?.oracle ?? ''}>
            {r.violation ? `VIOLATION (${r.violation.oracle}): ${r.violation.message}` : 'no violation'}
          </p>
          <h4>Decisions (change one to fork a "what if")</h4>
          <ol class="decisions" start={0} id="decisions">
            {decisions(r.accountSteps).map((d) => (
              <li>
                {d.thread}: {d.where} → <b>{d.picked}</b>{' '}
                {d.candidates.map((c, k) =>
                  k === (r.choices[d.index] ?? 0) ? null : (
                    <button
                      type="button"
                      class="link whatif"
                      data-decision={d.index}
                      data-choice={k}
                      title={`what if decision ${d.index} picked ${c}`}
                      onClick={() => {
                        const t = whatIf(r.data, r.choices, d.index, k);
                        setToken(t);
                        status.value = `what if decision ${d.index} picked ${c}: ${t}`;
                        void runToken(t);
                      }}
                    >
                      [what if {c}]
                    </button>
                  ),
                )}
              </li>
            ))}
          </ol>
          <h4>Account</h4>
          <pre class="account" id="account">
            {r.account}
          </pre>
          <p class="hint">
            Interleaving steps: {r.accountSteps.length};{' '}
            <button type="button" class="link" onClick={() => seek(0)}>
              back to the start
            </button>
          </p>
        </div>
      )}
    </section>
  );
}

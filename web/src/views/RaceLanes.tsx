/**
 * The race lanes (Race mode, in place of the filmstrip): one lane per simulated thread, the
 * replayed schedule's account as steps across them — bus events, the explorer's decisions
 * (preemptions marked), the switches between threads drawn as the jump from lane to lane — with
 * the violating step flagged and the replay token above. Stepping through the account (by step
 * or by decision point) moves the page's cursor to the machine state after each step.
 * @module
 */
import { cursor, race, raceStep, seek } from '../store.ts';

const LANE_H = 26;
const STEP_W = 16;
const LABEL_W = 96;

/** What an account step is, for its marker. */
export type StepKind = 'event' | 'invalidate' | 'decision' | 'preempt' | 'switch' | 'violation' | 'note';

/** The marker kind of an account step. */
export function stepKind(what: string, isEvent: boolean): StepKind {
  if (isEvent) return what.startsWith('invalidate_') ? 'invalidate' : 'event';
  if (what.startsWith('violation (')) return 'violation';
  if (what.startsWith('switch from ')) return 'switch';
  if (/^decision \d+ at .*: PREEMPT → /.test(what)) return 'preempt';
  if (what.startsWith('decision ')) return 'decision';
  return 'note';
}

/** The account step shown at the cursor: the one last stepped to, else the last one at or before it. */
export function currentStep(stepAt: readonly number[], chosen: number, at: number): number {
  if (chosen >= 0 && stepAt[chosen] === at) return chosen;
  let j = -1;
  for (let k = 0; k < stepAt.length; k++) if (stepAt[k]! <= at) j = k;
  return j;
}

/** Moves to account step `j` of the loaded race. */
export function goToRaceStep(j: number): void {
  const r = race.value;
  if (!r) return;
  const k = Math.max(0, Math.min(r.accountSteps.length - 1, j));
  raceStep.value = k;
  seek(r.stepAt[k]!);
}

/**
 * The decision step (a decision point of the schedule, preempting or not) after `cur` (dir 1) or
 * before it (dir −1), or −1 when there is none.
 */
export function nextDecision(kinds: readonly StepKind[], cur: number, dir: 1 | -1): number {
  for (let j = cur + dir; j >= 0 && j < kinds.length; j += dir)
    if (kinds[j] === 'decision' || kinds[j] === 'preempt') return j;
  return -1;
}

/** The lanes. */
export function RaceLanes() {
  const r = race.value;
  const at = cursor.value;
  if (!r) return null;
  const steps = r.accountSteps;
  const lanes: string[] = [];
  for (const s of steps) if (!lanes.includes(s.thread)) lanes.push(s.thread);
  const cur = currentStep(r.stepAt, raceStep.value, at);
  const kinds = steps.map((s, j) => stepKind(s.what, r.stepIsEvent[j] === true));
  const violation = kinds.indexOf('violation');
  const width = LABEL_W + steps.length * STEP_W + 8;
  const height = lanes.length * LANE_H;
  const xOf = (j: number) => LABEL_W + j * STEP_W + STEP_W / 2;
  const yOf = (lane: number) => lane * LANE_H + LANE_H / 2;
  const curStep = cur >= 0 ? steps[cur] : undefined;
  return (
    <section class="panel race-lanes" id="race-lanes">
      <h3>
        Interleaving{' '}
        <small>
          replay token <code id="race-token">{r.token}</code>
        </small>
      </h3>
      <div class="row">
        <button type="button" id="race-first" title="the start of the race" onClick={() => goToRaceStep(0)}>
          |◀
        </button>
        <button
          type="button"
          id="race-prev"
          title="previous step of the schedule"
          onClick={() => goToRaceStep(cur - 1)}
        >
          ◀
        </button>
        <button
          type="button"
          id="race-next"
          title="next step of the schedule"
          onClick={() => goToRaceStep(cur + 1)}
        >
          ▶
        </button>
        <button
          type="button"
          id="race-prev-decision"
          title="previous decision point of the schedule"
          disabled={nextDecision(kinds, cur, -1) < 0}
          onClick={() => goToRaceStep(nextDecision(kinds, cur, -1))}
        >
          ◀ decision
        </button>
        <button
          type="button"
          id="race-next-decision"
          title="next decision point of the schedule"
          disabled={nextDecision(kinds, cur, 1) < 0}
          onClick={() => goToRaceStep(nextDecision(kinds, cur, 1))}
        >
          decision ▶
        </button>
        {violation >= 0 && (
          <button
            type="button"
            id="race-violation"
            title="the violating step"
            onClick={() => goToRaceStep(violation)}
          >
            ⚑ violation
          </button>
        )}{' '}
        <span id="race-step-text" data-step={cur}>
          {curStep
            ? `step ${cur + 1}/${steps.length} · ${curStep.thread} · ${curStep.what}`
            : 'before the race'}
        </span>
      </div>
      <div class="lanes-scroll">
        <svg
          width={width}
          height={height}
          data-lanes={lanes.length}
          data-steps={steps.length}
          role="img"
          aria-label={`the schedule: ${steps.length} steps over ${lanes.length} threads`}
        >
          {lanes.map((l, i) => (
            <g class="lane">
              <rect x={0} y={i * LANE_H} width={width} height={LANE_H} fill={i % 2 ? '#fafafa' : '#f2f2f2'} />
              <text x={4} y={yOf(i) + 4} font-size="11">
                {l}
              </text>
            </g>
          ))}
          {violation >= 0 && (
            <rect
              class="violation-band"
              x={xOf(violation) - STEP_W / 2}
              y={0}
              width={STEP_W}
              height={height}
              fill="rgba(215,25,28,0.18)"
              pointer-events="none"
            />
          )}
          {cur >= 0 && (
            <rect
              class="cursor"
              x={xOf(cur) - STEP_W / 2}
              y={0}
              width={STEP_W}
              height={height}
              fill="none"
              stroke="#000"
              stroke-width={1.5}
              pointer-events="none"
            />
          )}
          {steps.map((s, j) => {
            const lane = lanes.indexOf(s.thread);
            const x = xOf(j);
            const y = yOf(lane);
            const k = kinds[j]!;
            const prev = j > 0 ? lanes.indexOf(steps[j - 1]!.thread) : lane;
            return (
              // biome-ignore lint/a11y/noStaticElementInteractions: a click is a shortcut; the keys reach every step through the ◀ ▶ buttons
              <g class="step" data-step={j} data-lane={lane} data-kind={k} onClick={() => goToRaceStep(j)}>
                <title>{`${j + 1}: ${s.thread} ${s.what}`}</title>
                <rect
                  x={x - STEP_W / 2}
                  y={lane * LANE_H}
                  width={STEP_W}
                  height={LANE_H}
                  fill="transparent"
                />
                {k === 'switch' && (
                  <line x1={x} y1={yOf(prev)} x2={x} y2={y} stroke="#555" stroke-width={1.5} />
                )}
                {k === 'preempt' ? (
                  <path d={`M${x - 6} ${y + 5} L${x + 6} ${y + 5} L${x} ${y - 6} Z`} fill="#d7191c" />
                ) : k === 'decision' ? (
                  <path d={`M${x} ${y - 5} L${x + 5} ${y} L${x} ${y + 5} L${x - 5} ${y} Z`} fill="#999" />
                ) : k === 'violation' ? (
                  <path
                    d={`M${x - 3} ${y + 8} L${x - 3} ${y - 8} L${x + 7} ${y - 4} L${x - 3} ${y}`}
                    fill="#d7191c"
                    stroke="#d7191c"
                  />
                ) : k === 'switch' ? (
                  <circle cx={x} cy={y} r={3} fill="#555" />
                ) : (
                  <circle
                    cx={x}
                    cy={y}
                    r={4}
                    fill={k === 'invalidate' ? '#e69f00' : k === 'event' ? '#0072b2' : '#bbb'}
                  />
                )}
              </g>
            );
          })}
        </svg>
      </div>
      <p class="legend">
        <span class="key">
          <i style={{ background: '#0072b2' }} />
          event
        </span>
        <span class="key">
          <i style={{ background: '#e69f00' }} />
          invalidation
        </span>
        <span class="key">
          <i style={{ background: '#999' }} />
          decision
        </span>
        <span class="key">
          <i style={{ background: '#d7191c' }} />
          preemption (▲) / violation (⚑)
        </span>
        <span class="key">
          <i style={{ background: '#555' }} />
          switch to another thread
        </span>
      </p>
    </section>
  );
}

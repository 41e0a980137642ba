/**
 * The page: the bar on top; the maps and, beside them, the inspector; the mode's panel (editor,
 * race, narration); the timeline, notifiers, event log, frames and space-time below. Workload
 * mode is the bar, the workload's panel and its results, nothing of a scenario's.
 * @module
 */

import { mode, partial, race } from './store.ts';
import { Controls } from './views/Controls.tsx';
import { Editor } from './views/Editor.tsx';
import { Filmstrip } from './views/Filmstrip.tsx';
import { Learn } from './views/Learn.tsx';
import { Maps } from './views/MapView.tsx';
import { EventLog, Frames, Inspector, Notifiers } from './views/Panels.tsx';
import { Race } from './views/Race.tsx';
import { RaceLanes } from './views/RaceLanes.tsx';
import { SpaceTime, Timeline } from './views/Timeline.tsx';
import { WorkloadPanel, WorkloadResults } from './views/Workload.tsx';

/** The whole page. */
export function App() {
  // A workload run has no page tables, events or steps: its mode shows its own panels only.
  if (mode.value === 'workload')
    return (
      <div class="app">
        <Controls />
        <main class="workload-main">
          <div class="left">
            <WorkloadPanel />
          </div>
          <div class="centre">
            <WorkloadResults />
          </div>
        </main>
      </div>
    );
  return (
    <div class="app">
      <Controls />
      <main>
        <div class="left">
          {mode.value === 'learn' ? <Learn /> : mode.value === 'race' ? <Race /> : <Editor />}
        </div>
        <div class="centre">
          <Maps />
        </div>
        <div class="right">
          <Inspector />
          <Notifiers />
        </div>
      </main>
      {/* What shows every event waits for the full recording (the first answer has the step ends). */}
      {partial.value ? null : (
        <>
          {mode.value === 'race' && race.value ? <RaceLanes /> : <Filmstrip />}
          <Timeline />
          <div class="bottom">
            <EventLog />
            <Frames />
            <SpaceTime />
          </div>
        </>
      )}
    </div>
  );
}

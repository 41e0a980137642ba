/**
 * The page: the bar on top; the maps and, beside them, the inspector; the mode's panel (editor,
 * race, narration); the timeline, notifiers, event log, frames and space-time below. Workload
 * mode is the bar, the workload's panel and its results, nothing of a scenario's.
 * @module
 */

import { firstShown, mode, partial, race } from './store.ts';
import { Controls } from './views/Controls.tsx';
import { Filmstrip } from './views/Filmstrip.tsx';
import { Learn } from './views/Learn.tsx';
import { lazyView } from './views/lazy.tsx';
import { Maps } from './views/MapView.tsx';
import { EventLog, Frames, Inspector, Notifiers } from './views/Panels.tsx';

// Not needed for the first maps: loaded when first drawn (see views/lazy.tsx).
const Editor = lazyView(() => import('./views/Editor.tsx').then((m) => m.Editor));
const Race = lazyView(() => import('./views/Race.tsx').then((m) => m.Race));
const RaceLanes = lazyView(() => import('./views/RaceLanes.tsx').then((m) => m.RaceLanes));
const Timeline = lazyView(() => import('./views/Timeline.tsx').then((m) => m.Timeline));
const SpaceTime = lazyView(() => import('./views/Timeline.tsx').then((m) => m.SpaceTime));
const WorkloadPanel = lazyView(() => import('./views/Workload.tsx').then((m) => m.WorkloadPanel));
const WorkloadResults = lazyView(() => import('./views/Workload.tsx').then((m) => m.WorkloadResults));

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
          {mode.value === 'learn' ? (
            <Learn />
          ) : mode.value === 'race' ? (
            <Race />
          ) : firstShown.value ? (
            <Editor />
          ) : null}
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

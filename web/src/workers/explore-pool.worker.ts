/**
 * One worker of the page's exploration pool (see explore-pool.ts): rebuilds the scenario from its
 * source, runs its share with {@link exploreShare}, posts progress and its report. A
 * `stopAfter` from the page lowers the schedules it may run; the worker hears it because the
 * exploration pauses every few schedules to let messages in.
 * @module
 */
import { explore } from '../../../src/explore/explore.ts';
import { exploreShare } from '../../../src/explore/workers.ts';
import { type PoolCommand, type PoolMessage, scenarioOfSource } from './explore-pool-source.ts';

const scope = self as unknown as Worker;
const post = (m: PoolMessage): void => scope.postMessage(m);
let limit = Number.POSITIVE_INFINITY;

/**
 * Lets the worker's event loop run (a `stopAfter` message) between schedules. A message to
 * itself, not a timer: nested timers are clamped to 4 ms.
 */
const channel = new MessageChannel();
const waiting: (() => void)[] = [];
channel.port1.onmessage = () => waiting.shift()?.();
const pause = (): Promise<void> =>
  new Promise((resolve) => {
    waiting.push(resolve);
    channel.port2.postMessage(null);
  });

scope.onmessage = (e: MessageEvent<PoolCommand>) => {
  const c = e.data;
  if (c.type === 'stopAfter') {
    limit = Math.min(limit, c.schedules);
    return;
  }
  void (async () => {
    try {
      const got = scenarioOfSource(c.source);
      if ('kind' in got) throw new Error(got.messages.join('\n'));
      const report = await exploreShare(got.scenario, c.share, {
        explore,
        now: () => performance.now(),
        pause,
        onProgress: (progress) => post({ type: 'progress', progress }),
        stopAfter: () => limit,
      });
      post({ type: 'report', report });
    } catch (err) {
      post({ type: 'error', message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
    }
  })();
};

/**
 * One worker of the page's exploration pool (see explore-pool.ts): rebuilds the scenario from its
 * source, runs its share with {@link exploreShare}, posts progress and its report. A
 * `stopAfter` from the page lowers the schedules it may run; the worker hears it because the
 * exploration pauses every few schedules to let messages in.
 * @module
 */
import { explore } from '../../../src/explore/explore.ts';
import { exploreShare } from '../../../src/explore/workers.ts';
import type { SchedulerHost } from '../../../src/sim/scheduler.ts';
import { type PoolCommand, type PoolMessage, scenarioOfSource } from './explore-pool-source.ts';

const scope = self as unknown as Worker;
const post = (m: PoolMessage): void => scope.postMessage(m);
let limit = Number.POSITIVE_INFINITY;

/**
 * Runs a callback as a task of its own, once the microtasks queued before it have run: a message
 * to itself (a timer would be clamped to 4 ms when nested). What Node's `setImmediate` is to the
 * CLI's workers.
 */
const channel = new MessageChannel();
const waiting: (() => void)[] = [];
channel.port1.onmessage = () => waiting.shift()?.();
const nextTask = (callback: () => void): void => {
  waiting.push(callback);
  channel.port2.postMessage(null);
};

/** Lets the worker's event loop run (a `stopAfter` message) between schedules. */
const pause = (): Promise<void> => new Promise((resolve) => nextTask(resolve));

/**
 * The schedulers' idle hook, as the CLI gives its own (`NODE_HOST`): a simulated thread that
 * awaits something outside the simulation leaves the microtask queue empty without progress, and
 * the scheduler then fails the schedule with an ExternalAwaitError naming the thread (the
 * exploration ends with that error) instead of waiting for ever.
 */
const host: SchedulerHost = { idle: nextTask };

scope.onmessage = (e: MessageEvent<PoolCommand>) => {
  const c = e.data;
  if (c.type === 'stopAfter') {
    limit = Math.min(limit, c.schedules);
    return;
  }
  void (async () => {
    try {
      const got = await scenarioOfSource(c.source);
      if ('kind' in got) throw new Error(got.messages.join('\n'));
      const report = await exploreShare(got.scenario, c.share, {
        explore,
        now: () => performance.now(),
        host,
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

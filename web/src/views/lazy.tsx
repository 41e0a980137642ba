/**
 * Views whose modules load when first drawn: the page's first chunk then holds what the first
 * maps need, and the editor (with the CLI's scenario parser), Race mode (the explorer), the
 * timeline and the workload charts (uPlot) come in chunks of their own, while the worker runs.
 * @module
 */
import { signal } from '@preact/signals';
import type { ComponentType, FunctionComponent } from 'preact';

/** Loads not yet finished. */
const loading = new Set<Promise<unknown>>();

/** A view drawn by the component `load` resolves to; nothing until its module is in. */
export function lazyView<P extends object>(load: () => Promise<ComponentType<P>>): FunctionComponent<P> {
  const view = signal<ComponentType<P> | null>(null);
  let started = false;
  return (props: P) => {
    const View = view.value;
    if (View) return <View {...props} />;
    if (!started) {
      started = true;
      const p = load().then((v) => {
        view.value = v;
      });
      loading.add(p);
      void p.finally(() => loading.delete(p));
    }
    return null;
  };
}

/** Resolves once every view drawn so far has its module (and the views they draw in turn). */
export async function viewsLoaded(): Promise<void> {
  for (;;) {
    // A frame lets the views that just loaded render, and start loading theirs.
    await new Promise((r) => requestAnimationFrame(r));
    if (loading.size === 0) return;
    await Promise.all(loading);
  }
}

/**
 * One `Kernel.observer` for many oracles. The kernel has a single observer slot; every oracle
 * attaches its partial {@link MmObserver} to the machine's hub, which exposes a hook only while
 * some attached observer provides it, so a producer's `if (o !== null && o.hook)` still skips the
 * hooks nobody watches. A watched hook is one function per hook shared by every hub, which calls
 * the members providing it in attachment order: attaching and detaching build no closure and
 * bind nothing (the explorer attaches its oracles to a fresh machine every schedule).
 * @module
 */
import type { Kernel } from '../../mm/kernel.ts';
import type { MmObserver } from '../../mm/observer.ts';

/** Every hook of {@link MmObserver}, in declaration order. */
export const OBSERVER_HOOKS = [
  'userRead',
  'userWrite',
  'userRead32',
  'userWrite32',
  'deviceAccess',
  'mirrorUpdate',
  'invalidateStart',
  'invalidateEnd',
  'pageFreed',
  'syscallBegin',
  'syscallEnd',
  'forked',
  'kernelAssert',
  'retryTimeout',
  'retryAttempt',
] as const satisfies readonly (keyof MmObserver)[];

type Hook = (a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown) => void;

/** Per hook (index in {@link OBSERVER_HOOKS}): calls it on every member of the hub it is called on. */
const DISPATCH: readonly Hook[] = OBSERVER_HOOKS.map((name, h): Hook => {
  return function (this: ObserverHub, a, b, c, d, e, f) {
    const owners = this.owners[h]!;
    for (let i = 0; i < owners.length; i++) {
      const o = owners[i]!;
      (o[name] as Hook).call(o, a, b, c, d, e, f);
    }
  };
});

/** The fan-out observer installed as `kernel.observer` (see the module comment). */
export class ObserverHub implements MmObserver {
  /** Fans out {@link MmObserver.userRead} (absent while no member provides it). */
  declare userRead?: MmObserver['userRead'];
  /** Fans out {@link MmObserver.userWrite} (absent while no member provides it). */
  declare userWrite?: MmObserver['userWrite'];
  /** Fans out {@link MmObserver.userRead32} (absent while no member provides it). */
  declare userRead32?: MmObserver['userRead32'];
  /** Fans out {@link MmObserver.userWrite32} (absent while no member provides it). */
  declare userWrite32?: MmObserver['userWrite32'];
  /** Fans out {@link MmObserver.deviceAccess} (absent while no member provides it). */
  declare deviceAccess?: MmObserver['deviceAccess'];
  /** Fans out {@link MmObserver.mirrorUpdate} (absent while no member provides it). */
  declare mirrorUpdate?: MmObserver['mirrorUpdate'];
  /** Fans out {@link MmObserver.invalidateStart} (absent while no member provides it). */
  declare invalidateStart?: MmObserver['invalidateStart'];
  /** Fans out {@link MmObserver.invalidateEnd} (absent while no member provides it). */
  declare invalidateEnd?: MmObserver['invalidateEnd'];
  /** Fans out {@link MmObserver.pageFreed} (absent while no member provides it). */
  declare pageFreed?: MmObserver['pageFreed'];
  /** Fans out {@link MmObserver.syscallBegin} (absent while no member provides it). */
  declare syscallBegin?: MmObserver['syscallBegin'];
  /** Fans out {@link MmObserver.syscallEnd} (absent while no member provides it). */
  declare syscallEnd?: MmObserver['syscallEnd'];
  /** Fans out {@link MmObserver.forked} (absent while no member provides it). */
  declare forked?: MmObserver['forked'];
  /** Fans out {@link MmObserver.kernelAssert} (absent while no member provides it). */
  declare kernelAssert?: MmObserver['kernelAssert'];
  /** Fans out {@link MmObserver.retryTimeout} (absent while no member provides it). */
  declare retryTimeout?: MmObserver['retryTimeout'];
  /** Fans out {@link MmObserver.retryAttempt} (absent while no member provides it). */
  declare retryAttempt?: MmObserver['retryAttempt'];
  /** The observers attached, in attachment order (calls reach them in this order). */
  readonly members: MmObserver[] = [];
  /**
   * @internal Per hook (index in {@link OBSERVER_HOOKS}): the members providing it, in attachment
   * order (the live list the hook's dispatch walks).
   */
  readonly owners: MmObserver[][] = [];

  constructor() {
    // Every hook present from the start (undefined while unwatched): the object keeps one shape.
    const self = this as unknown as Record<string, Hook | undefined>;
    for (let h = 0; h < OBSERVER_HOOKS.length; h++) {
      self[OBSERVER_HOOKS[h]!] = undefined;
      this.owners.push([]);
    }
  }

  /** Adds `observer` and exposes its hooks. */
  add(observer: MmObserver): void {
    this.members.push(observer);
    for (let h = 0; h < OBSERVER_HOOKS.length; h++) {
      if (observer[OBSERVER_HOOKS[h]!] === undefined) continue;
      this.owners[h]!.push(observer);
      this.expose(h);
    }
  }

  /** Removes `observer` (no-op when absent); true when none is left. */
  remove(observer: MmObserver): boolean {
    const i = this.members.indexOf(observer);
    if (i < 0) return this.members.length === 0;
    this.members.splice(i, 1);
    for (let h = 0; h < OBSERVER_HOOKS.length; h++) {
      const j = this.owners[h]!.indexOf(observer);
      if (j < 0) continue;
      this.owners[h]!.splice(j, 1);
      this.expose(h);
    }
    return this.members.length === 0;
  }

  /** Installs hook `h`: absent while no member provides it, else its dispatch. */
  private expose(h: number): void {
    const self = this as unknown as Record<string, Hook | undefined>;
    self[OBSERVER_HOOKS[h]!] = this.owners[h]!.length === 0 ? undefined : DISPATCH[h];
  }
}

/**
 * Attaches `observer` to `k`'s hub (creating the hub, and keeping an observer installed before
 * it as a member). Returns the function that detaches it again; the hub leaves `k.observer` when
 * its last member goes.
 */
export function attachObserver(k: Kernel, observer: MmObserver): () => void {
  let hub: ObserverHub;
  if (k.observer instanceof ObserverHub) hub = k.observer;
  else {
    hub = new ObserverHub();
    if (k.observer !== null) hub.add(k.observer);
    k.observer = hub;
  }
  hub.add(observer);
  let attached = true;
  return () => {
    if (!attached) return;
    attached = false;
    if (hub.remove(observer) && k.observer === hub) k.observer = null;
  };
}

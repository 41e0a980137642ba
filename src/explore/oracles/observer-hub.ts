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
    const owners = this.owners[h]! as MmObserver[];
    for (let i = 0; i < owners.length; i++) {
      const o = owners[i]!;
      (o[name] as Hook).call(o, a, b, c, d, e, f);
    }
  };
});

/** The fan-out observer installed as `kernel.observer` (see the module comment). */
export class ObserverHub implements MmObserver {
  /** Fans out {@link MmObserver.userRead} (absent while no member provides it). */
  userRead?: MmObserver['userRead'] = undefined;
  /** Fans out {@link MmObserver.userWrite} (absent while no member provides it). */
  userWrite?: MmObserver['userWrite'] = undefined;
  /** Fans out {@link MmObserver.userRead32} (absent while no member provides it). */
  userRead32?: MmObserver['userRead32'] = undefined;
  /** Fans out {@link MmObserver.userWrite32} (absent while no member provides it). */
  userWrite32?: MmObserver['userWrite32'] = undefined;
  /** Fans out {@link MmObserver.deviceAccess} (absent while no member provides it). */
  deviceAccess?: MmObserver['deviceAccess'] = undefined;
  /** Fans out {@link MmObserver.mirrorUpdate} (absent while no member provides it). */
  mirrorUpdate?: MmObserver['mirrorUpdate'] = undefined;
  /** Fans out {@link MmObserver.invalidateStart} (absent while no member provides it). */
  invalidateStart?: MmObserver['invalidateStart'] = undefined;
  /** Fans out {@link MmObserver.invalidateEnd} (absent while no member provides it). */
  invalidateEnd?: MmObserver['invalidateEnd'] = undefined;
  /** Fans out {@link MmObserver.pageFreed} (absent while no member provides it). */
  pageFreed?: MmObserver['pageFreed'] = undefined;
  /** Fans out {@link MmObserver.syscallBegin} (absent while no member provides it). */
  syscallBegin?: MmObserver['syscallBegin'] = undefined;
  /** Fans out {@link MmObserver.syscallEnd} (absent while no member provides it). */
  syscallEnd?: MmObserver['syscallEnd'] = undefined;
  /** Fans out {@link MmObserver.forked} (absent while no member provides it). */
  forked?: MmObserver['forked'] = undefined;
  /** Fans out {@link MmObserver.kernelAssert} (absent while no member provides it). */
  kernelAssert?: MmObserver['kernelAssert'] = undefined;
  /** Fans out {@link MmObserver.retryTimeout} (absent while no member provides it). */
  retryTimeout?: MmObserver['retryTimeout'] = undefined;
  /** Fans out {@link MmObserver.retryAttempt} (absent while no member provides it). */
  retryAttempt?: MmObserver['retryAttempt'] = undefined;
  /** The observers attached, in attachment order (calls reach them in this order). */
  readonly members: MmObserver[] = [];
  /**
   * @internal Per hook (index in {@link OBSERVER_HOOKS}): the members providing it, in attachment
   * order (the live list the hook's dispatch walks); null until some member provides the hook.
   * Every hook field above starts undefined, so the object keeps one shape; the lists are made
   * on first use (the explorer attaches its oracles to a fresh machine every schedule).
   */
  readonly owners: (MmObserver[] | null)[] = new Array<MmObserver[] | null>(OBSERVER_HOOKS.length).fill(null);

  /** Adds `observer` and exposes its hooks. */
  add(observer: MmObserver): void {
    this.members.push(observer);
    for (let h = 0; h < OBSERVER_HOOKS.length; h++) {
      if (observer[OBSERVER_HOOKS[h]!] === undefined) continue;
      let list = this.owners[h] ?? null;
      if (list === null) {
        list = [];
        this.owners[h] = list;
      }
      list.push(observer);
      if (list.length === 1) this.expose(h, true);
    }
  }

  /** Removes `observer` (no-op when absent); true when none is left. */
  remove(observer: MmObserver): boolean {
    const i = this.members.indexOf(observer);
    if (i < 0) return this.members.length === 0;
    this.members.splice(i, 1);
    for (let h = 0; h < OBSERVER_HOOKS.length; h++) {
      const list = this.owners[h] ?? null;
      if (list === null) continue;
      const j = list.indexOf(observer);
      if (j < 0) continue;
      list.splice(j, 1);
      if (list.length === 0) this.expose(h, false);
    }
    return this.members.length === 0;
  }

  /** Installs hook `h` (its dispatch) or removes it (absent: no member provides it). */
  private expose(h: number, on: boolean): void {
    const self = this as unknown as Record<string, Hook | undefined>;
    self[OBSERVER_HOOKS[h]!] = on ? DISPATCH[h] : undefined;
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
  // Whether it is still attached is read from the hub, not kept in a variable of this closure:
  // the explorer's post-setup snapshot restores the hub, never a closure's variables.
  return () => {
    if (!hub.members.includes(observer)) return;
    if (hub.remove(observer) && k.observer === hub) k.observer = null;
  };
}

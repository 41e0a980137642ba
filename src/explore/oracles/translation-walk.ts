/**
 * One walk of the device mirrors' translations for the oracles that judge them (mirror,
 * use-after-free). Each such oracle checks every translation at the same moments — a preemption
 * point, a context switch, the end of the run — so the first of them to be called at a moment
 * walks every registered mirror once and hands each translation to every checker that wants it;
 * the others, called next at that same moment, find their verdict ready. Verdicts are kept, not
 * reported, during the walk: each oracle reports its own in its own turn, so the order in which
 * violations reach the runner is the order of the oracles, as when each walked by itself.
 *
 * The walk lives on the machine's observer hub, one per machine, made by the first checker and
 * gone with the last. It watches what can make a translation wrong whatever the checker (a mirror
 * update, a freed page): after either, every mirror is due at the next moment; otherwise only the
 * mirrors that do not report their updates are, unless a checker has its own reason.
 * @module
 */
import type { DeviceMirror } from '../../mm/device-mirror.ts';
import type { Kernel } from '../../mm/kernel.ts';
import type { MmObserver } from '../../mm/observer.ts';
import { attachObserver, ObserverHub } from './observer-hub.ts';

/** An oracle's side of the shared walk. */
export interface TranslationChecker {
  /** True once the checker has a verdict: it wants no more translations. */
  readonly found: boolean;
  /**
   * A walk begins at a checking moment: whether the checker wants every mirror (true) or only
   * those that do not report their updates (false). `all` is true where every mirror is due for
   * every checker (the end of the run, or a mirror update or freed page since the last walk).
   * Called once per moment, before any {@link TranslationChecker.visit}.
   */
  begin(all: boolean): boolean;
  /** One translation of `mirror`: virtual page `vpn` → frame `pfn` with `DEVICE_ACCESS_*` bits. */
  visit(mirror: DeviceMirror, vpn: number, pfn: number, access: number, when: string): void;
}

/** The machine's shared translation walk (see the module comment). */
export class TranslationWalk implements MmObserver {
  private readonly k: Kernel;
  private readonly checkers: TranslationChecker[] = [];
  /** Per checker: whether it wants every mirror in the current walk. */
  private readonly all: boolean[] = [];
  /** Per checker: its turn at the current moment is still to come, its verdict ready. */
  private readonly served: boolean[] = [];
  private readonly detachFromHub: () => void;
  /** A mirror was updated or a page freed since the last walk. */
  private dirty = true;
  /** Scratch of the walk (kept on the instance: the visitor is built once). */
  private when = '';
  private current: DeviceMirror | null = null;
  private readonly visitor = (vpn: number, pfn: number, access: number): void => {
    const mirror = this.current!;
    const reports = mirror.reportsUpdates === true;
    const checkers = this.checkers;
    for (let i = 0; i < checkers.length; i++) {
      const c = checkers[i]!;
      if (!c.found && (this.all[i] || !reports)) c.visit(mirror, vpn, pfn, access, this.when);
    }
  };

  /** @internal Use {@link translationWalk}. */
  constructor(k: Kernel) {
    this.k = k;
    this.detachFromHub = attachObserver(k, this);
  }

  /** A mirror changed its translations: every mirror is due at the next moment. */
  mirrorUpdate(): void {
    this.dirty = true;
  }

  /** A page was freed: every mirror is due at the next moment. */
  pageFreed(): void {
    this.dirty = true;
  }

  /** Adds `checker`; returns the function that removes it (the walk leaves with the last one). */
  subscribe(checker: TranslationChecker): () => void {
    this.checkers.push(checker);
    this.all.push(false);
    this.served.push(false);
    // Whether it is still subscribed is read from the list, not kept in a variable of this
    // closure: the explorer's post-setup snapshot restores the list, never a closure's variables.
    return () => {
      const i = this.checkers.indexOf(checker);
      if (i < 0) return;
      this.checkers.splice(i, 1);
      this.all.splice(i, 1);
      this.served.splice(i, 1);
      if (this.checkers.length === 0) this.detachFromHub();
    };
  }

  /**
   * `checker`'s turn at a checking moment described by `when` (`all`: every mirror is due): walks
   * the mirrors for every checker unless an earlier checker's turn at this moment already did.
   */
  serve(checker: TranslationChecker, when: string, all: boolean): void {
    const checkers = this.checkers;
    const served = this.served;
    const me = checkers.indexOf(checker);
    if (served[me]) {
      served[me] = false;
      return;
    }
    const everything = all || this.dirty;
    this.dirty = false;
    let due = false;
    for (let i = 0; i < checkers.length; i++) {
      const c = checkers[i]!;
      served[i] = false;
      if (c.found) continue;
      this.all[i] = c.begin(everything);
      due = true;
      if (i !== me) served[i] = true;
    }
    if (!due) return;
    this.when = when;
    const mirrors = this.k.deviceMirrors;
    for (let m = 0; m < mirrors.length; m++) {
      const mirror = mirrors[m]!;
      if (!this.wanted(mirror)) continue;
      this.current = mirror;
      mirror.forEachTranslation(this.visitor);
    }
    this.current = null;
  }

  /** True while some checker without a verdict is still to see `mirror`'s translations. */
  private wanted(mirror: DeviceMirror): boolean {
    const reports = mirror.reportsUpdates === true;
    for (let i = 0; i < this.checkers.length; i++)
      if (!this.checkers[i]!.found && (this.all[i] || !reports)) return true;
    return false;
  }
}

/** The shared walk of `k`'s oracles, made (and attached to its observer hub) on first use. */
export function translationWalk(k: Kernel): TranslationWalk {
  const hub = k.observer;
  if (hub instanceof ObserverHub) for (const m of hub.members) if (m instanceof TranslationWalk) return m;
  return new TranslationWalk(k);
}

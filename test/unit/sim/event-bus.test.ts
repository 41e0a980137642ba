import { describe, expect, it } from 'vitest';
import { EventBus } from '../../../src/sim/event-bus.ts';

interface Ev {
  kind: string;
  n: number;
}

describe('EventBus', () => {
  it('is off with no listener, on with one, off again once it unsubscribes', () => {
    const bus = new EventBus<Ev>();
    expect(bus.on).toBe(false);
    const off = bus.subscribe(() => undefined);
    expect(bus.on).toBe(true);
    off();
    expect(bus.on).toBe(false);
  });

  it('stays on until the last of several listeners unsubscribes', () => {
    const bus = new EventBus<Ev>();
    const offA = bus.subscribe(() => undefined);
    const offB = bus.subscribe(() => undefined);
    offA();
    expect(bus.on).toBe(true);
    offB();
    expect(bus.on).toBe(false);
  });

  it('delivers each event to every listener, in attachment order, events in emit order', () => {
    const bus = new EventBus<Ev>();
    const log: string[] = [];
    bus.subscribe((e) => log.push(`a:${e.kind}${e.n}`));
    bus.subscribe((e) => log.push(`b:${e.kind}${e.n}`));
    bus.subscribe((e) => log.push(`c:${e.kind}${e.n}`));
    bus.emit({ kind: 'x', n: 1 });
    bus.emit({ kind: 'y', n: 2 });
    expect(log).toEqual(['a:x1', 'b:x1', 'c:x1', 'a:y2', 'b:y2', 'c:y2']);
  });

  it('passes the emitted object itself', () => {
    const bus = new EventBus<Ev>();
    const seen: Ev[] = [];
    bus.subscribe((e) => seen.push(e));
    const ev = { kind: 'k', n: 3 };
    bus.emit(ev);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBe(ev);
  });

  it('stops delivering to an unsubscribed listener and keeps the others in order', () => {
    const bus = new EventBus<Ev>();
    const log: string[] = [];
    bus.subscribe((e) => log.push(`a${e.n}`));
    const offB = bus.subscribe((e) => log.push(`b${e.n}`));
    bus.subscribe((e) => log.push(`c${e.n}`));
    bus.emit({ kind: 'e', n: 1 });
    offB();
    bus.emit({ kind: 'e', n: 2 });
    expect(log).toEqual(['a1', 'b1', 'c1', 'a2', 'c2']);
  });

  it('emits to nobody without failing', () => {
    const bus = new EventBus<Ev>();
    expect(() => bus.emit({ kind: 'none', n: 0 })).not.toThrow();
  });

  it('treats a second call of the same unsubscribe as a no-op', () => {
    const bus = new EventBus<Ev>();
    const log: number[] = [];
    const listener = (e: Ev): void => {
      log.push(e.n);
    };
    const off1 = bus.subscribe(listener);
    bus.subscribe(listener); // the same function attached twice
    bus.emit({ kind: 'e', n: 1 });
    off1();
    off1(); // must not detach the second attachment
    bus.emit({ kind: 'e', n: 2 });
    expect(log).toEqual([1, 1, 2]);
    expect(bus.on).toBe(true);
  });

  it('delivers the current event to every listener attached when the emit began, even if one unsubscribes', () => {
    const bus = new EventBus<Ev>();
    const log: string[] = [];
    const offA = bus.subscribe((e) => {
      log.push(`a${e.n}`);
      offA();
    });
    bus.subscribe((e) => log.push(`b${e.n}`));
    bus.subscribe((e) => log.push(`c${e.n}`));
    bus.emit({ kind: 'e', n: 1 });
    bus.emit({ kind: 'e', n: 2 });
    expect(log).toEqual(['a1', 'b1', 'c1', 'b2', 'c2']);
  });

  it('does not deliver the current event to a listener attached during the emit', () => {
    const bus = new EventBus<Ev>();
    const log: string[] = [];
    let attached = false;
    bus.subscribe((e) => {
      log.push(`a${e.n}`);
      if (!attached) {
        attached = true;
        bus.subscribe((e2) => log.push(`late${e2.n}`));
      }
    });
    bus.emit({ kind: 'e', n: 1 });
    bus.emit({ kind: 'e', n: 2 });
    expect(log).toEqual(['a1', 'a2', 'late2']);
  });
});

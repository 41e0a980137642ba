/**
 * A typed event bus for traces and observers. With no listener attached, `on` is false and a
 * producer pays one branch: `if (bus.on) bus.emit(...)`.
 * @module
 */

/** Receives every event emitted while attached. */
export type EventListener<E> = (event: E) => void;

/** Fan-out of events of type `E` to listeners. */
export class EventBus<E> {
  /** True while at least one listener is attached; producers test it before building an event. */
  on = false;
  private listeners: EventListener<E>[] = [];

  /** Attaches a listener; returns the function that detaches it. */
  subscribe(listener: EventListener<E>): () => void {
    // Copy on write: an emit in progress keeps iterating the array it started with.
    this.listeners = [...this.listeners, listener];
    this.on = true;
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners = [...this.listeners.slice(0, i), ...this.listeners.slice(i + 1)];
      this.on = this.listeners.length > 0;
    };
  }

  /** Delivers `event` to every listener attached when the emit began, in attachment order. */
  emit(event: E): void {
    for (const l of this.listeners) l(event);
  }
}

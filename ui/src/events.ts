import type { UiEvent } from "./bindings/UiEvent";

type Listener = (e: UiEvent) => void;

/** Fans the one engine event stream out to the parts of the screen that care. */
export class EventBus {
  private listeners = new Set<Listener>();
  on(l: Listener): () => void {
    this.listeners.add(l);
    return () => {
      this.listeners.delete(l);
    };
  }
  emit(e: UiEvent): void {
    for (const l of [...this.listeners]) l(e);
  }
}

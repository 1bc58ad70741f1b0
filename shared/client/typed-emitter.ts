type Listener = (...args: never[]) => void;

/**
 * A minimal typed event emitter that runs in the browser and in Node alike (Node's EventEmitter
 * does not exist in the browser, EventTarget's events are untyped). `on` returns its own undo.
 */
export class TypedEmitter<Events extends Record<keyof Events, Listener>> {
  private readonly listeners = new Map<keyof Events, Set<Listener>>();

  on<K extends keyof Events>(type: K, listener: Events[K]): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  protected emit<K extends keyof Events>(type: K, ...args: Parameters<Events[K]>): void {
    const set = this.listeners.get(type);
    if (!set) return;
    for (const listener of [...set]) (listener as (...a: Parameters<Events[K]>) => void)(...args);
  }
}

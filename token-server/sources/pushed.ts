// The state-and-listeners half of a Source: whoever loads the input (a directory watcher, an informer)
// pushes each good state or a rejection in; readers get the last good state and change notices.
import type { Source, Unsubscribe } from './types.js';

/** A Source whose state is pushed in from outside; keeps the last good state. */
export class PushedSource<T> implements Source<T> {
  private state: T | undefined;
  private readonly changeListeners = new Set<(state: T) => void>();
  private readonly rejectListeners = new Set<(reason: string) => void>();

  current(): T | undefined {
    return this.state;
  }

  onChange(listener: (state: T) => void): Unsubscribe {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  onRejected(listener: (reason: string) => void): Unsubscribe {
    this.rejectListeners.add(listener);
    return () => this.rejectListeners.delete(listener);
  }

  set(state: T): void {
    this.state = state;
    for (const l of this.changeListeners) l(state);
  }

  reject(reason: string): void {
    for (const l of this.rejectListeners) l(reason);
  }
}

/** The API client reports a lost session here; the shell turns it into a toast. */
type Listener = (reason: string) => void;
const listeners = new Set<Listener>();
let last: string | null = null;

export const authLostBus = {
  emit(reason: string) {
    last = reason;
    listeners.forEach((l) => l(reason));
  },
  subscribe(l: Listener): () => void {
    listeners.add(l);
    return () => listeners.delete(l);
  },
  /** A reason emitted before anyone listened (e.g. during the first render). */
  take(): string | null {
    const r = last;
    last = null;
    return r;
  },
};

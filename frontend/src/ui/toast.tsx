import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from "react";

export type ToastKind = "success" | "error" | "info";
/** A button on a toast, e.g. "Undo"; pressing it runs `run` and closes the toast. */
export interface ToastAction {
  label: string;
  run: () => void;
}

interface Toast {
  id: number;
  kind: ToastKind;
  text: string;
  action?: ToastAction;
}

interface ToastApi {
  show(kind: ToastKind, text: string, action?: ToastAction): void;
  success(text: string, action?: ToastAction): void;
  error(text: string): void;
  info(text: string): void;
}

const ToastContext = createContext<ToastApi | null>(null);

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const next = useRef(1);
  const dismiss = useCallback((id: number) => setToasts((t) => t.filter((x) => x.id !== id)), []);
  const api = useMemo<ToastApi>(() => {
    const show = (kind: ToastKind, text: string, action?: ToastAction) => {
      const id = next.current++;
      setToasts((t) => [...t.slice(-4), { id, kind, text, action }]);
      window.setTimeout(() => dismiss(id), kind === "error" || action ? 8000 : 4000);
    };
    return {
      show,
      success: (t, action) => show("success", t, action),
      error: (t) => show("error", t),
      info: (t) => show("info", t),
    };
  }, [dismiss]);
  return (
    <ToastContext.Provider value={api}>
      {children}
      <div className="toasts" role="status" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className={`toast toast-${t.kind}`} data-testid={`toast-${t.kind}`}>
            <span>{t.text}</span>
            {t.action ? (
              <button
                className="link-btn small"
                onClick={() => {
                  dismiss(t.id);
                  t.action!.run();
                }}
                data-testid="toast-action"
              >
                {t.action.label}
              </button>
            ) : null}
            <button className="icon-btn" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
              ×
            </button>
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  );
}

export function useToast(): ToastApi {
  const ctx = useContext(ToastContext);
  if (!ctx) throw new Error("useToast outside ToastProvider");
  return ctx;
}

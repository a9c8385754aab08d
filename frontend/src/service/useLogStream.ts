import { useCallback, useEffect, useRef, useState } from "react";
import { useApi } from "../app";
import type { DeploymentLog } from "../api/types";
import type { LogLine } from "../lib/logLines";
import { SSEParser } from "../lib/sse";

export type StreamStatus = "connecting" | "live" | "ended" | "error" | "paused";
export type { LogLine };

const MAX_LINES = 5000;

/**
 * A text/event-stream read with fetch so that it can carry the Bearer header (EventSource cannot).
 * Pausing keeps reading and buffers, so nothing is lost; resuming shows the buffered lines. A
 * stream that ends or fails while paused shows what it buffered (there is nothing left to pause).
 */
export function useLogStream(path: string | null) {
  const api = useApi();
  const [lines, setLines] = useState<LogLine[]>([]);
  const [status, setStatus] = useState<StreamStatus>("connecting");
  const [error, setError] = useState<string | null>(null);
  const [paused, setPaused] = useState(false);
  const [generation, setGeneration] = useState(0);
  const buffer = useRef<LogLine[]>([]);
  const pausedRef = useRef(false);
  const counter = useRef(0);
  const streamStatus = useRef<StreamStatus>("connecting");

  const flush = useCallback(() => {
    if (pausedRef.current || buffer.current.length === 0) return;
    const add = buffer.current;
    buffer.current = [];
    setLines((prev) => {
      const next = prev.concat(add);
      return next.length > MAX_LINES ? next.slice(next.length - MAX_LINES) : next;
    });
  }, []);

  useEffect(() => {
    if (!path) return;
    const ctrl = new AbortController();
    let raf = 0;
    const schedule = () => {
      if (!raf) raf = requestAnimationFrame(() => {
        raf = 0;
        flush();
      });
    };
    const push = (l: Omit<LogLine, "n">) => {
      buffer.current.push({ ...l, n: counter.current++ });
      schedule();
    };
    const set = (s: StreamStatus) => {
      streamStatus.current = s;
      if (s === "ended" || s === "error") {
        pausedRef.current = false;
        setPaused(false);
        schedule();
      }
      setStatus(pausedRef.current && s === "live" ? "paused" : s);
    };
    set("connecting");
    setError(null);
    (async () => {
      const res = await api.fetchAuthed(path, { headers: { Accept: "text/event-stream, text/plain, application/json" }, signal: ctrl.signal });
      if (!res.ok) {
        let msg = `${res.status}`;
        try {
          msg = ((await res.json()) as { message?: string }).message ?? msg;
        } catch {
          /* not JSON */
        }
        throw new Error(msg);
      }
      const type = res.headers.get("Content-Type") ?? "";
      if (!type.includes("event-stream")) {
        // A finished deployment's stored log.
        const rows = ((await res.json()) as DeploymentLog).log.split("\n");
        rows.filter((r, i) => r !== "" || i < rows.length - 1).forEach((r) => push({ container: "", stream: "stdout", text: r }));
        set("ended");
        return;
      }
      set("live");
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SSEParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const ev of parser.feed(value)) {
          if (ev.event === "end") {
            set("ended");
            ctrl.abort();
            return;
          }
          if (!ev.data) continue;
          let d: Record<string, unknown>;
          try {
            d = JSON.parse(ev.data) as Record<string, unknown>;
          } catch {
            push({ container: "", stream: "stdout", text: ev.data });
            continue;
          }
          const container = String(d["container_id"] ?? "").slice(0, 12);
          const replica = typeof d["replica"] === "number" ? d["replica"] : undefined;
          const ts = typeof d["ts"] === "string" ? d["ts"] : undefined;
          if (d["event"]) push({ container, replica, stream: "event", text: `— container ${String(d["event"]).replace("container_", "")} —`, event: true });
          else push({ container, replica, stream: String(d["stream"] ?? "stdout"), text: String(d["line"] ?? ""), ts });
        }
      }
      set("ended");
    })().catch((err: unknown) => {
      if (ctrl.signal.aborted) return;
      setError(err instanceof Error ? err.message : "The stream failed.");
      set("error");
    });
    return () => {
      ctrl.abort();
      cancelAnimationFrame(raf);
    };
  }, [api, path, generation, flush]);

  const pause = useCallback(() => {
    pausedRef.current = true;
    setPaused(true);
    if (streamStatus.current === "live") setStatus("paused");
  }, []);
  const resume = useCallback(() => {
    pausedRef.current = false;
    setPaused(false);
    setStatus(streamStatus.current);
    flush();
  }, [flush]);
  const clear = useCallback(() => {
    buffer.current = [];
    setLines([]);
  }, []);
  const retry = useCallback(() => {
    setLines([]);
    buffer.current = [];
    setGeneration((g) => g + 1);
  }, []);

  /** Every line held, the ones buffered while paused included. */
  const held = useCallback(() => lines.concat(buffer.current), [lines]);

  return { lines, status, error, paused, pause, resume, clear, retry, held };
}

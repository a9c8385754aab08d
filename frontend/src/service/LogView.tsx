import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { userColour } from "../app";
import { filterLines, formatLogTime, logFileName, logFileText, replicaOptions, splitMatches } from "../lib/logLines";
import { useLogStream, type StreamStatus } from "./useLogStream";

const STATUS_TEXT: Record<StreamStatus, string> = {
  connecting: "Connecting…",
  live: "Live",
  ended: "Ended",
  error: "Error",
  paused: "Paused",
};

const TIMESTAMPS_KEY = "deploykit.logs.timestamps";

function initialTimestamps(): boolean {
  try {
    return localStorage.getItem(TIMESTAMPS_KEY) !== "off";
  } catch {
    return true;
  }
}

function download(name: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

/**
 * A log: each line with its time (where the engine stamped one) and replica, a filter that narrows
 * the lines to those containing some text, a replica picker when several replicas print, and
 * Download of every line held. ``finite`` logs (a deployment's build and start log) are complete
 * when their stream ends: they offer neither Pause nor Reconnect then. A runtime log ends when the
 * containers it followed stop, so Reconnect follows the service's current ones.
 */
export function LogView({
  path,
  testId,
  emptyText,
  fileName,
  finite = false,
}: {
  path: string;
  testId: string;
  emptyText: string;
  /** The downloaded file's name before its time, e.g. the service's or deployment's name. */
  fileName: string;
  finite?: boolean;
}) {
  const s = useLogStream(path);
  const box = useRef<HTMLDivElement>(null);
  const [follow, setFollow] = useState(true);
  const [query, setQuery] = useState("");
  const [container, setContainer] = useState("");
  const [timestamps, setTimestamps] = useState(initialTimestamps);
  const shown = useMemo(() => filterLines(s.lines, { query, container }), [s.lines, query, container]);
  const replicas = useMemo(() => replicaOptions(s.lines), [s.lines]);
  const stamped = useMemo(() => s.lines.some((l) => l.ts), [s.lines]);
  useLayoutEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [shown, follow]);
  useEffect(() => {
    setFollow(true);
    setContainer("");
  }, [path]);
  const narrowed = query !== "" || container !== "";
  const pausable = s.status === "live" || s.status === "connecting" || s.status === "paused";
  const reconnectable = s.status === "error" || (s.status === "ended" && !finite);
  const showTs = timestamps && stamped;

  return (
    <div className="logview" data-testid={testId}>
      <div className="log-toolbar">
        <span className={`stream-status st-${s.status}`} data-testid={`${testId}-status`} data-status={s.status} role="status">
          <span className="dot" />
          {STATUS_TEXT[s.status]}
        </span>
        <input
          type="search"
          className="log-search"
          placeholder="Filter lines…"
          aria-label="Filter log lines"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          data-testid={`${testId}-filter`}
        />
        {replicas.length > 1 || container ? (
          <select className="log-replica" aria-label="Replica" value={container} onChange={(e) => setContainer(e.target.value)} data-testid={`${testId}-replica`}>
            <option value="">All replicas</option>
            {replicas.map((r) => (
              <option key={r.container} value={r.container}>
                {r.label}
              </option>
            ))}
          </select>
        ) : null}
        <span className="muted small" data-testid={`${testId}-count`} aria-live="polite">
          {narrowed ? `${shown.length} of ${s.lines.length} lines` : `${s.lines.length} lines`}
        </span>
        <div className="grow" />
        {stamped ? (
          <label className="small log-ts-toggle">
            <input
              type="checkbox"
              checked={timestamps}
              onChange={(e) => {
                setTimestamps(e.target.checked);
                try {
                  localStorage.setItem(TIMESTAMPS_KEY, e.target.checked ? "on" : "off");
                } catch {
                  /* storage unavailable: the choice lasts for this view */
                }
              }}
              data-testid={`${testId}-timestamps`}
            />{" "}
            Timestamps
          </label>
        ) : null}
        {reconnectable ? (
          <button className="btn btn-sm" onClick={s.retry} data-testid={`${testId}-reconnect`}>
            Reconnect
          </button>
        ) : null}
        {pausable ? (
          <button className="btn btn-sm" onClick={s.paused ? s.resume : s.pause} data-testid={`${testId}-pause`} aria-pressed={s.paused}>
            {s.paused ? "Resume" : "Pause"}
          </button>
        ) : null}
        <button
          className="btn btn-sm"
          onClick={() => download(logFileName(fileName, new Date()), logFileText(s.held()))}
          disabled={s.lines.length === 0}
          title="Save every line held (not only the filtered ones) as a .log file"
          data-testid={`${testId}-download`}
        >
          Download all
        </button>
        {!(finite && s.status === "ended") ? (
          <button className="btn btn-sm" onClick={s.clear} data-testid={`${testId}-clear`}>
            Clear
          </button>
        ) : null}
      </div>
      {s.error ? <div className="form-error small">{s.error}</div> : null}
      <div
        className="log-lines"
        ref={box}
        tabIndex={0}
        aria-label="Log output"
        onScroll={(e) => {
          const el = e.currentTarget;
          setFollow(el.scrollHeight - el.scrollTop - el.clientHeight < 24);
        }}
      >
        {s.lines.length === 0 ? <div className="muted log-empty">{s.status === "connecting" ? "Waiting for output…" : emptyText}</div> : null}
        {s.lines.length > 0 && shown.length === 0 ? <div className="muted log-empty">No line matches the filter.</div> : null}
        {shown.map((l) => (
          <div key={l.n} className={`log-line ${l.stream === "stderr" ? "stderr" : ""}${l.event ? " log-event" : ""}`} data-testid="log-line" data-container={l.container || undefined}>
            {showTs ? (
              <time className="log-ts" dateTime={l.ts} title={l.ts} data-testid="log-ts">
                {formatLogTime(l.ts) || "\u00a0".repeat(12)}
              </time>
            ) : null}
            {l.container ? (
              <span className="log-ctr" style={{ color: userColour(l.container) }} title={l.replica == null ? l.container : `replica ${l.replica} · ${l.container}`}>
                {l.replica == null ? l.container.slice(0, 6) : `r${l.replica}`}
              </span>
            ) : null}
            <span className="log-text">
              {splitMatches(l.text, query).map((p, i) => (p.match ? <mark key={i}>{p.text}</mark> : p.text))}
            </span>
          </div>
        ))}
      </div>
      {!follow ? (
        <button className="btn btn-sm jump-latest" onClick={() => setFollow(true)} data-testid={`${testId}-jump`}>
          ↓ Jump to latest
        </button>
      ) : null}
    </div>
  );
}

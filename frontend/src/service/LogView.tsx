import { useEffect, useLayoutEffect, useRef, useState } from "react";
import { userColour } from "../app";
import { useLogStream, type StreamStatus } from "./useLogStream";

const STATUS_TEXT: Record<StreamStatus, string> = {
  connecting: "Connecting…",
  live: "Live",
  ended: "Ended",
  error: "Error",
  paused: "Paused",
};

export function LogView({ path, testId, emptyText }: { path: string; testId: string; emptyText: string }) {
  const s = useLogStream(path);
  const box = useRef<HTMLDivElement>(null);
  const [follow, setFollow] = useState(true);
  useLayoutEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [s.lines, follow]);
  useEffect(() => setFollow(true), [path]);
  const containers = [...new Set(s.lines.map((l) => l.container).filter(Boolean))];
  return (
    <div className="logview" data-testid={testId}>
      <div className="log-toolbar">
        <span className={`stream-status st-${s.status}`} data-testid={`${testId}-status`} data-status={s.status}>
          <span className="dot" />
          {STATUS_TEXT[s.status]}
        </span>
        {containers.length > 1 ? (
          <span className="log-legend">
            {containers.map((c) => (
              <span key={c} style={{ color: userColour(c) }}>
                ● {c.slice(0, 8)}
              </span>
            ))}
          </span>
        ) : null}
        <div className="grow" />
        {s.status === "error" || s.status === "ended" ? (
          <button className="btn btn-sm" onClick={s.retry}>
            Reconnect
          </button>
        ) : null}
        <button className="btn btn-sm" onClick={s.paused ? s.resume : s.pause} data-testid={`${testId}-pause`} aria-pressed={s.paused}>
          {s.paused ? "Resume" : "Pause"}
        </button>
        <button className="btn btn-sm" onClick={s.clear}>
          Clear
        </button>
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
        {s.lines.map((l) => (
          <div key={l.n} className={`log-line ${l.stream === "stderr" ? "stderr" : ""}${l.event ? " log-event" : ""}`}>
            {l.container ? (
              <span className="log-ctr" style={{ color: userColour(l.container) }} title={l.container}>
                {l.container.slice(0, 6)}
              </span>
            ) : null}
            <span className="log-text">{l.text}</span>
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

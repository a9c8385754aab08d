import { ViewportPortal } from "@xyflow/react";
import { userColour } from "../app";
import type { Cursor, DraftView } from "./model";

/** What the others are doing, drawn in canvas coordinates: their drafts as ghosts, their cursors. */
export function RemoteActivity({ drafts, cursors }: { drafts: DraftView[]; cursors: Cursor[] }) {
  return (
    <ViewportPortal>
      {drafts.map((d) => (
        <div
          key={d.draft_id}
          className="draft-ghost"
          style={{ transform: `translate(${d.x ?? 0}px, ${d.y ?? 0}px)`, borderColor: userColour(d.user_id) }}
          data-testid="draft-ghost"
        >
          <strong>{d.name || "New service"}</strong>
          <span>{d.user_name} is adding a service…</span>
        </div>
      ))}
      {cursors.map((c) => (
        <div key={c.user_id} className="remote-cursor" style={{ transform: `translate(${c.x}px, ${c.y}px)` }} data-testid="remote-cursor" data-user={c.user_name}>
          <svg width="18" height="18" viewBox="0 0 18 18" aria-hidden>
            <path d="M1 1 L1 15 L5 11 L8 17 L10 16 L7 10 L13 10 Z" fill={userColour(c.user_id)} stroke="#0b0d12" strokeWidth="1" />
          </svg>
          <span className="cursor-name" style={{ background: userColour(c.user_id) }}>
            {c.user_name}
          </span>
        </div>
      ))}
    </ViewportPortal>
  );
}

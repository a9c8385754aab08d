import { Link } from "react-router";
import { initials, userColour } from "../app";
import type { Presence } from "../api/types";
import { presenceId, presenceName } from "./model";
import type { SocketStatus } from "./socket";

/** The bar above the canvas: where you are, the staged rename, the socket's state, who else is here. */
export function CanvasHeader({
  projectId,
  projectName,
  stagedName,
  status,
  attempt,
  users,
  myId,
  onAddService,
  onImportCompose,
}: {
  projectId: string;
  projectName: string | undefined;
  stagedName: string | null;
  status: SocketStatus;
  attempt: number;
  users: Presence[];
  myId: string | undefined;
  onAddService: () => void;
  onImportCompose: () => void;
}) {
  return (
    <div className="canvas-head">
      <Link to="/" className="crumb">
        Projects
      </Link>
      <span className="crumb-sep">/</span>
      <h1 className="canvas-title" data-testid="project-title">
        {projectName ?? "…"}
      </h1>
      {stagedName && stagedName !== projectName ? (
        <span className="badge badge-staged" title="Renamed with the next deploy">
          → {stagedName}
        </span>
      ) : null}
      <span className={`conn conn-${status}`} data-testid="connection-status" title={status === "reconnecting" ? `Reconnecting (attempt ${attempt})` : status}>
        <span className="dot" />
        {status === "open" ? "Live" : status === "reconnecting" ? "Reconnecting…" : status === "connecting" ? "Connecting…" : "Offline"}
      </span>
      <div className="grow" />
      <div className="avatars" data-testid="presence">
        {users.map((u) => {
          const id = presenceId(u);
          return (
            <span
              key={id}
              className={`avatar small${id === myId ? " me" : ""}`}
              style={{ background: userColour(id) }}
              title={presenceName(u) + (id === myId ? " (you)" : "")}
              data-testid="presence-avatar"
            >
              {initials(presenceName(u))}
            </span>
          );
        })}
      </div>
      <button className="btn btn-sm" onClick={onAddService} data-testid="add-service-button">
        + Service
      </button>
      <button className="btn btn-sm" onClick={onImportCompose} data-testid="import-compose-button">
        Import compose
      </button>
      <Link to={`/projects/${projectId}/settings`} className="btn btn-sm" data-testid="project-settings-link">
        Settings
      </Link>
    </div>
  );
}

import { useState } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useApi } from "../app";
import type { components } from "../api/schema";
import type { ProjectPage, UserPage } from "../api/types";
import { SelectField, Spinner, errorText, fieldError } from "../ui/controls";

type Entry = components["schemas"]["AuditEntryOut"];
type AuditPage = components["schemas"]["AuditPage"];

const PAGE = 50;
const ACTIONS: { value: string; label: string }[] = [
  { value: "", label: "Every action" },
  { value: "changes.applied", label: "Changes applied" },
  { value: "deployment.", label: "Deployments (deploy, redeploy, rollback)" },
  { value: "service.", label: "Stop, start, restart" },
  { value: "domain.", label: "Domains" },
  { value: "webhook.", label: "Webhooks" },
  { value: "deploy_key.", label: "Deploy keys" },
  { value: "user.", label: "Users" },
  { value: "api_key.", label: "API keys" },
  { value: "auth.", label: "Logins and profiles" },
  { value: "auth.login_failed", label: "Failed logins" },
  { value: "notification_channel.", label: "Notification channels" },
  { value: "setting.", label: "Settings" },
  { value: "project.", label: "Projects" },
];

function who(e: Entry): string {
  const a = e.actor;
  if (!a) return "system";
  const name = a.name ?? a.user_id ?? "someone";
  return a.api_key_name ? `${name} (API key “${a.api_key_name}”)` : name;
}

/** What an entry's details say in one line: names, never values (the server keeps none). */
function summary(e: Entry): string {
  const d = e.details as Record<string, unknown>;
  if (Array.isArray(d.changes)) {
    return (d.changes as { kind: string; payload?: Record<string, unknown> }[])
      .map((c) => {
        const what = c.payload?.key ?? c.payload?.name;
        return what ? `${c.kind} ${String(what)}` : c.kind;
      })
      .join(", ");
  }
  const parts = ["name", "hostname", "email", "description", "provider", "fields", "key", "kind", "rollback_of"]
    .filter((k) => d[k] !== undefined && d[k] !== null)
    .map((k) => `${k.replace(/_/g, " ")}: ${Array.isArray(d[k]) ? (d[k] as unknown[]).join(", ") : String(d[k])}`);
  return parts.join(" · ");
}

/** The admin page's Audit log tab: who did what, when, from where; filtered and paged. */
export function AuditLog() {
  const api = useApi();
  const [filters, setFilters] = useState({ project: "", user: "", action: "", since: "" });
  const [offset, setOffset] = useState(0);
  const projects = useQuery({ queryKey: ["projects", "all"], queryFn: async () => (await api.get<ProjectPage>("/projects?limit=100")).data });
  const users = useQuery({ queryKey: ["users"], queryFn: async () => (await api.get<UserPage>("/users?limit=100")).data });
  const query = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  for (const [k, v] of Object.entries(filters)) if (v) query.set(k, k === "since" ? new Date(v).toISOString() : v);
  const log = useQuery({
    queryKey: ["audit-log", query.toString()],
    queryFn: () => api.get<AuditPage>(`/audit-log?${query.toString()}`),
    placeholderData: keepPreviousData,
  });
  const set = (k: keyof typeof filters) => (e: { target: { value: string } }) => {
    setFilters({ ...filters, [k]: e.target.value });
    setOffset(0);
  };
  const projectName = (id: string | null) => (id ? projects.data?.find((p) => p.id === id)?.name ?? id.slice(0, 8) : "");
  const total = log.data?.total_count ?? 0;
  return (
    <section className="card" data-testid="admin-audit">
      <h2>Audit log</h2>
      <div className="row audit-filters">
        <SelectField label="Project" name="project" value={filters.project} onChange={set("project")}>
          <option value="">Every project</option>
          {(projects.data ?? []).map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </SelectField>
        <SelectField label="User" name="user" value={filters.user} onChange={set("user")}>
          <option value="">Everyone</option>
          {(users.data ?? []).map((u) => (
            <option key={u.id} value={u.id}>
              {u.email}
            </option>
          ))}
        </SelectField>
        <SelectField label="Action" name="action" value={filters.action} onChange={set("action")}>
          {ACTIONS.map((a) => (
            <option key={a.value} value={a.value}>
              {a.label}
            </option>
          ))}
        </SelectField>
        <div className="field">
          <label htmlFor="audit-since">Since</label>
          <input id="audit-since" name="since" type="datetime-local" value={filters.since} onChange={set("since")} />
        </div>
      </div>
      {log.isPending ? <Spinner /> : null}
      {log.error ? <div className="form-error">{fieldError(log.error, "since") ?? errorText(log.error)}</div> : null}
      {log.data && log.data.data.length === 0 ? <p className="muted small">Nothing recorded matches.</p> : null}
      <table className="env-table">
        <tbody>
          {(log.data?.data ?? []).map((e) => (
            <tr key={e.id} data-testid="audit-row" data-action={e.action}>
              <td className="small muted nowrap" title={e.at}>
                {new Date(e.at).toLocaleString()}
              </td>
              <td>
                <strong>{e.action}</strong> {e.project_id ? <span className="badge">{projectName(e.project_id)}</span> : null}
                <div className="small">{summary(e)}</div>
              </td>
              <td className="small">
                {who(e)}
                <div className="muted mono">{e.actor?.address ?? ""}</div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {total > PAGE ? (
        <div className="row small">
          <button className="btn btn-sm" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
            Newer
          </button>
          <span className="muted">
            {offset + 1}–{Math.min(offset + PAGE, total)} of {total}
          </span>
          <button className="btn btn-sm" disabled={offset + PAGE >= total} onClick={() => setOffset(offset + PAGE)} data-testid="audit-older">
            Older
          </button>
        </div>
      ) : null}
    </section>
  );
}

import { useMemo, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { keys, useApi } from "../app";
import type { EnvScope, EnvVar, EnvVarList, PendingChange, Service } from "../api/types";
import { resolveEnv, type StagedEnv } from "../lib/envInheritance";
import { errorText, fieldError } from "../ui/controls";
import { useToast } from "../ui/toast";

/** Staged env edits for the given scopes, as the inheritance view needs them. */
export function stagedEnvFor(pending: PendingChange[], scopes: { scope: EnvScope; id: string }[], known: EnvVar[]): StagedEnv[] {
  const byId = new Map(known.map((v) => [v.id, v]));
  const out: StagedEnv[] = [];
  for (const c of pending) {
    if (!c.kind.startsWith("env_var.")) continue;
    const deleted = c.kind === "env_var.delete";
    const p = c.payload;
    const existing = byId.get(String(p["id"] ?? c.target_id ?? ""));
    const scope = (p["scope"] as EnvScope | undefined) ?? existing?.scope;
    const scopeId = (p["scope_id"] as string | undefined) ?? existing?.scope_id;
    const key = (p["key"] as string | undefined) ?? existing?.key;
    if (!scope || !key || !scopes.some((s) => s.scope === scope && s.id === scopeId)) continue;
    const value = deleted ? null : String(p["value"] ?? "");
    out.push({ changeId: c.id, scope, key, value, op: deleted ? "removed" : existing ? "changed" : "added" });
  }
  return out;
}

export function VariablesTab({
  projectId,
  service,
  groupId,
  pending,
}: {
  projectId: string;
  service: Service;
  groupId: string | undefined;
  pending: PendingChange[];
}) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const svcPath = `/projects/${projectId}/services/${service.id}/env-vars`;
  const svcVars = useQuery({ queryKey: keys.envVars(projectId, "service", service.id), queryFn: async () => (await api.get<EnvVarList>(`${svcPath}?limit=100`)).data });
  const projVars = useQuery({ queryKey: keys.envVars(projectId, "project", projectId), queryFn: async () => (await api.get<EnvVarList>(`/projects/${projectId}/env-vars?limit=100`)).data });
  const groupVars = useQuery({
    queryKey: keys.envVars(projectId, "group", groupId ?? "-"),
    queryFn: async () => (await api.get<EnvVarList>(`/projects/${projectId}/groups/${groupId}/env-vars?limit=100`)).data,
    enabled: !!groupId,
    retry: false,
  });
  const known = [...(svcVars.data ?? []), ...(projVars.data ?? []), ...(groupVars.data ?? [])];
  const staged = stagedEnvFor(
    pending,
    [
      { scope: "service", id: service.id },
      { scope: "project", id: projectId },
      ...(groupId ? [{ scope: "group" as EnvScope, id: groupId }] : []),
    ],
    known,
  );
  const rows = useMemo(
    () => resolveEnv({ project: projVars.data ?? [], group: groupVars.data ?? [], service: svcVars.data ?? [] }, staged),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [projVars.data, groupVars.data, svcVars.data, JSON.stringify(staged)],
  );

  const addPending = (c: PendingChange) =>
    qc.setQueryData<PendingChange[]>(keys.pending(projectId), (prev) => (prev && c?.id && !prev.some((x) => x.id === c.id) ? [...prev, c] : prev));

  const [form, setForm] = useState({ key: "", value: "" });
  const [editing, setEditing] = useState<{ key: string; value: string } | null>(null);
  const [reveal, setReveal] = useState(false);
  const save = useMutation({
    mutationFn: async (v: { key: string; value: string }) => {
      const own = (svcVars.data ?? []).find((x) => x.key === v.key);
      return own ? api.patch<PendingChange>(`${svcPath}/${own.id}`, { value: v.value }) : api.post<PendingChange>(svcPath, v);
    },
    onSuccess: (c, v) => {
      addPending(c);
      setForm({ key: "", value: "" });
      setEditing(null);
      toast.success(`${v.key} staged. Deploy to apply.`);
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const remove = useMutation({
    mutationFn: (v: EnvVar) => api.del<PendingChange>(`${svcPath}/${v.id}`),
    onSuccess: (c, v) => {
      addPending(c);
      toast.success(`Removing ${v.key} is staged.`);
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const cancel = useMutation({
    mutationFn: (id: string) => api.del(`/projects/${projectId}/pending-changes/${id}`),
    onSuccess: (_, id) => {
      qc.setQueryData<PendingChange[]>(keys.pending(projectId), (prev) => prev?.filter((c) => c.id !== id));
      toast.success("Staged change cancelled.");
    },
    onError: (err) => toast.error(errorText(err)),
  });

  const keyError = !form.key || /^[A-Za-z_][A-Za-z0-9_]*$/.test(form.key) ? undefined : "Letters, digits and underscores; not starting with a digit.";
  return (
    <div className="variables" data-testid="variables-tab">
      <form
        className="env-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (!form.key || keyError) return;
          save.mutate(form);
        }}
      >
        <div className="env-inputs">
          <input placeholder="KEY" aria-label="Variable name" value={form.key} onChange={(e) => setForm({ ...form, key: e.target.value.toUpperCase() })} data-testid="env-key" autoComplete="off" />
          <input placeholder="value or ${{other.HOST}}" aria-label="Variable value" value={form.value} onChange={(e) => setForm({ ...form, value: e.target.value })} data-testid="env-value" autoComplete="off" />
          <button className="btn btn-primary btn-sm" disabled={save.isPending || !form.key || !!keyError} data-testid="env-add">
            Add
          </button>
        </div>
        {keyError || fieldError(save.error, "key", "value") ? <div className="field-error">{keyError ?? fieldError(save.error, "key", "value")}</div> : null}
      </form>
      <div className="row gap small muted env-legend">
        <span>Service values override group values, which override project values.</span>
        <div className="grow" />
        <label className="check">
          <input type="checkbox" checked={reveal} onChange={(e) => setReveal(e.target.checked)} /> Show values
        </label>
      </div>
      {rows.length === 0 ? <p className="muted">No variables.</p> : null}
      <table className="env-table">
        <tbody>
          {rows.map((r) => (
            <tr key={r.key} data-testid="env-row" data-key={r.key} className={r.value === null ? "env-deleted" : ""}>
              <td className="env-key">
                <code>{r.key}</code>
              </td>
              <td className="env-val">
                {editing?.key === r.key ? (
                  <form
                    className="row gap"
                    onSubmit={(e) => {
                      e.preventDefault();
                      save.mutate(editing);
                    }}
                  >
                    <input autoFocus aria-label={`New value of ${r.key}`} value={editing.value} onChange={(e) => setEditing({ ...editing, value: e.target.value })} data-testid="env-edit-value" />
                    <button className="btn btn-sm btn-primary" data-testid="env-edit-save">
                      Stage
                    </button>
                    <button type="button" className="btn btn-sm" onClick={() => setEditing(null)}>
                      Cancel
                    </button>
                  </form>
                ) : (
                  <span className="env-value" data-testid="env-value-text">
                    {r.value === null ? <em className="muted">removed on deploy</em> : reveal ? r.value : "•".repeat(Math.min(12, Math.max(6, r.value.length)))}
                  </span>
                )}
                <div className="env-origin">
                  {r.from ? <span className={`scope scope-${r.from}`}>{r.from === "service" ? "this service" : r.from}</span> : null}
                  {r.overrides.length ? (
                    <span className="muted small" title={r.overrides.map((o) => `${o.scope}: ${o.value}`).join("\n")}>
                      overrides {r.overrides.map((o) => o.scope).join(", ")}
                    </span>
                  ) : null}
                  {r.staged.map((s) => (
                    <span key={s.changeId} className="badge badge-staged" data-testid="env-staged">
                      {s.op} ({s.scope})
                      <button className="chip-x" aria-label={`Cancel staged change to ${r.key}`} onClick={() => cancel.mutate(s.changeId)}>
                        ×
                      </button>
                    </span>
                  ))}
                </div>
              </td>
              <td className="env-actions">
                {editing?.key !== r.key ? (
                  <button className="link-btn small" onClick={() => setEditing({ key: r.key, value: r.value ?? "" })} data-testid="env-edit">
                    {r.own || r.from === "service" ? "Edit" : "Override"}
                  </button>
                ) : null}
                {r.own && r.value !== null ? (
                  <button className="link-btn small danger" onClick={() => remove.mutate(r.own!)} data-testid="env-remove">
                    Remove
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

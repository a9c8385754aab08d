import { useMemo, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { keys, useApi } from "../app";
import type { EnvScope, EnvVar, EnvVarList, PendingChange, Service } from "../api/types";
import { resolveEnv, type StagedEnv } from "../lib/envInheritance";
import { envChangeOf, usePendingDiff } from "../lib/stagedDiff";
import { EnvBulkDialog, ReferenceNotes } from "./EnvBulkDialog";
import { envEntries, masked, useEnvEdit } from "./envEdit";
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
    const named = envChangeOf(c);
    const scope = (named.scope as EnvScope | undefined) ?? existing?.scope;
    const scopeId = named.scopeId ?? existing?.scope_id;
    const key = named.key ?? existing?.key;
    if (!scope || !key || !scopes.some((s) => s.scope === scope && s.id === scopeId)) continue;
    const value = deleted ? null : String(p["value"] ?? "");
    out.push({ changeId: c.id, scope, key, value, op: deleted ? "removed" : c.kind === "env_var.update" ? "changed" : "added" });
  }
  return out;
}

/** A staged service's variables (from its creation) as the inheritance view takes them. */
function stagedOwn(serviceKey: string, env: Record<string, string>): EnvVar[] {
  return Object.entries(env).map(([key, value]) => ({ id: "", scope: "service", scope_id: serviceKey, key, value, created_at: null, updated_at: null }));
}

export function VariablesTab({
  projectId,
  serviceKey,
  service,
  stagedEnv,
  groupId,
  pending,
}: {
  projectId: string;
  /** The service's id, or its temp id while it is only staged. */
  serviceKey: string;
  service?: Service;
  /** For a staged service: the variables it is created with. */
  stagedEnv?: Record<string, string>;
  groupId: string | undefined;
  pending: PendingChange[];
}) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const svcBase = `/projects/${projectId}/services/${serviceKey}`;
  const svcPath = `${svcBase}/env-vars`;
  const applied = useQuery({
    queryKey: keys.envVars(projectId, "service", serviceKey),
    queryFn: async () => (await api.get<EnvVarList>(`${svcPath}?limit=100`)).data,
    enabled: !!service,
  });
  const svcVars = service ? applied : { data: stagedOwn(serviceKey, stagedEnv ?? {}) };
  const diff = usePendingDiff(projectId, pending);
  const notes = new Map([
    ...envEntries(diff.data, "project", projectId),
    ...(groupId ? envEntries(diff.data, "group", groupId) : []),
    ...envEntries(diff.data, "service", serviceKey),
  ]);
  const [bulk, setBulk] = useState(false);
  const edit = useEnvEdit(projectId, svcBase);
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
      { scope: "service", id: serviceKey },
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

  const [form, setForm] = useState({ key: "", value: "" });
  const [editing, setEditing] = useState<{ key: string; value: string } | null>(null);
  const [reveal, setReveal] = useState(false);
  const save = {
    isPending: edit.isPending,
    error: edit.error,
    mutate: (v: { key: string; value: string }) =>
      edit.mutate(
        { values: { [v.key]: v.value } },
        {
          onSuccess: () => {
            setForm({ key: "", value: "" });
            setEditing(null);
            toast.success(`${v.key} staged. Deploy to apply.`);
          },
          onError: (err) => toast.error(errorText(err)),
        },
      ),
  };
  const remove = {
    mutate: (key: string) =>
      edit.mutate({ unset: [key] }, { onSuccess: () => toast.success(`Removing ${key} is staged.`), onError: (err) => toast.error(errorText(err)) }),
  };
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
        <button type="button" className="link-btn small" onClick={() => setBulk(true)} data-testid="env-bulk">
          Edit as .env
        </button>
        <label className="check">
          <input type="checkbox" checked={reveal} onChange={(e) => setReveal(e.target.checked)} data-testid="env-reveal" /> Show values
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
                    {r.value === null ? <em className="muted">removed on deploy</em> : masked(r.value, reveal)}
                  </span>
                )}
                {r.value !== null ? <ReferenceNotes entry={notes.get(r.key)} reveal={reveal} /> : null}
                <div className="env-origin">
                  {r.from ? <span className={`scope scope-${r.from}`}>{r.from === "service" ? "this service" : r.from}</span> : null}
                  {r.overrides.length ? (
                    <span className="muted small" title={r.overrides.map((o) => `${o.scope}: ${masked(o.value, reveal)}`).join("\n")}>
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
                {r.from === "service" && r.value !== null ? (
                  <button className="link-btn small danger" onClick={() => remove.mutate(r.key)} data-testid="env-remove">
                    Remove
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {bulk ? (
        <EnvBulkDialog
          projectId={projectId}
          base={svcBase}
          current={Object.fromEntries(rows.filter((r) => r.from === "service" && r.value !== null).map((r) => [r.key, r.value as string]))}
          title="This service's variables as .env"
          onClose={() => setBulk(false)}
        />
      ) : null}
    </div>
  );
}

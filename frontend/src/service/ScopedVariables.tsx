import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { keys, useApi } from "../app";
import type { EnvDiffEntry, EnvVarList, PendingChange } from "../api/types";
import { usePendingDiff } from "../lib/stagedDiff";
import { EnvBulkDialog, ReferenceNotes } from "./EnvBulkDialog";
import { envEntries, masked, useEnvEdit } from "./envEdit";
import { errorText, fieldError } from "../ui/controls";
import { useToast } from "../ui/toast";

/** The stored variables of a scope (`base` as for ScopedVariables); a page may call it early to start the fetch. */
export function useScopeVars(base: string, queryKey: readonly unknown[]) {
  const api = useApi();
  return useQuery({
    queryKey,
    queryFn: async () => (await api.get<EnvVarList>(`${base}/env-vars?limit=100`)).data,
  });
}

/**
 * The variable editor of one scope (project or group): a KEY/value form that sets a key (adding or
 * changing it), each variable once with its staged state (values masked unless revealed), Edit,
 * Remove and cancel, references previewed, and the whole scope as `.env`. Every write goes
 * through the edit route, so a key has at most one staged change. Renders a fragment; the caller
 * supplies the surrounding card or dialog.
 */
export function ScopedVariables({
  projectId,
  scope,
  scopeId,
  base,
  queryKey,
  staged,
  addedToast,
  testIdPrefix,
  emptyText,
}: {
  projectId: string;
  scope: "project" | "group";
  scopeId: string;
  /** API path of the scope; variables live under `${base}/env-vars`. */
  base: string;
  /** The react-query key of this scope's stored variables. */
  queryKey: readonly unknown[];
  /** The pending changes of this scope (their ids refresh the diff). */
  staged: PendingChange[];
  /** The toast after staging a variable. */
  addedToast: (key: string) => string;
  /** When set, `-key`, `-value`, `-add`, `-row` and `-staged` test ids are rendered with this prefix. */
  testIdPrefix?: string;
  stagedLabel?: string;
  /** Shown when there are neither stored nor staged variables. */
  emptyText?: string;
}) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const tid = (suffix: string) => (testIdPrefix ? `${testIdPrefix}-${suffix}` : undefined);
  const vars = useScopeVars(base, queryKey);
  const diff = usePendingDiff(projectId, staged);
  const entries = envEntries(diff.data, scope, scopeId);
  const [form, setForm] = useState({ key: "", value: "" });
  const [editing, setEditing] = useState<{ key: string; value: string } | null>(null);
  const [reveal, setReveal] = useState(false);
  const [bulk, setBulk] = useState(false);
  const edit = useEnvEdit(projectId, base);
  const set = (key: string, value: string, done: () => void) =>
    edit.mutate(
      { values: { [key]: value } },
      {
        onSuccess: () => {
          toast.success(addedToast(key));
          done();
        },
        onError: (err) => toast.error(errorText(err)),
      },
    );
  const unset = (key: string) =>
    edit.mutate({ unset: [key] }, { onSuccess: () => toast.success(`Removing ${key} is staged.`), onError: (err) => toast.error(errorText(err)) });
  const cancel = useMutation({
    mutationFn: async (ids: string[]) => {
      for (const id of ids) await api.del(`/projects/${projectId}/pending-changes/${id}`);
      return ids;
    },
    onSuccess: (ids) => {
      qc.setQueryData<PendingChange[]>(keys.pending(projectId), (prev) => prev?.filter((c) => !ids.includes(c.id)));
      toast.success("Staged change cancelled.");
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const stored = vars.data ?? [];
  const rows = new Map<string, { key: string; value: string | null; entry?: EnvDiffEntry }>();
  for (const v of stored) rows.set(v.key, { key: v.key, value: v.value });
  for (const [key, e] of entries) rows.set(key, { key, value: e.after, entry: e });
  const sorted = [...rows.values()].sort((a, b) => a.key.localeCompare(b.key));
  const current = Object.fromEntries(sorted.filter((r) => r.value !== null).map((r) => [r.key, r.value as string]));
  return (
    <>
      <form
        className="env-inputs"
        onSubmit={(e) => {
          e.preventDefault();
          if (form.key) set(form.key, form.value, () => setForm({ key: "", value: "" }));
        }}
      >
        <input placeholder="KEY" aria-label="Variable name" value={form.key} onChange={(e) => setForm({ ...form, key: e.target.value.toUpperCase() })} data-testid={tid("key")} />
        <input placeholder="value or ${{service.VAR}}" aria-label="Variable value" value={form.value} onChange={(e) => setForm({ ...form, value: e.target.value })} data-testid={tid("value")} />
        <button className="btn btn-primary btn-sm" disabled={edit.isPending || !form.key} data-testid={tid("add")}>
          {rows.has(form.key) ? "Set" : "Add"}
        </button>
      </form>
      {fieldError(edit.error, "values", "key", "value") ? <div className="field-error">{fieldError(edit.error, "values", "key", "value")}</div> : null}
      <div className="row gap small muted env-legend">
        <button type="button" className="link-btn small" onClick={() => setBulk(true)} data-testid={tid("bulk")}>
          Edit as .env
        </button>
        <div className="grow" />
        <label className="check">
          <input type="checkbox" checked={reveal} onChange={(e) => setReveal(e.target.checked)} data-testid={tid("reveal")} /> Show values
        </label>
      </div>
      <table className="env-table">
        <tbody>
          {sorted.map((r) => (
            <tr key={r.key} data-testid={tid("row")} data-key={r.key} className={r.value === null ? "env-deleted" : ""}>
              <td className="env-key"><code>{r.key}</code></td>
              <td className="env-val">
                {editing?.key === r.key ? (
                  <form
                    className="row gap"
                    onSubmit={(e) => {
                      e.preventDefault();
                      set(editing.key, editing.value, () => setEditing(null));
                    }}
                  >
                    <input autoFocus aria-label={`New value of ${r.key}`} value={editing.value} onChange={(e) => setEditing({ ...editing, value: e.target.value })} data-testid={tid("edit-value")} />
                    <button className="btn btn-sm btn-primary" data-testid={tid("edit-save")}>Stage</button>
                    <button type="button" className="btn btn-sm" onClick={() => setEditing(null)}>Cancel</button>
                  </form>
                ) : (
                  <span className="env-value" data-testid={tid("value-text")}>
                    {r.value === null ? <em className="muted">removed on deploy</em> : masked(r.value, reveal)}
                  </span>
                )}
                {r.value !== null ? <ReferenceNotes entry={r.entry} reveal={reveal} /> : null}
              </td>
              <td className="env-actions">
                {r.entry ? (
                  <span className="badge badge-staged" data-testid={tid("staged")}>
                    {r.entry.op}
                    <button className="chip-x" aria-label={`Cancel staged change to ${r.key}`} onClick={() => cancel.mutate(r.entry!.change_ids)}>
                      ×
                    </button>
                  </span>
                ) : null}
                {r.value !== null && editing?.key !== r.key ? (
                  <>
                    <button className="link-btn small" onClick={() => setEditing({ key: r.key, value: r.value ?? "" })} data-testid={tid("edit")}>
                      Edit
                    </button>
                    <button className="link-btn small danger" onClick={() => unset(r.key)} data-testid={tid("remove")}>
                      Remove
                    </button>
                  </>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {emptyText && sorted.length === 0 ? <p className="muted small">{emptyText}</p> : null}
      {bulk ? <EnvBulkDialog projectId={projectId} base={base} current={current} title={`Variables as .env`} onClose={() => setBulk(false)} /> : null}
    </>
  );
}

import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { keys, useApi } from "../app";
import type { EnvVar, EnvVarList, PendingChange } from "../api/types";
import { envChangeOf } from "../lib/stagedDiff";
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
 * The variable editor of one scope (project or group): a KEY/value form that stages a create,
 * the stored variables with a Remove that stages a delete, and the staged changes of the scope.
 * Renders a fragment; the caller supplies the surrounding card or dialog.
 */
export function ScopedVariables({
  projectId,
  base,
  queryKey,
  staged,
  addedToast,
  testIdPrefix,
  stagedLabel,
  emptyText,
  onStaged,
}: {
  projectId: string;
  /** API path of the scope; variables live under `${base}/env-vars`. */
  base: string;
  /** The react-query key of this scope's stored variables. */
  queryKey: readonly unknown[];
  /** The pending changes shown as staged rows of this scope. */
  staged: PendingChange[];
  /** The toast after staging a new variable. */
  addedToast: (key: string) => string;
  /** When set, `-key`, `-value`, `-add` and `-staged` test ids are rendered with this prefix. */
  testIdPrefix?: string;
  /**
   * How a staged row is shown: "staged" puts a "staged" badge on every row and "removed on deploy"
   * for a delete; "action" shows the payload value and the change's action as the badge.
   */
  stagedLabel: "staged" | "action";
  /** Shown when there are neither stored nor staged variables. */
  emptyText?: string;
  /** Puts a staged change into the pending cache; by default appends it unless already there. */
  onStaged?: (c: PendingChange) => void;
}) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const path = `${base}/env-vars`;
  const tid = (suffix: string) => (testIdPrefix ? `${testIdPrefix}-${suffix}` : undefined);
  const vars = useScopeVars(base, queryKey);
  const [form, setForm] = useState({ key: "", value: "" });
  const addPending =
    onStaged ??
    ((c: PendingChange) =>
      qc.setQueryData<PendingChange[]>(keys.pending(projectId), (prev) => (prev && c?.id && !prev.some((x) => x.id === c.id) ? [...prev, c] : prev)));
  const add = useMutation({
    mutationFn: () => api.post<PendingChange>(path, form),
    onSuccess: (c) => {
      addPending(c);
      toast.success(addedToast(form.key));
      setForm({ key: "", value: "" });
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const remove = useMutation({
    mutationFn: (v: EnvVar) => api.del<PendingChange>(`${path}/${v.id}`),
    onSuccess: (c, v) => {
      addPending(c);
      toast.success(`Removing ${v.key} is staged.`);
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const stored = vars.data ?? [];
  return (
    <>
      <form
        className="env-inputs"
        onSubmit={(e) => {
          e.preventDefault();
          if (form.key) add.mutate();
        }}
      >
        <input placeholder="KEY" aria-label="Variable name" value={form.key} onChange={(e) => setForm({ ...form, key: e.target.value.toUpperCase() })} data-testid={tid("key")} />
        <input placeholder="value" aria-label="Variable value" value={form.value} onChange={(e) => setForm({ ...form, value: e.target.value })} data-testid={tid("value")} />
        <button className="btn btn-primary btn-sm" disabled={add.isPending || !form.key} data-testid={tid("add")}>
          Add
        </button>
      </form>
      {fieldError(add.error, "key", "value") ? <div className="field-error">{fieldError(add.error, "key", "value")}</div> : null}
      <table className="env-table">
        <tbody>
          {stored.map((v) => (
            <tr key={v.id}>
              <td className="env-key"><code>{v.key}</code></td>
              <td className="env-val">{v.value}</td>
              <td className="env-actions">
                <button className="link-btn small danger" onClick={() => remove.mutate(v)}>
                  Remove
                </button>
              </td>
            </tr>
          ))}
          {staged.map((c) => {
            const action = c.kind.split(".")[1] ?? "";
            const change = envChangeOf(c);
            return (
              <tr key={c.id} data-testid={tid("staged")}>
                <td className="env-key"><code>{change.key ?? ""}</code></td>
                <td className="env-val">{stagedLabel === "staged" && action === "delete" ? <em className="muted">removed on deploy</em> : (change.value ?? "")}</td>
                <td className="env-actions"><span className="badge badge-staged">{stagedLabel === "staged" ? "staged" : action}</span></td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {emptyText && stored.length === 0 && staged.length === 0 ? <p className="muted small">{emptyText}</p> : null}
    </>
  );
}

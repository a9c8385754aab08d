import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { keys, useApi } from "../app";
import type { EnvVar, PendingChange } from "../api/types";
import { kindOf } from "../lib/pendingDiff";
import { Modal, errorText, fieldError } from "../ui/controls";
import { useToast } from "../ui/toast";

/** Variables every service in a group inherits (overriding project ones); writes are staged. */
export function GroupVariablesDialog({
  projectId,
  groupId,
  groupName,
  pending,
  onClose,
}: {
  projectId: string;
  groupId: string;
  groupName: string;
  pending: PendingChange[];
  onClose: () => void;
}) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const base = `/projects/${projectId}/groups/${groupId}/env-vars`;
  const vars = useQuery({
    queryKey: keys.envVars(projectId, "group", groupId),
    queryFn: async () => {
      const r = await api.get<EnvVar[] | { data: EnvVar[] }>(`${base}?limit=100`);
      return Array.isArray(r) ? r : r.data;
    },
  });
  const [form, setForm] = useState({ key: "", value: "" });
  const addPending = (c: PendingChange) =>
    qc.setQueryData<PendingChange[]>(keys.pending(projectId), (prev) => (prev && c?.id && !prev.some((x) => x.id === c.id) ? [...prev, c] : prev));
  const add = useMutation({
    mutationFn: () => api.post<PendingChange>(base, form),
    onSuccess: (c) => {
      addPending(c);
      toast.success(`${form.key} staged for the services in ${groupName}.`);
      setForm({ key: "", value: "" });
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const remove = useMutation({
    mutationFn: (v: EnvVar) => api.del<PendingChange>(`${base}/${v.id}`),
    onSuccess: (c, v) => {
      addPending(c);
      toast.success(`Removing ${v.key} is staged.`);
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const staged = pending.filter((c) => kindOf(c).entity === "env_var" && c.payload?.["scope"] === "group" && c.payload?.["scope_id"] === groupId);
  return (
    <Modal title={`Variables of ${groupName}`} onClose={onClose} testId="group-variables-dialog" wide>
      <p className="muted small">Services in this group inherit these; a service's own variable with the same name wins.</p>
      <form
        className="env-inputs"
        onSubmit={(e) => {
          e.preventDefault();
          if (form.key) add.mutate();
        }}
      >
        <input placeholder="KEY" aria-label="Variable name" value={form.key} onChange={(e) => setForm({ ...form, key: e.target.value.toUpperCase() })} data-testid="group-env-key" />
        <input placeholder="value" aria-label="Variable value" value={form.value} onChange={(e) => setForm({ ...form, value: e.target.value })} data-testid="group-env-value" />
        <button className="btn btn-primary btn-sm" disabled={add.isPending || !form.key} data-testid="group-env-add">
          Add
        </button>
      </form>
      {fieldError(add.error, "key", "value") ? <div className="field-error">{fieldError(add.error, "key", "value")}</div> : null}
      <table className="env-table">
        <tbody>
          {(vars.data ?? []).map((v) => (
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
          {staged.map((c) => (
            <tr key={c.id} data-testid="group-env-staged">
              <td className="env-key"><code>{String(c.payload?.["key"] ?? "")}</code></td>
              <td className="env-val">{kindOf(c).action === "delete" ? <em className="muted">removed on deploy</em> : String(c.payload?.["value"] ?? "")}</td>
              <td className="env-actions"><span className="badge badge-staged">staged</span></td>
            </tr>
          ))}
        </tbody>
      </table>
      {(vars.data ?? []).length === 0 && staged.length === 0 ? <p className="muted small">No group variables yet.</p> : null}
      <div className="modal-actions">
        <button className="btn" onClick={onClose}>
          Done
        </button>
      </div>
    </Modal>
  );
}

import { useMemo, useState } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { keys, useApi } from "../app";
import type { ApplyResult, PendingChange } from "../api/types";
import { driftValue, formatValue, usePendingDiff } from "../lib/stagedDiff";
import { ReferenceNotes } from "../service/EnvBulkDialog";
import { masked } from "../service/envEdit";
import { ConfirmDialog, errorText } from "../ui/controls";
import { useToast } from "../ui/toast";
import type { FlowNode } from "./model";
import { labelOf } from "./model";

const BADGE = { created: "creating", deleted: "deleting", changed: null } as const;

export function PendingBar({ projectId, changes, nodes }: { projectId: string; changes: PendingChange[]; nodes: FlowNode[] }) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const [open, setOpen] = useState(false);
  const [confirmDiscard, setConfirmDiscard] = useState(false);
  // Always fetched: Deploy warns about references that would be deployed literally.
  const diff = usePendingDiff(projectId, changes);
  const [reveal, setReveal] = useState(false);
  const [confirmDeploy, setConfirmDeploy] = useState(false);
  const groupNames = useMemo(
    () => Object.fromEntries(nodes.filter((n) => n.type === "group").map((n) => [n.id, labelOf(n.data.node) || "Group"])),
    [nodes],
  );
  const groups = (diff.data ?? []).map((d) => {
    const fields = d.fields.map((f) => ({ field: f.field, before: formatValue(f.before), after: formatValue(f.after) }));
    const title = d.scope === "group" ? (groupNames[d.id] ?? "group") : d.name || d.scope;
    return { ...d, key: `${d.scope}:${d.id}`, title, badge: BADGE[d.status], fields, running: d.running ?? [] };
  });

  const problems = (diff.data ?? []).flatMap((d) => d.env.flatMap((e) => (e.op === "removed" ? [] : e.problems.map((p) => `${d.name || d.scope} ${e.key}: ${p}`))));
  const deploy = useMutation({
    mutationFn: () => api.post<ApplyResult>(`/projects/${projectId}/deploy`),
    onSuccess: (r) => {
      qc.setQueryData(keys.pending(projectId), []);
      void qc.invalidateQueries({ queryKey: keys.project(projectId) });
      setOpen(false);
      const n = r?.created_deployments?.length ?? 0;
      // Not a success yet: the deployments have only begun (a failure is told when it happens).
      const applied = r?.applied_count ?? changes.length;
      toast.info(`Applied ${applied} change${applied === 1 ? "" : "s"}${n ? `; ${n} deployment${n === 1 ? "" : "s"} in progress` : ""}.`);
    },
    onError: (err) => toast.error(`Deploy failed: ${errorText(err)}`),
  });
  const discard = useMutation({
    mutationFn: () => api.del(`/projects/${projectId}/pending-changes`),
    onSuccess: () => {
      qc.setQueryData(keys.pending(projectId), []);
      setConfirmDiscard(false);
      setOpen(false);
      toast.success("Pending changes discarded.");
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const discardOne = useMutation({
    mutationFn: async (ids: string[]) => {
      for (const id of ids) await api.del(`/projects/${projectId}/pending-changes/${id}`);
      return ids;
    },
    onSuccess: (ids) => {
      qc.setQueryData<PendingChange[]>(keys.pending(projectId), (prev) => prev?.filter((c) => !ids.includes(c.id)));
      toast.success("Change discarded.");
    },
    onError: (err) => toast.error(errorText(err)),
  });

  if (changes.length === 0) return null;
  return (
    <div className={`pending-bar${open ? " open" : ""}`} data-testid="pending-bar">
      {open ? (
        <div className="pending-diff" data-testid="pending-diff">
          {diff.data && groups.length === 0 ? <p className="muted">These changes cancel each other out.</p> : null}
          {groups.map((g) => (
            <section key={g.key} className="diff-group" data-testid="diff-group" data-title={g.title}>
              <header>
                <span className="diff-scope">{g.scope}</span>
                <strong>{g.title}</strong>
                {g.badge ? <span className={`badge badge-${g.badge}`}>{g.badge}</span> : null}
                <div className="grow" />
                {g.change_ids.length > 0 ? (
                  <button className="link-btn small" onClick={() => discardOne.mutate(g.change_ids)} disabled={discardOne.isPending} aria-label={`Discard changes to ${g.title}`}>
                    Discard
                  </button>
                ) : null}
              </header>
              {g.fields.length > 0 ? (
                <table className="diff-table">
                  <tbody>
                    {g.fields.map((f) => (
                      <tr key={f.field}>
                        <td className="diff-field">{f.field}</td>
                        <td className="diff-before">{f.before ?? <span className="muted">—</span>}</td>
                        <td className="diff-arrow">→</td>
                        <td className="diff-after">{f.after ?? <span className="muted">—</span>}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              ) : null}
              {g.running.length > 0 ? (
                <div className="diff-running" data-testid="diff-running">
                  <p className="small">Differs from the running deployment (this Deploy deploys it):</p>
                  <table className="diff-table">
                    <tbody>
                      {g.running.map((f) => (
                        <tr key={f.field} data-testid="diff-running-field" data-field={f.field}>
                          <td className="diff-field">{f.field}</td>
                          <td className="diff-before">{driftValue(f.field, f.before, reveal) ?? <span className="muted">—</span>}</td>
                          <td className="diff-arrow">→</td>
                          <td className="diff-after">{driftValue(f.field, f.after, reveal) ?? <span className="muted">—</span>}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              ) : null}
              {g.env.length > 0 ? (
                <ul className="diff-env">
                  {g.env.map((e) => (
                    <li key={e.key} className={`env-${e.op}`} data-testid="diff-env" data-key={e.key} data-op={e.op}>
                      <span className="env-op">{e.op === "added" ? "+" : e.op === "removed" ? "−" : "~"}</span>
                      <code>{e.key}</code>{" "}
                      {e.op === "changed" ? (
                        <>
                          <span className="diff-before">{masked(e.before ?? "", reveal)}</span> → <span className="diff-after">{masked(e.after ?? "", reveal)}</span>
                        </>
                      ) : e.op === "added" ? (
                        <span className="diff-after">{masked(e.after ?? "", reveal)}</span>
                      ) : (
                        <span className="diff-before">{masked(e.before ?? "", reveal)}</span>
                      )}
                      <ReferenceNotes entry={e.op === "removed" ? undefined : e} reveal={reveal} />
                    </li>
                  ))}
                </ul>
              ) : null}
            </section>
          ))}
        </div>
      ) : null}
      <div className="pending-row">
        <span className="pending-count" data-testid="pending-count">
          <span className="pulse" /> {changes.length} pending change{changes.length === 1 ? "" : "s"}
        </span>
        <button className="link-btn" onClick={() => setOpen((o) => !o)} aria-expanded={open} data-testid="pending-toggle">
          {open ? "Hide changes" : "Show changes"}
        </button>
        {open ? (
          <label className="check small">
            <input type="checkbox" checked={reveal} onChange={(e) => setReveal(e.target.checked)} data-testid="pending-reveal" /> Show values
          </label>
        ) : null}
        {problems.length ? (
          <span className="field-error small" data-testid="pending-problems">
            ⚠ {problems.length} reference{problems.length === 1 ? "" : "s"} will not resolve
          </span>
        ) : null}
        <div className="grow" />
        <button className="btn btn-sm" onClick={() => setConfirmDiscard(true)} data-testid="pending-discard">
          Discard
        </button>
        <button className="btn btn-sm btn-primary" onClick={() => (problems.length ? setConfirmDeploy(true) : deploy.mutate())} disabled={deploy.isPending} data-testid="pending-deploy">
          {deploy.isPending ? "Deploying…" : "Deploy"}
        </button>
      </div>
      {confirmDeploy ? (
        <ConfirmDialog
          title="Deploy with references that do not resolve?"
          body={
            <>
              <p>These would be deployed literally:</p>
              <ul data-testid="deploy-problems">
                {problems.map((p) => (
                  <li key={p}>{p}</li>
                ))}
              </ul>
            </>
          }
          confirmLabel="Deploy anyway"
          busy={deploy.isPending}
          onConfirm={() => {
            setConfirmDeploy(false);
            deploy.mutate();
          }}
          onClose={() => setConfirmDeploy(false)}
        />
      ) : null}
      {confirmDiscard ? (
        <ConfirmDialog
          title="Discard all pending changes?"
          body={<p>{changes.length} staged change{changes.length === 1 ? "" : "s"} will be dropped. Nothing deployed changes.</p>}
          confirmLabel="Discard changes"
          danger
          busy={discard.isPending}
          onConfirm={() => discard.mutate()}
          onClose={() => setConfirmDiscard(false)}
        />
      ) : null}
    </div>
  );
}

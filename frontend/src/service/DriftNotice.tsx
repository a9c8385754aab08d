import { useMutation, useQueryClient } from "@tanstack/react-query";
import { keys, useApi } from "../app";
import type { Deployment, Service } from "../api/types";
import { useState } from "react";
import { driftValue } from "../lib/stagedDiff";
import { errorText } from "../ui/controls";
import { useToast } from "../ui/toast";

/**
 * A service whose settings differ from the deployment it runs (a deploy of them failed): each
 * differing field with its running value, and the two ways out. The next Deploy of the service
 * deploys these settings (the pending diff says so too); "Revert to running" drops them.
 */
export function DriftNotice({ projectId, service }: { projectId: string; service: Service }) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const base = `/projects/${projectId}/services/${service.id}`;
  const refresh = () => {
    void qc.invalidateQueries({ queryKey: keys.service(projectId, service.id) });
    void qc.invalidateQueries({ queryKey: keys.services(projectId) });
    void qc.invalidateQueries({ queryKey: keys.deployments(projectId, service.id) });
    void qc.invalidateQueries({ queryKey: keys.pending(projectId) });
  };
  const revert = useMutation({
    mutationFn: () => api.post<Service>(`${base}/revert-config`),
    onSuccess: () => {
      toast.success(`${service.name}: settings are back to what runs.`);
      refresh();
    },
    onError: (err) => toast.error(`Revert failed: ${errorText(err)}`),
  });
  const deploy = useMutation({
    mutationFn: () => api.post<Deployment>(`${base}/redeploy`),
    onSuccess: () => {
      toast.success(`Deploying ${service.name} with these settings.`);
      refresh();
    },
    onError: (err) => toast.error(`Deploy failed: ${errorText(err)}`),
  });
  const [reveal, setReveal] = useState(false);
  if (!service.drift?.length) return null;
  const failed = service.last_deployment_status === "failed";
  const hasEnv = service.drift.some((d) => d.field.startsWith("env."));
  return (
    <div className="drift-notice" role="status" data-testid="drift-notice">
      <strong>
        These settings differ from the running deployment{failed ? ": the last deploy of them failed" : ""}.
      </strong>
      <table className="diff-table">
        <thead>
          <tr>
            <th>field</th>
            <th>running</th>
            <th />
            <th>settings</th>
          </tr>
        </thead>
        <tbody>
          {service.drift.map((d) => (
            <tr key={d.field} data-testid="drift-field" data-field={d.field}>
              <td className="diff-field">{d.field}</td>
              <td className="diff-before">{driftValue(d.field, d.running, reveal) ?? "—"}</td>
              <td className="diff-arrow">→</td>
              <td className="diff-after">{driftValue(d.field, d.config, reveal) ?? "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {hasEnv ? (
        <label className="small">
          <input type="checkbox" checked={reveal} onChange={(e) => setReveal(e.target.checked)} data-testid="drift-reveal" /> Show values
        </label>
      ) : null}
      <p className="muted small">The next Deploy of this service deploys these settings.</p>
      <div className="row gap">
        <button className="btn btn-sm" disabled={revert.isPending} onClick={() => revert.mutate()} data-testid="drift-revert">
          Revert to running
        </button>
        <button className="btn btn-sm btn-primary" disabled={deploy.isPending} onClick={() => deploy.mutate()} data-testid="drift-deploy">
          Deploy these settings
        </button>
      </div>
    </div>
  );
}

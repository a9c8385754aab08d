import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { keys, useApi, useMe } from "../app";
import type { Deployment, DeploymentPage, Service } from "../api/types";
import { deploymentTone } from "../canvas/status";
import { Spinner, errorText, timeAgo } from "../ui/controls";
import { useToast } from "../ui/toast";
import { LogView } from "./LogView";

const IN_FLIGHT = new Set(["pending", "building", "starting"]);

/**
 * Who or what started a deployment, as its card says: "by you", else who was recorded (a user's
 * name, "API key <description>"); deployments older than that record say "by a user".
 */
function triggerText(d: Deployment, meId: string | undefined): string {
  const viaKey = d.actor?.startsWith("API key ") ?? false;
  const who = d.created_by && d.created_by === meId && !viaKey ? "you" : d.actor ?? (d.created_by ? "a user" : null);
  const by = who ? ` by ${who}` : "";
  switch (d.trigger) {
    case "webhook":
      return d.actor ? `Push via ${d.actor}` : "Push webhook";
    case "rollback":
      return `Rollback${d.rollback_of ? ` to ${d.rollback_of.slice(0, 8)}` : ""}${by}`;
    case "retry":
      return `Retry${by}`;
    case "redeploy":
      return `Redeploy${by}`;
    default:
      return `Deploy${by}`;
  }
}

export function DeploymentsTab({ projectId, service }: { projectId: string; service: Service }) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const base = `/projects/${projectId}/services/${service.id}`;
  const [logOf, setLogOf] = useState<string | null>(null);
  const me = useMe();
  const list = useQuery({
    queryKey: keys.deployments(projectId, service.id),
    queryFn: async () => (await api.get<DeploymentPage>(`${base}/deployments?limit=50`)).data,
    refetchInterval: (q) => ((q.state.data ?? []).some((d) => IN_FLIGHT.has(d.status)) || service.status === "deploying" || service.status === "draining" ? 2000 : 15000),
  });
  const refresh = () => {
    void qc.invalidateQueries({ queryKey: keys.service(projectId, service.id) });
    void qc.invalidateQueries({ queryKey: keys.services(projectId) });
  };
  const redeploy = useMutation({
    mutationFn: () => api.post<Deployment>(`${base}/redeploy`),
    onSuccess: () => {
      toast.info(`Redeploying ${service.name}.`);
      refresh();
    },
    onError: (err) => toast.error(`Redeploy failed: ${errorText(err)}`),
  });
  const rollback = useMutation({
    mutationFn: (d: Deployment) => api.post<Deployment>(`${base}/rollback`, { deployment_id: d.id }),
    onSuccess: (_, d) => {
      toast.info(`Rolling back ${service.name} to ${d.id.slice(0, 8)}.`);
      refresh();
    },
    onError: (err) => toast.error(`Rollback failed: ${errorText(err)}`),
  });
  const retry = useMutation({
    mutationFn: (d: Deployment) => api.post<Deployment>(`${base}/deployments/${d.id}/retry`),
    onSuccess: (_, d) => {
      toast.success(`Retrying ${service.name} (${d.id.slice(0, 8)}).`);
      refresh();
    },
    onError: (err) => toast.error(`Retry failed: ${errorText(err)}`),
  });

  if (list.isPending) return <Spinner />;
  if (list.error) return <div className="form-error">{errorText(list.error)}</div>;
  const all = list.data ?? [];
  const inFlight = all.filter((d) => IN_FLIGHT.has(d.status));
  const active = all.find((d) => d.id === service.active_deployment_id) ?? all.find((d) => d.status === "healthy");
  const history = all.filter((d) => d !== active && !IN_FLIGHT.has(d.status));

  const card = (d: Deployment, role: "inflight" | "active" | "history") => (
    <div key={d.id} className={`deploy-card tone-${deploymentTone(d.status)}`} data-testid="deployment" data-status={d.status} data-role={role} data-id={d.id}>
      <div className="deploy-head">
        <span className={`status-pill tone-${deploymentTone(d.status)}`}>
          <span className={`dot tone-${deploymentTone(d.status)}`} /> {d.status}
        </span>
        <code className="muted">{d.id.slice(0, 8)}</code>
        <span className="muted small">{timeAgo(d.created_at)}</span>
        <div className="grow" />
        <button className="link-btn small" onClick={() => setLogOf(logOf === d.id ? null : d.id)} data-testid="deployment-log-toggle">
          {logOf === d.id ? "Hide log" : "Build log"}
        </button>
        {d.status === "failed" ? (
          <button className="btn btn-sm" disabled={retry.isPending} onClick={() => retry.mutate(d)} data-testid="retry">
            Retry
          </button>
        ) : null}
        {role === "history" && (d.healthy_at || d.status === "superseded") ? (
          <button className="btn btn-sm" disabled={rollback.isPending} onClick={() => rollback.mutate(d)} data-testid="rollback">
            Roll back
          </button>
        ) : null}
      </div>
      <div className="deploy-trigger small" data-testid="deployment-trigger" data-trigger={d.trigger}>
        {triggerText(d, me.data?.id)}
      </div>
      <div className="deploy-meta">
        <span title="image">{d.image ?? (d.source.type === "image" ? d.source.image : d.source.repo_url)}</span>
        {d.commit_sha ? (
          <span>
            <code>{d.commit_sha.slice(0, 7)}</code> {d.commit_message}
          </span>
        ) : null}
        {Object.keys(d.env_vars).length ? <span className="muted">{Object.keys(d.env_vars).length} variables</span> : null}
      </div>
      {d.changes.length ? (
        <ul className="deploy-changes" data-testid="deployment-changes">
          {d.changes.map((c) => (
            <li key={c}>{c}</li>
          ))}
        </ul>
      ) : null}
      {d.status === "failed" ? (
        <div className="deploy-failure" data-testid="deployment-failure">
          <strong>{d.failure_reason ?? "Failed"}</strong>
          {d.exit_code != null ? <span> · exit code {d.exit_code}</span> : null}
          {d.log_tail ? <pre className="code-block">{d.log_tail}</pre> : null}
        </div>
      ) : null}
      {logOf === d.id ? <LogView path={`${base}/deployments/${d.id}/logs`} testId="deployment-log" emptyText="This deployment has no build or start log." fileName={`${service.name}-deployment-${d.id.slice(0, 8)}`} finite /> : null}
    </div>
  );

  return (
    <div className="deployments" data-testid="deployments-tab">
      <div className="row gap">
        <button className="btn btn-primary btn-sm" disabled={redeploy.isPending || !service.active_deployment_id} onClick={() => redeploy.mutate()} data-testid="redeploy">
          {redeploy.isPending ? "Redeploying…" : "Redeploy"}
        </button>
        <span className="muted small">A fresh deployment from the active one, with freshly resolved variables.</span>
      </div>
      {all.length === 0 ? <p className="muted">No deployments yet. Deploy the pending changes to create one.</p> : null}
      {inFlight.length ? <h3 className="section-title">In progress</h3> : null}
      {inFlight.map((d) => card(d, "inflight"))}
      {active ? <h3 className="section-title">Active</h3> : null}
      {active ? card(active, "active") : null}
      {history.length ? <h3 className="section-title">History</h3> : null}
      {history.map((d) => card(d, "history"))}
    </div>
  );
}

import { useEffect, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { keys, useApi } from "../app";
import { ApiError } from "../api/client";
import type { PendingChange, ScopeDiff, Service } from "../api/types";
import type { components } from "../api/schema";
import { withStaged } from "../lib/stagedDiff";
import { draftFromService, draftToService, serviceDelta, type ServiceDraft } from "../lib/serviceDraft";
import { useFormErrors } from "../lib/formErrors";
import { errorText } from "../ui/controls";
import { useToast } from "../ui/toast";
import { DeployKeyCard } from "./DeployKeyCard";
import { DriftNotice } from "./DriftNotice";
import { ServiceFields } from "./ServiceFields";
import { WebhookCard } from "./WebhookCard";
import { useServiceActions } from "./actions";

export function SettingsTab({ projectId, service, diff, onDelete }: { projectId: string; service: Service; diff: ScopeDiff[] | undefined; onDelete: () => void }) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const { addPending } = useServiceActions(projectId);
  // The service as it will be after deploy: what the server says the staged changes leave.
  const effective = withStaged(service, diff, service.id);
  const [draft, setDraft] = useState<ServiceDraft>(() => draftFromService(effective));
  const effectiveKey = JSON.stringify(effective);
  useEffect(() => setDraft(draftFromService(JSON.parse(effectiveKey) as Service)), [effectiveKey]);
  const base = `/projects/${projectId}/services/${service.id}`;

  const save = useMutation({
    mutationFn: async () => {
      const { value, errors } = draftToService(draft);
      form.setLocal(errors);
      if (!value) throw new ApiError(422, "invalid", "Check the highlighted fields.");
      const delta = serviceDelta(effective, value);
      if (Object.keys(delta).length === 0) return null;
      return api.patch<PendingChange>(base, delta);
    },
    onSuccess: (c) => {
      if (!c) return toast.info("Nothing changed.");
      addPending(c);
      toast.success("Settings staged. Deploy to apply.");
    },
    // Shown in the form, beside the field or under it (never as a toast as well).
  });
  const form = useFormErrors(save.error);
  const power = useMutation({
    mutationFn: (action: "stop" | "start" | "restart") => api.post(`${base}/${action}`),
    onSuccess: (_, action) => {
      toast.success(`${service.name}: ${action === "stop" ? "stopping" : action === "start" ? "starting" : "restarting"}.`);
      void qc.invalidateQueries({ queryKey: keys.services(projectId) });
    },
    onError: (err) => toast.error(errorText(err)),
  });

  const fields = ["name", "image", "repo_url", "branch", "dockerfile_path", "context", "port", "command", "replicas", "cpus", "memory_mb", "path", "interval_s", "timeout_s", "healthy_threshold", "unhealthy_threshold"];
  const errs: Record<string, string | undefined> = {
    ...Object.fromEntries(fields.map((f) => [f, form.get(f)])),
    ...Object.fromEntries(Object.entries(form.local).filter(([k]) => k.startsWith("volumes."))),
  };
  const dirty = JSON.stringify(draft) !== JSON.stringify(draftFromService(effective));

  return (
    <div className="settings" data-testid="settings-tab">
      <DriftNotice projectId={projectId} service={service} />
      <form
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
        noValidate
      >
        <ServiceFields
          draft={draft}
          set={(p) => {
            form.edited(Object.keys(p));
            setDraft((d) => ({ ...d, ...p }));
          }}
          errors={errs}
          full
        />
        {form.general(fields) ? (
          <div className="form-error" data-testid="settings-error">
            {form.general(fields)}
          </div>
        ) : null}
        <div className="row gap sticky-actions">
          <button className="btn btn-primary" disabled={save.isPending || !dirty} data-testid="settings-save">
            {save.isPending ? "Staging…" : "Stage changes"}
          </button>
          <button type="button" className="btn" disabled={!dirty} onClick={() => setDraft(draftFromService(effective))}>
            Reset
          </button>
          <span className="muted small">Edits are staged and applied with the next deploy.</span>
        </div>
      </form>
      {service.source.type === "git" ? (
        <>
          <h3 className="section-title">Git</h3>
          <WebhookCard projectId={projectId} serviceId={service.id} base={base} repoUrl={service.source.repo_url} branch={service.source.branch} />
          <DeployKeyCard base={base} repoUrl={service.source.repo_url} queryKey={[...keys.service(projectId, service.id), "deploy-key"]} />
        </>
      ) : null}
      <RolloutSection base={base} service={effective} />
      <h3 className="section-title">Runtime</h3>
      <div className="row gap">
        {service.status === "stopped" ? (
          <button className="btn btn-sm" onClick={() => power.mutate("start")} disabled={power.isPending} data-testid="svc-start">
            Start
          </button>
        ) : (
          <button className="btn btn-sm" onClick={() => power.mutate("stop")} disabled={power.isPending || !service.active_deployment_id} data-testid="svc-stop">
            Stop
          </button>
        )}
        <button className="btn btn-sm" onClick={() => power.mutate("restart")} disabled={power.isPending || !service.active_deployment_id} data-testid="svc-restart">
          Restart
        </button>
        <span className="muted small">Immediate; a stopped service stays stopped until started.</span>
      </div>
      <h3 className="section-title danger">Danger zone</h3>
      <button
        className="btn btn-danger btn-sm"
        onClick={onDelete}
        data-testid="svc-delete"
      >
        Delete service
      </button>
      <p className="muted small">The delete is staged, with Undo, as with Backspace on the canvas: on deploy the containers and volumes of this service are removed.</p>
    </div>
  );
}

/** How a new version replaces the old one, and the drain period (staged like every setting). */
/** On a swarm, volumes are node-local: a service with a volume runs only on the node that holds
 * them (the manager the daemon runs on). Says nothing on a single engine. */
function PinnedNote() {
  const api = useApi();
  const nodes = useQuery({
    queryKey: ["nodes"],
    queryFn: () => api.get<components["schemas"]["NodeList"]>("/nodes"),
    staleTime: 30_000,
    retry: false,
  });
  const list = nodes.data?.data ?? [];
  if (list.length === 0 || list.every((n) => n.role === "standalone")) return null;
  const manager = list.find((n) => n.leader) ?? list.find((n) => n.role === "manager");
  return (
    <p className="muted small" data-testid="svc-pinned">
      Pinned to one node: volumes live on a single machine, so this service runs only on the node that holds them
      {manager ? ` (${manager.hostname})` : ""}; it does not move when that node goes down.
    </p>
  );
}

function RolloutSection({ base, service }: { base: string; service: Service }) {
  const api = useApi();
  const toast = useToast();
  const { addPending } = useServiceActions(service.project_id);
  const [drain, setDrain] = useState(String(service.drain_s ?? 10));
  useEffect(() => setDrain(String(service.drain_s ?? 10)), [service.drain_s]);
  const stage = useMutation({
    mutationFn: () => {
      const value = Number(drain);
      if (!drain.trim() || !(value >= 0 && value <= 3600)) throw new ApiError(422, "invalid", "Drain period: enter seconds from 0 to 3600.");
      return api.patch<PendingChange>(base, { drain_s: value });
    },
    onSuccess: (c) => {
      addPending(c);
      toast.success("Drain period staged. Deploy to apply.");
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const stopFirst = service.rollout === "stop-first";
  return (
    <>
      <h3 className="section-title">Rollout</h3>
      <p className="muted small" data-testid="svc-rollout">
        {stopFirst
          ? "Stop-first: this service has volumes (or no port), so its old replicas stop before the new ones start; expect a short gap on each deploy."
          : "Start-first, zero downtime: new replicas must pass their health check before traffic switches to them; old replicas then drain and stop."}
      </p>
      {service.volumes.length > 0 ? <PinnedNote /> : null}
      {stopFirst ? null : (
        <form
          className="row gap"
          onSubmit={(e) => {
            e.preventDefault();
            stage.mutate();
          }}
        >
          <label className="small">
            Drain period (s){" "}
            <input value={drain} onChange={(e) => setDrain(e.target.value)} inputMode="numeric" size={6} data-testid="svc-drain" />
          </label>
          <button className="btn btn-sm" disabled={stage.isPending || drain === String(service.drain_s ?? 10)} data-testid="svc-drain-save">
            Stage
          </button>
        </form>
      )}
    </>
  );
}

import { useEffect, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { keys, useApi } from "../app";
import { ApiError } from "../api/client";
import type { PendingChange, Service } from "../api/types";
import { stagedServices, usePendingDiff } from "../lib/stagedDiff";
import { labelOf, parentOf, type FlowNode } from "../canvas/model";
import { SERVICE_STATUS_LABEL, serviceTone } from "../canvas/status";
import { DeploymentsTab } from "./DeploymentsTab";
import { VariablesTab } from "./VariablesTab";
import { SettingsTab } from "./SettingsTab";
import { DomainsTab } from "./OptionalTabs";
import { MetricsTab } from "./MetricsTab";
import { LogView } from "./LogView";
import { useQueryClient } from "@tanstack/react-query";
import { useToast } from "../ui/toast";
import { errorText } from "../ui/controls";
import { serviceUrl, usePublicPorts } from "../lib/serviceUrl";

type Tab = "deployments" | "logs" | "variables" | "settings" | "domains" | "metrics";

/** An optional API exists unless it answers 404 (or 405/501). */
function useOptionalApi(path: string, enabled: boolean) {
  const api = useApi();
  return useQuery({
    queryKey: ["optional", path],
    queryFn: async () => {
      try {
        await api.get<unknown>(path);
        return true;
      } catch (err) {
        if (err instanceof ApiError && [404, 405, 501].includes(err.status)) return false;
        return true;
      }
    },
    enabled,
    staleTime: 60_000,
    retry: false,
  });
}

export function ServicePanel({
  projectId,
  serviceKey,
  service,
  pending,
  node,
  servicesLoaded,
  onClose,
  onDelete,
}: {
  projectId: string;
  serviceKey: string;
  service: Service | undefined;
  servicesLoaded: boolean;
  pending: PendingChange[];
  node: FlowNode | undefined;
  onClose: () => void;
  /** Stage the service's delete, asking first when others refer to it; ``then`` runs once staged. */
  onDelete: (id: string, name: string, then?: () => void) => void;
}) {
  const [tab, setTab] = useState<Tab>("deployments");
  const ports = usePublicPorts();
  const base = `/projects/${projectId}/services/${serviceKey}`;
  const domains = useOptionalApi(`${base}/domains`, !!service);
  const metrics = useOptionalApi(`${base}/metrics`, !!service);
  const diff = usePendingDiff(projectId, pending);
  const staged = stagedServices(diff.data).get(serviceKey);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape" && !document.querySelector(".modal")) onClose();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);

  if (!service) {
    const create = pending.find((c) => c.target_temp_id === serviceKey && c.kind === "service.create");
    if (!create && servicesLoaded && !node) {
      return (
        <aside className="side-panel" data-testid="service-panel" aria-label="Service">
          <PanelHead name="Service not found" onClose={onClose} badge="Gone" tone="idle" />
          <div className="panel-body">
            <p className="muted">This service does not exist (any more). It may have been deleted by someone else.</p>
          </div>
        </aside>
      );
    }
    return (
      <aside className="side-panel" data-testid="service-panel" aria-label="Service">
        <PanelHead name={staged?.name ?? (node ? labelOf(node.data.node) : "Service")} onClose={onClose} badge="Creating on deploy" tone="staged" />
        <div className="panel-body">
          <p className="muted">This service is staged. It is created with the next deploy; until then it has no deployments or logs. Its variables can be set now.</p>
          {create ? (
            <VariablesTab
              projectId={projectId}
              serviceKey={serviceKey}
              stagedEnv={(create.payload["env_vars"] as Record<string, string> | undefined) ?? {}}
              groupId={node ? parentOf(node.data.node) : undefined}
              pending={pending}
            />
          ) : null}
          {create ? <DiscardStaged projectId={projectId} changeId={create.id} onDone={onClose} /> : null}
        </div>
      </aside>
    );
  }

  const tabs: { id: Tab; label: string }[] = [
    { id: "deployments", label: "Deployments" },
    { id: "logs", label: "Logs" },
    { id: "variables", label: "Variables" },
    { id: "settings", label: "Settings" },
    ...(domains.data ? [{ id: "domains" as Tab, label: "Domains" }] : []),
    ...(metrics.data ? [{ id: "metrics" as Tab, label: "Metrics" }] : []),
  ];
  const tone = staged?.deleting ? "staged" : serviceTone(service.status);
  return (
    <aside className="side-panel" data-testid="service-panel" aria-label={`Service ${service.name}`}>
      <PanelHead
        url={service.domains[0] ? serviceUrl(service.domains[0], ports) : undefined}
        name={staged?.name ?? service.name}
        onClose={onClose}
        badge={staged?.deleting ? "Deleting on deploy" : SERVICE_STATUS_LABEL[service.status]}
        tone={tone}
      />
      <div className="tabs" role="tablist" onKeyDown={(e) => {
        const i = tabs.findIndex((t) => t.id === tab);
        const next = e.key === "ArrowRight" ? tabs[(i + 1) % tabs.length] : e.key === "ArrowLeft" ? tabs[(i - 1 + tabs.length) % tabs.length] : null;
        if (next) {
          setTab(next.id);
          (e.currentTarget.querySelector(`[data-tab="${next.id}"]`) as HTMLElement | null)?.focus();
        }
      }}>
        {tabs.map((t) => (
          <button
            key={t.id}
            role="tab"
            data-tab={t.id}
            aria-selected={tab === t.id}
            tabIndex={tab === t.id ? 0 : -1}
            className={tab === t.id ? "on" : ""}
            onClick={() => setTab(t.id)}
            data-testid={`tab-${t.id}`}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div className="panel-body" role="tabpanel">
        {tab === "deployments" ? <DeploymentsTab projectId={projectId} service={service} /> : null}
        {tab === "logs" ? <LogView path={`${base}/logs?tail=500`} testId="runtime-logs" emptyText="No output yet." fileName={service.name} /> : null}
        {tab === "variables" ? <VariablesTab projectId={projectId} serviceKey={service.id} service={service} groupId={service.group_id ?? (node ? parentOf(node.data.node) : undefined)} pending={pending} /> : null}
        {tab === "settings" ? <SettingsTab projectId={projectId} service={service} diff={diff.data} onDelete={() => onDelete(service.id, service.name, onClose)} /> : null}
        {tab === "domains" ? <DomainsTab projectId={projectId} service={service} /> : null}
        {tab === "metrics" ? <MetricsTab projectId={projectId} service={service} /> : null}
      </div>
    </aside>
  );
}

function PanelHead({ name, onClose, badge, tone, url }: { name: string; onClose: () => void; badge: string; tone: string; url?: string | undefined }) {
  return (
    <div className="panel-head">
      <div>
        <h2 data-testid="service-panel-name">{name}</h2>
        <span className={`status-pill tone-${tone}`} data-testid="service-panel-status">
          <span className={`dot tone-${tone}`} /> {badge}
        </span>
        {url ? (
          <a className="btn btn-sm panel-open" href={url} target="_blank" rel="noreferrer" data-testid="service-panel-open">
            Open ↗
          </a>
        ) : null}
      </div>
      <button className="icon-btn" aria-label="Close panel" onClick={onClose} data-testid="panel-close">
        ×
      </button>
    </div>
  );
}

function DiscardStaged({ projectId, changeId, onDone }: { projectId: string; changeId: string; onDone: () => void }) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const [busy, setBusy] = useState(false);
  return (
    <button
      className="btn btn-danger"
      disabled={busy}
      onClick={async () => {
        setBusy(true);
        try {
          await api.del(`/projects/${projectId}/pending-changes/${changeId}`);
          qc.setQueryData<PendingChange[]>(keys.pending(projectId), (prev) => prev?.filter((c) => c.id !== changeId));
          toast.success("Staged service discarded.");
          onDone();
        } catch (err) {
          toast.error(errorText(err));
        } finally {
          setBusy(false);
        }
      }}
    >
      Discard this service
    </button>
  );
}


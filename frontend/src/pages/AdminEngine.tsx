import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApi } from "../app";
import type { components } from "../api/schema";
import { ConfirmDialog, Spinner, errorText } from "../ui/controls";
import { useToast } from "../ui/toast";

type Usage = components["schemas"]["EngineUsageOut"];
type EngineObject = components["schemas"]["EngineObjectOut"];
type Prune = components["schemas"]["PruneOut"];

const KINDS = ["container", "image", "volume", "network", "service"] as const;
const TITLES = { container: "Containers", image: "Images", volume: "Volumes", network: "Networks", service: "Swarm services" } as const;

function bytes(n: number | null): string {
  if (n === null) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let x = n;
  let i = 0;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${x.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function Owner({ o }: { o: EngineObject }) {
  if (!o.managed) return <span className="muted">unmanaged</span>;
  if (!o.owner) return <span className="muted">DeployKit</span>;
  const project = o.owner.project_name ?? `unknown project ${o.owner.project_id.slice(0, 8)}`;
  const service = o.owner.service_id ? (o.owner.service_name ?? `unknown service ${o.owner.service_id.slice(0, 8)}`) : null;
  return (
    <span>
      {project}
      {service ? <span className="muted"> / {service}</span> : null}
    </span>
  );
}

/** The admin page's Engine tab: every container, image, volume and network on the Docker engine
 * (and its Swarm services, on a swarm manager) with its size and owner (a project and service, from
 * labels, or unmanaged), and a prune of dangling images and build cache. */
export function Engine() {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const [confirming, setConfirming] = useState(false);
  const usage = useQuery({ queryKey: ["engine"], queryFn: () => api.get<Usage>("/system/engine") });
  const prune = useMutation({
    mutationFn: () => api.post<Prune>("/system/engine/prune", { dangling_images: true, build_cache: true }),
    onSuccess: (r) => {
      setConfirming(false);
      void qc.invalidateQueries({ queryKey: ["engine"] });
      toast.success(`Removed ${r.images_deleted} image(s) and ${r.build_cache_deleted} cache entries: ${bytes(r.reclaimed_bytes)} reclaimed.`);
    },
    onError: (err) => {
      setConfirming(false);
      toast.error(errorText(err));
    },
  });
  const objects = usage.data?.data ?? [];
  return (
    <div data-testid="admin-engine">
      <section className="card">
        <div className="row">
          <h2>Docker engine</h2>
          <div className="grow" />
          <button className="btn btn-sm" onClick={() => setConfirming(true)} disabled={prune.isPending} data-testid="engine-prune">
            Prune
          </button>
        </div>
        {usage.data ? (
          <p className="muted small" data-testid="engine-reclaimable">
            {usage.data.dangling_images} dangling image(s), {bytes(usage.data.dangling_bytes)}; build cache {bytes(usage.data.build_cache_bytes)}.
          </p>
        ) : null}
        {usage.isPending ? <Spinner /> : null}
        {usage.error ? <div className="form-error">{errorText(usage.error)}</div> : null}
      </section>
      {usage.data
        ? KINDS.map((kind) => {
            const rows = objects.filter((o) => o.kind === kind);
            if (kind === "service" && rows.length === 0) return null; // not a swarm manager
            return (
              <section className="card" key={kind} data-testid={`engine-${kind}s`}>
                <h2>
                  {TITLES[kind]} <span className="badge">{rows.length}</span>
                </h2>
                <table className="env-table">
                  <tbody>
                    {rows.map((o) => (
                      <tr key={o.id} data-testid="engine-row" data-kind={o.kind} data-managed={o.managed ? "yes" : "no"}>
                        <td className="mono small">
                          {o.name}
                          {o.detail ? <div className="muted small">{o.detail}</div> : null}
                        </td>
                        <td className="small" data-testid="engine-owner">
                          <Owner o={o} />
                        </td>
                        <td className="small muted">{bytes(o.size_bytes)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </section>
            );
          })
        : null}
      {confirming ? (
        <ConfirmDialog
          title="Prune the engine?"
          body="Dangling images (untagged, used by no container) and unused build cache are removed. Nothing that runs is touched."
          confirmLabel="Prune"
          danger
          busy={prune.isPending}
          onConfirm={() => prune.mutate()}
          onClose={() => setConfirming(false)}
        />
      ) : null}
    </div>
  );
}

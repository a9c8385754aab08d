import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApi } from "../app";
import type { Domain, DomainList, MetricsPoint, ServiceMetrics, Service } from "../api/types";
import { Spinner, errorText, fieldError } from "../ui/controls";
import { useToast } from "../ui/toast";

export function DomainsTab({ projectId, service }: { projectId: string; service: Service }) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const base = `/projects/${projectId}/services/${service.id}/domains`;
  const key = ["project", projectId, "service", service.id, "domains"];
  const list = useQuery({
    queryKey: key,
    queryFn: async () => (await api.get<DomainList>(base)).data,
  });
  const [host, setHost] = useState("");
  const add = useMutation({
    mutationFn: () => api.post<Domain>(base, { hostname: host.trim() }),
    onSuccess: (d) => {
      setHost("");
      void qc.invalidateQueries({ queryKey: key });
      toast.success(`${d.hostname} added.`);
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const remove = useMutation({
    mutationFn: (h: string) => api.del(`${base}/${encodeURIComponent(h)}`),
    onSuccess: (_, h) => {
      void qc.invalidateQueries({ queryKey: key });
      toast.success(`${h} removed.`);
    },
    onError: (err) => toast.error(errorText(err)),
  });
  return (
    <div data-testid="domains-tab">
      <form
        className="env-inputs"
        onSubmit={(e) => {
          e.preventDefault();
          if (host.trim()) add.mutate();
        }}
      >
        <input placeholder="app.example.com" aria-label="Hostname" value={host} onChange={(e) => setHost(e.target.value)} />
        <button className="btn btn-primary btn-sm" disabled={add.isPending}>
          Add domain
        </button>
      </form>
      {fieldError(add.error, "hostname") ? <div className="field-error">{fieldError(add.error, "hostname")}</div> : null}
      {list.isPending ? <Spinner /> : null}
      <table className="env-table">
        <tbody>
          {(list.data ?? []).map((d) => (
            <tr key={d.hostname}>
              <td>
                <a href={`https://${d.hostname}`} target="_blank" rel="noreferrer">
                  {d.hostname}
                </a>
                {d.is_generated ? <span className="badge">generated</span> : null}
              </td>
              <td className="small muted">
                DNS {d.dns_ok === null ? "unknown" : d.dns_ok ? "ok" : "not pointing here"} · TLS {d.tls_status ?? "—"}
              </td>
              <td className="env-actions">
                {!d.is_generated ? (
                  <button className="link-btn small danger" onClick={() => remove.mutate(d.hostname)}>
                    Remove
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Sparkline({ values }: { values: number[] }) {
  if (values.length < 2) return <span className="muted small">collecting…</span>;
  const max = Math.max(...values, 1e-9);
  const pts = values.map((v, i) => `${(i / (values.length - 1)) * 240},${40 - (v / max) * 38}`).join(" ");
  return (
    <svg width="240" height="42" className="spark" aria-hidden>
      <polyline points={pts} fill="none" stroke="currentColor" strokeWidth="1.5" />
    </svg>
  );
}

function human(field: string, v: number): string {
  if (/bytes|memory|rx|tx/i.test(field) && v > 1024) {
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return `${v.toFixed(1)} ${units[i]}`;
  }
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

const METRICS = ["cpu_percent", "memory_bytes", "net_rx_bps", "net_tx_bps"] as const satisfies readonly (keyof MetricsPoint)[];

export function MetricsTab({ projectId, service }: { projectId: string; service: Service }) {
  const api = useApi();
  const since = new Date(Date.now() - 15 * 60_000).toISOString();
  const q = useQuery({
    queryKey: ["project", projectId, "service", service.id, "metrics"],
    queryFn: async () =>
      (await api.get<ServiceMetrics>(`/projects/${projectId}/services/${service.id}/metrics?since=${encodeURIComponent(since)}`)).total,
    refetchInterval: 5000,
  });
  if (q.isPending) return <Spinner />;
  if (q.error) return <div className="form-error">{errorText(q.error)}</div>;
  const samples = q.data ?? [];
  if (!samples.length) return <p className="muted">No samples yet.</p>;
  return (
    <div className="metrics" data-testid="metrics-tab">
      {METRICS.map((f) => {
        const values = samples.map((s) => s[f]);
        return (
          <div className="metric" key={f}>
            <div className="metric-head">
              <span>{f.replace(/_/g, " ")}</span>
              <strong>{human(f, values[values.length - 1] ?? 0)}</strong>
            </div>
            <Sparkline values={values} />
          </div>
        );
      })}
    </div>
  );
}

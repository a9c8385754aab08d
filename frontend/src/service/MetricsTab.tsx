// The service's Metrics tab: CPU, memory against its limit and network per replica and summed,
// over 1h/6h/24h/7d with the deployments as markers, and the health timeline of the last 24 hours.
import { useMemo, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { useApi } from "../app";
import type { HealthHistory, MetricsPoint, Service, ServiceMetrics } from "../api/types";
import { Spinner, errorText } from "../ui/controls";
import { Chart, RangePicker, bytes, color, percent, rangeQuery, rate, seconds, type Line, type RangeKey } from "../metrics/Chart";

type Field = keyof Omit<MetricsPoint, "at">;

function linesOf(m: ServiceMetrics, xs: number[], field: Field, limit?: Field): Line[] {
  const at = (points: MetricsPoint[], f: Field) => {
    const by = new Map(points.map((p) => [seconds(p.at), p[f]]));
    return xs.map((x) => by.get(x) ?? null);
  };
  const lines: Line[] = m.replicas.length > 1 ? m.replicas.map((r, i) => ({ label: `replica ${r.replica_index}`, values: at(r.points, field), color: color(i + 1) })) : [];
  lines.unshift({ label: m.replicas.length > 1 ? "total" : "value", values: at(m.total, field), color: color(0), width: 2 });
  if (limit && m.total.some((p) => p[limit] > 0)) lines.push({ label: "limit", values: at(m.total, limit), color: "#9ca3af", dash: [6, 4] });
  return lines;
}

export function MetricsTab({ projectId, service }: { projectId: string; service: Service }) {
  const api = useApi();
  const [range, setRange] = useState<RangeKey>("1h");
  const base = `/projects/${projectId}/services/${service.id}`;
  const q = useQuery({
    queryKey: ["project", projectId, "service", service.id, "metrics", range],
    queryFn: () => api.get<ServiceMetrics>(`${base}/metrics?${rangeQuery(range)}`),
    refetchInterval: 15_000,
  });
  const charts = useMemo(() => {
    const m = q.data;
    if (!m) return null;
    const xs = [...new Set([...m.total.map((p) => seconds(p.at))])].sort((a, b) => a - b);
    const markers = m.deployments.map((d) => ({ at: seconds(d.created_at ?? m.range.since), label: d.id.slice(0, 8) }));
    return {
      xs,
      markers,
      cpu: linesOf(m, xs, "cpu_percent"),
      memory: linesOf(m, xs, "memory_bytes", "memory_limit_bytes"),
      rx: linesOf(m, xs, "net_rx_bps"),
      tx: linesOf(m, xs, "net_tx_bps"),
    };
  }, [q.data]);
  return (
    <div className="metrics" data-testid="metrics-tab">
      <RangePicker value={range} onChange={setRange} />
      {q.isPending ? <Spinner /> : null}
      {q.error ? <div className="form-error">{errorText(q.error)}</div> : null}
      {charts && !charts.xs.length ? <p className="muted">No samples yet: the daemon samples running containers every few seconds.</p> : null}
      {charts && charts.xs.length ? (
        <>
          <Chart title="CPU (% of one core)" xs={charts.xs} lines={charts.cpu} markers={charts.markers} format={percent} testId="chart-cpu" />
          <Chart title="Memory" xs={charts.xs} lines={charts.memory} markers={charts.markers} format={bytes} testId="chart-memory" />
          <Chart title="Network in" xs={charts.xs} lines={charts.rx} markers={charts.markers} format={rate} testId="chart-net-rx" />
          <Chart title="Network out" xs={charts.xs} lines={charts.tx} markers={charts.markers} format={rate} testId="chart-net-tx" />
        </>
      ) : null}
      <HealthTimeline projectId={projectId} service={service} />
    </div>
  );
}

function HealthTimeline({ projectId, service }: { projectId: string; service: Service }) {
  const api = useApi();
  const q = useQuery({
    queryKey: ["project", projectId, "service", service.id, "health-history"],
    queryFn: () => api.get<HealthHistory>(`/projects/${projectId}/services/${service.id}/health/history`),
    refetchInterval: 15_000,
  });
  if (!q.data) return null;
  const h = q.data;
  const from = seconds(h.since);
  const span = Math.max(1, seconds(h.until) - from);
  const replicas = [...new Set(h.probes.map((p) => p.replica_index ?? 0))].sort((a, b) => a - b);
  const pos = (iso: string | null) => `${(((iso ? seconds(iso) : from) - from) / span) * 100}%`;
  return (
    <section className="health-timeline" data-testid="health-timeline">
      <div className="metric-head">
        <span>Health, last 24 hours</span>
        <span className="muted small">{h.probes.length ? `${h.probes.filter((p) => !p.ok).length} failed of ${h.probes.length} checks` : "no health check results"}</span>
      </div>
      {replicas.map((r) => (
        <div className="timeline-row" key={r} data-testid={`health-row-${r}`}>
          <span className="small muted">replica {r}</span>
          <div className="timeline-track">
            {h.probes
              .filter((p) => (p.replica_index ?? 0) === r)
              .map((p, i) => (
                <i key={i} className={p.ok ? "tick ok" : "tick bad"} style={{ left: pos(p.at) }} title={`${p.at}: ${p.ok ? `ok, ${p.latency_ms} ms` : p.reason}`} />
              ))}
            {h.events
              .filter((e) => (e.replica_index ?? 0) === r)
              .map((e, i) => (
                <b key={`e${i}`} className={`event ${e.event}`} style={{ left: pos(e.at) }} title={`${e.at}: ${e.event.replace("_", " ")}: ${e.reason ?? ""}`} />
              ))}
          </div>
        </div>
      ))}
      {h.events.length ? (
        <ul className="small timeline-events" data-testid="health-events">
          {h.events.slice(-5).map((e, i) => (
            <li key={i}>
              {new Date(e.at ?? h.since).toLocaleTimeString()} replica {e.replica_index ?? "?"} {e.event.replace("_", " ")}: {e.reason}
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}

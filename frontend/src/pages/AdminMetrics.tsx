// The host's CPU, memory, disk and load over 1h/6h/24h/7d, on the admin page's Status tab.
import { useMemo, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { useApi } from "../app";
import type { HostMetrics as HostMetricsOut } from "../api/types";
import { Spinner, errorText } from "../ui/controls";
import { Chart, RangePicker, bytes, color, percent, rangeQuery, seconds, type RangeKey } from "../metrics/Chart";

const load = (v: number) => v.toFixed(2);

export function HostMetrics() {
  const api = useApi();
  const [range, setRange] = useState<RangeKey>("1h");
  const q = useQuery({
    queryKey: ["system-metrics", range],
    queryFn: () => api.get<HostMetricsOut>(`/system/metrics?${rangeQuery(range)}`),
    refetchInterval: 15_000,
  });
  const data = useMemo(() => {
    const points = q.data?.points ?? [];
    const xs = points.map((p) => seconds(p.at));
    return {
      xs,
      cpu: [{ label: "cpu", values: points.map((p) => p.cpu_percent), color: color(0), width: 2 }],
      memory: [
        { label: "used", values: points.map((p) => p.memory_bytes), color: color(1), width: 2 },
        { label: "total", values: points.map((p) => p.memory_total_bytes), color: "#9ca3af", dash: [6, 4] },
      ],
      disk: [
        { label: "used", values: points.map((p) => p.disk_used_bytes), color: color(2), width: 2 },
        { label: "total", values: points.map((p) => p.disk_total_bytes), color: "#9ca3af", dash: [6, 4] },
      ],
      load: [
        { label: "1 min", values: points.map((p) => p.load1), color: color(3), width: 2 },
        { label: "5 min", values: points.map((p) => p.load5), color: color(4) },
        { label: "15 min", values: points.map((p) => p.load15), color: color(5) },
      ],
    };
  }, [q.data]);
  return (
    <section className="card metrics" data-testid="host-metrics">
      <h2>Host metrics</h2>
      <RangePicker value={range} onChange={setRange} />
      {q.isPending ? <Spinner /> : null}
      {q.error ? <div className="form-error">{errorText(q.error)}</div> : null}
      {q.data && !data.xs.length ? <p className="muted">No samples yet.</p> : null}
      {data.xs.length ? (
        <>
          <Chart title="CPU (% of the host)" xs={data.xs} lines={data.cpu} format={percent} testId="host-chart-cpu" />
          <Chart title="Memory" xs={data.xs} lines={data.memory} format={bytes} testId="host-chart-memory" />
          <Chart title="Disk (data directory)" xs={data.xs} lines={data.disk} format={bytes} testId="host-chart-disk" />
          <Chart title="Load" xs={data.xs} lines={data.load} format={load} testId="host-chart-load" />
        </>
      ) : null}
    </section>
  );
}

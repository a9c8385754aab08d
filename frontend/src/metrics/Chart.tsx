// A time-series chart over uPlot (small and fast): one line per series, vertical markers (the
// service's deployments), values formatted by the caller.
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export type Line = { label: string; values: (number | null)[]; color: string; width?: number; dash?: number[] };
export type Marker = { at: number; label: string };

const PALETTE = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4b5563"];
export const color = (i: number): string => PALETTE[i % PALETTE.length] ?? "#2563eb";

export function Chart({
  title,
  xs,
  lines,
  markers = [],
  format,
  testId,
}: {
  title: string;
  /** Unix seconds. */
  xs: number[];
  lines: Line[];
  markers?: Marker[];
  format: (v: number) => string;
  testId?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(240, el.clientWidth || 420),
      height: 160,
      legend: { show: true },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [{}, { values: (_u, ticks) => ticks.map(format), size: 70 }],
      series: [
        {},
        ...lines.map((l) => ({ label: l.label, stroke: l.color, width: l.width ?? 1.5, dash: l.dash, value: (_u: uPlot, v: number | null) => (v == null ? "–" : format(v)) })),
      ],
      hooks: {
        draw: [
          (u: uPlot) => {
            const ctx = u.ctx;
            ctx.save();
            ctx.strokeStyle = "#9ca3af";
            ctx.setLineDash([4, 4]);
            for (const m of markers) {
              const x = Math.round(u.valToPos(m.at, "x", true));
              if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
              ctx.beginPath();
              ctx.moveTo(x, u.bbox.top);
              ctx.lineTo(x, u.bbox.top + u.bbox.height);
              ctx.stroke();
            }
            ctx.restore();
          },
        ],
      },
    };
    const plot = new uPlot(opts, [xs, ...lines.map((l) => l.values)] as uPlot.AlignedData, el);
    return () => plot.destroy();
  }, [xs, lines, markers, format]);
  return (
    <div className="metric-chart" data-testid={testId} data-points={xs.length}>
      <div className="metric-head">
        <span>{title}</span>
        {markers.length ? <span className="muted small">{markers.length} deployment(s)</span> : null}
      </div>
      <div ref={box} />
    </div>
  );
}

export function bytes(v: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let n = Math.abs(v);
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(n < 10 && i ? 1 : 0)} ${units[i]}`;
}

export const rate = (v: number) => `${bytes(v)}/s`;
export const percent = (v: number) => `${v.toFixed(v < 10 ? 1 : 0)}%`;

export const RANGES = { "1h": 3600, "6h": 6 * 3600, "24h": 24 * 3600, "7d": 7 * 86400 } as const;
export type RangeKey = keyof typeof RANGES;

export function RangePicker({ value, onChange }: { value: RangeKey; onChange: (r: RangeKey) => void }) {
  return (
    <div className="tabs" role="tablist" data-testid="metrics-range">
      {(Object.keys(RANGES) as RangeKey[]).map((r) => (
        <button key={r} role="tab" aria-selected={value === r} className={value === r ? "on" : ""} onClick={() => onChange(r)} data-testid={`metrics-range-${r}`}>
          {r}
        </button>
      ))}
    </div>
  );
}

/** The query string of a range ending now. */
export function rangeQuery(r: RangeKey): string {
  const until = new Date();
  const since = new Date(until.getTime() - RANGES[r] * 1000);
  return `since=${encodeURIComponent(since.toISOString())}&until=${encodeURIComponent(until.toISOString())}`;
}

export const seconds = (iso: string) => Date.parse(iso) / 1000;

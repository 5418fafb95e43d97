// Charts of the metrics API: invocations, errors, throttles and cold starts, and p50/p90/p99 duration,
// over a chosen range.
import { useState } from "preact/hooks";
import { call, seg } from "../api";
import { ErrorBox, usePoll } from "../ui";
import { fnPath, type TabProps } from "./function";

interface Point {
  timestamp: string;
  invocations: number;
  errors: number;
  throttles: number;
  coldStarts: number;
  durationP50Ms: number | null;
  durationP90Ms: number | null;
  durationP99Ms: number | null;
}

const RANGES = [
  { label: "1 hour", ms: 3_600_000, step: 60 },
  { label: "6 hours", ms: 6 * 3_600_000, step: 300 },
  { label: "24 hours", ms: 24 * 3_600_000, step: 900 },
  { label: "7 days", ms: 7 * 24 * 3_600_000, step: 3_600 },
];

const COLORS = ["#2563eb", "#dc2626", "#d97706", "#7c3aed"];

function Chart({ title, points, series, unit }: { title: string; points: Point[]; series: { key: keyof Point; label: string }[]; unit: string }) {
  const width = 640;
  const height = 160;
  const values = points.flatMap((p) => series.map((s) => Number(p[s.key] ?? 0)));
  const max = Math.max(1, ...values);
  const x = (i: number) => (points.length <= 1 ? 0 : (i / (points.length - 1)) * width);
  const y = (v: number) => height - (v / max) * height;
  return (
    <figure class="chart" data-testid={`chart-${title}`}>
      <figcaption>
        {title}{" "}
        {series.map((s, i) => (
          <span key={String(s.key)} class="legend" style={{ color: COLORS[i] }}>
            ■ {s.label} {points.length ? `(${unit === "ms" ? "max" : "total"} ${unit === "ms" ? Math.max(0, ...points.map((p) => Number(p[s.key] ?? 0))) : points.reduce((n, p) => n + Number(p[s.key] ?? 0), 0)}${unit === "ms" ? " ms" : ""})` : ""}
          </span>
        ))}
      </figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} preserveAspectRatio="none" role="img" aria-label={title}>
        {series.map((s, i) => (
          <polyline key={String(s.key)} fill="none" stroke={COLORS[i]} stroke-width="2" vector-effect="non-scaling-stroke" points={points.map((p, j) => `${x(j)},${y(Number(p[s.key] ?? 0))}`).join(" ")} />
        ))}
      </svg>
      <div class="axis muted">
        <span>{points[0] ? new Date(points[0].timestamp).toLocaleString() : ""}</span>
        <span>
          max {max}
          {unit === "ms" ? " ms" : ""}
        </span>
        <span>{points.length ? new Date((points[points.length - 1] as Point).timestamp).toLocaleString() : ""}</span>
      </div>
    </figure>
  );
}

export function MetricsTab({ service, fn }: TabProps) {
  const [range, setRange] = useState(0);
  const [qualifier, setQualifier] = useState("");
  const r = RANGES[range] ?? (RANGES[0] as (typeof RANGES)[number]);
  const aliases = usePoll((signal) => call<{ aliases: { aliasName: string }[] }>("GET", `/services/${seg(service)}/aliases`, { query: { limit: 100 }, signal }).then((res) => res.data.aliases), 0, [service]);
  const metrics = usePoll(
    (signal) => {
      const until = Date.now();
      return call<{ points: Point[] }>("GET", `${fnPath(service, fn)}/metrics`, { query: { since: until - r.ms, until, step: r.step, qualifier: qualifier || undefined }, signal }).then((res) => res.data.points);
    },
    10_000,
    [service, fn, range, qualifier],
  );
  const points = metrics.data ?? [];
  return (
    <section>
      <div class="row">
        {RANGES.map((x, i) => (
          <button key={x.label} type="button" class={i === range ? "active" : ""} onClick={() => setRange(i)}>
            {x.label}
          </button>
        ))}
        <select aria-label="qualifier" value={qualifier} onChange={(e) => setQualifier(e.currentTarget.value)} data-testid="metrics-qualifier">
          <option value="">every call</option>
          {(aliases.data ?? []).map((a) => (
            <option key={a.aliasName} value={a.aliasName}>
              alias {a.aliasName}
            </option>
          ))}
        </select>
      </div>
      <ErrorBox error={metrics.error} />
      <Chart
        title="Invocations"
        unit="count"
        points={points}
        series={[
          { key: "invocations", label: "invocations" },
          { key: "errors", label: "errors" },
          { key: "throttles", label: "throttles" },
          { key: "coldStarts", label: "cold starts" },
        ]}
      />
      <Chart
        title="Duration"
        unit="ms"
        points={points}
        series={[
          { key: "durationP50Ms", label: "p50" },
          { key: "durationP90Ms", label: "p90" },
          { key: "durationP99Ms", label: "p99" },
        ]}
      />
    </section>
  );
}

// Everything deployed at a glance: each service's functions with their runtime, last invocation,
// and the last hour's invocations, errors and p99, and their live instances. Failing ones stand out.
import { call, listAll, seg } from "../api";
import { fnHref } from "../router";
import { ago, ErrorBox, Pager, usePaged, usePoll } from "../ui";
import { CreateFunction } from "./create";

interface Service {
  serviceName: string;
  description?: string;
}
interface Fn {
  functionName: string;
  runtime: string;
  handler?: string;
}
interface Point {
  timestamp: string;
  invocations: number;
  errors: number;
  durationP99Ms: number | null;
}

interface Row extends Fn {
  invocations: number;
  errors: number;
  p99: number | null;
  last: number | undefined;
  instances: number;
}

async function functionRows(service: string, signal: AbortSignal): Promise<Row[]> {
  const fns = await listAll<Fn>(`/services/${seg(service)}/functions`, "functions");
  const until = Date.now();
  return Promise.all(
    fns.map(async (f) => {
      const base = `/services/${seg(service)}/functions/${seg(f.functionName)}`;
      const [metrics, instances] = await Promise.all([
        call<{ points: Point[] }>("GET", `${base}/metrics`, { query: { since: until - 3_600_000, until, step: 60 }, signal }).catch(() => undefined),
        call<{ instances: unknown[] }>("GET", `${base}/instances`, { signal }).catch(() => undefined),
      ]);
      const points = metrics?.data.points ?? [];
      const lastPoint = [...points].reverse().find((p) => p.invocations > 0);
      const p99s = points.map((p) => p.durationP99Ms).filter((v): v is number => v !== null);
      return {
        ...f,
        invocations: points.reduce((n, p) => n + p.invocations, 0),
        errors: points.reduce((n, p) => n + p.errors, 0),
        p99: p99s.length ? Math.max(...p99s) : null,
        last: lastPoint ? Date.parse(lastPoint.timestamp) : undefined,
        instances: instances?.data.instances.length ?? 0,
      };
    }),
  );
}

function ServiceFunctions({ service }: { service: string }) {
  const rows = usePoll((signal) => functionRows(service, signal), 5_000, [service]);
  if (rows.error && !rows.data) return <ErrorBox error={rows.error} />;
  if (!rows.data) return <p class="muted">Loading…</p>;
  if (rows.data.length === 0) return <p class="muted">No functions yet.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th>Function</th>
          <th>Runtime</th>
          <th>Last invocation</th>
          <th>Invocations (1 h)</th>
          <th>Errors (1 h)</th>
          <th>p99 (1 h)</th>
          <th>Instances</th>
        </tr>
      </thead>
      <tbody>
        {rows.data.map((r) => (
          <tr key={r.functionName} class={r.errors > 0 ? "failing" : ""} data-testid={`fn-${service}-${r.functionName}`}>
            <td>
              <a href={fnHref(service, r.functionName)}>{r.functionName}</a>
            </td>
            <td>{r.runtime}</td>
            <td>{ago(r.last)}</td>
            <td>{r.invocations}</td>
            <td>{r.errors > 0 ? <strong>{r.errors}</strong> : 0}</td>
            <td>{r.p99 === null ? "—" : `${r.p99} ms`}</td>
            <td>{r.instances}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Overview() {
  const services = usePaged<Service>("/services", "services", {}, 5_000, 10);
  const limits = usePoll(() => call<{ CodeSizeLimit: number }>("GET", "/accountConfigs").then((r) => r.data), 0, []);
  return (
    <section>
      <h1>Overview</h1>
      <CreateFunction limit={limits.data?.CodeSizeLimit} />
      <ErrorBox error={services.error} />
      {services.loading && !services.data ? <p class="muted">Loading…</p> : null}
      {services.data && services.items.length === 0 ? <p class="muted">Nothing is deployed yet: `nimbus deploy` a folder, or create a function through the API.</p> : null}
      {services.items.map((s) => (
        <article key={s.serviceName} class="service">
          <h2>{s.serviceName}</h2>
          {s.description ? <p class="muted">{s.description}</p> : null}
          <ServiceFunctions service={s.serviceName} />
        </article>
      ))}
      <Pager pageNumber={services.pageNumber} next={services.next} previous={services.previous} />
    </section>
  );
}

// One function: its tabs, each a deep link (`#/services/<svc>/functions/<fn>/<tab>`).
import { call, seg } from "../api";
import { fnHref, TABS } from "../router";
import { ErrorBox, usePoll } from "../ui";
import { AsyncTab } from "./async";
import { CodeTab } from "./code";
import { ConfigTab } from "./config";
import { InstancesTab } from "./instances";
import { InvokeTab } from "./invoke";
import { LogsTab } from "./logs";
import { MetricsTab } from "./metrics";
import { ReleasesTab } from "./releases";
import { TriggersTab } from "./triggers";

/** A function as getFunction answers (the fields the console reads). */
export interface FunctionRecord {
  functionName: string;
  description?: string;
  runtime: string;
  handler: string;
  memorySize: number;
  timeout: number;
  instanceConcurrency?: number;
  environmentVariables?: Record<string, string>;
  layers?: string[];
  codeSize?: number;
  codeChecksum?: string;
  lastModifiedTime?: string;
  initializer?: string;
}

export interface TabProps {
  service: string;
  fn: string;
  record: FunctionRecord;
  refresh: () => void;
  rest: string[];
  query: URLSearchParams;
}

const LABELS: Record<(typeof TABS)[number], string> = {
  config: "Configuration",
  code: "Code",
  invoke: "Invoke",
  logs: "Logs",
  metrics: "Metrics",
  releases: "Releases",
  triggers: "Triggers",
  async: "Async",
  instances: "Instances",
};

export const fnPath = (service: string, fn: string) => `/services/${seg(service)}/functions/${seg(fn)}`;

export function FunctionPage({ service, fn, tab, rest, query }: { service: string; fn: string; tab: string; rest: string[]; query: URLSearchParams }) {
  const record = usePoll((signal) => call<FunctionRecord>("GET", fnPath(service, fn), { signal }).then((r) => r.data), 3_000, [service, fn]);
  return (
    <section>
      <p class="crumbs">
        <a href="#/">Overview</a> / {service} /
      </p>
      <h1>{fn}</h1>
      <nav class="tabs" aria-label="function pages">
        {TABS.map((t) => (
          <a key={t} href={fnHref(service, fn, t)} class={t === tab ? "active" : ""} aria-current={t === tab ? "page" : undefined}>
            {LABELS[t]}
          </a>
        ))}
      </nav>
      <ErrorBox error={record.error} />
      {record.data ? <Tab tab={tab} service={service} fn={fn} record={record.data} refresh={record.refresh} rest={rest} query={query} /> : record.error ? null : <p class="muted">Loading…</p>}
    </section>
  );
}

function Tab({ tab, ...props }: TabProps & { tab: string }) {
  switch (tab) {
    case "code":
      return <CodeTab {...props} />;
    case "invoke":
      return <InvokeTab {...props} />;
    case "logs":
      return <LogsTab {...props} />;
    case "metrics":
      return <MetricsTab {...props} />;
    case "releases":
      return <ReleasesTab {...props} />;
    case "triggers":
      return <TriggersTab {...props} />;
    case "async":
      return <AsyncTab {...props} />;
    case "instances":
      return <InstancesTab {...props} />;
    default:
      return <ConfigTab {...props} />;
  }
}

// Live instances per node: their state, age, qualifier, and the memory their last invocation used.
import { call, listAll } from "../api";
import { ago, ErrorBox, usePoll } from "../ui";
import { fnPath, type TabProps } from "./function";

interface Instance {
  instanceId: string;
  versionId: number;
  node?: string;
  qualifier?: string;
  startedAt?: string;
  state?: string;
  provisioned?: boolean;
}
interface Record {
  instanceId: string;
  maxMemoryMb: number;
  startTime: string;
}

export function InstancesTab({ service, fn }: TabProps) {
  const data = usePoll(
    async (signal) => {
      const [instances, recent] = await Promise.all([
        call<{ instances: Instance[] }>("GET", `${fnPath(service, fn)}/instances`, { signal }).then((r) => r.data.instances),
        listAll<Record>(`${fnPath(service, fn)}/invocations-log`, "invocations", { since: new Date(Date.now() - 3_600_000).toISOString() }, 1_000).catch(() => []),
      ]);
      const memory = new Map<string, number>();
      for (const r of recent) memory.set(r.instanceId, r.maxMemoryMb);
      return { instances, memory };
    },
    2_000,
    [service, fn],
  );
  const byNode = new Map<string, Instance[]>();
  for (const i of data.data?.instances ?? []) byNode.set(i.node ?? "?", [...(byNode.get(i.node ?? "?") ?? []), i]);
  return (
    <section>
      <ErrorBox error={data.error} />
      {data.data && data.data.instances.length === 0 ? <p class="muted">No live instance: the next call starts one.</p> : null}
      {[...byNode].map(([node, list]) => (
        <article key={node}>
          <h2>Node {node}</h2>
          <table>
            <thead>
              <tr>
                <th>Instance</th>
                <th>State</th>
                <th>Started</th>
                <th>Qualifier</th>
                <th>Version</th>
                <th>Memory (last call)</th>
              </tr>
            </thead>
            <tbody>
              {list.map((i) => (
                <tr key={i.instanceId} data-testid={`instance-${i.instanceId}`}>
                  <td>
                    <code>{i.instanceId}</code>
                    {i.provisioned ? " (provisioned)" : ""}
                  </td>
                  <td>{i.state}</td>
                  <td>{i.startedAt ? ago(Date.parse(i.startedAt)) : "—"}</td>
                  <td>{i.qualifier}</td>
                  <td>{i.versionId || "LATEST"}</td>
                  <td>{data.data?.memory.has(i.instanceId) ? `${data.data.memory.get(i.instanceId)} MB` : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </article>
      ))}
    </section>
  );
}

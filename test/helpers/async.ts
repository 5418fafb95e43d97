import type { NimbusClient, StatefulAsyncInvocation } from "@nimbus/sdk";

export const FINAL = new Set(["Succeeded", "Failed", "Stopped", "Expired", "Invalid"]);

/** Polls an invocation until it is in one of `statuses` (default: any final state); bounded. */
export async function waitForInvocation(
  client: NimbusClient,
  service: string,
  fn: string,
  id: string,
  statuses: ReadonlySet<string> = FINAL,
  timeoutMs = 30_000,
): Promise<StatefulAsyncInvocation> {
  const until = Date.now() + timeoutMs;
  let last: StatefulAsyncInvocation | undefined;
  for (;;) {
    last = (await client.getStatefulAsyncInvocation(service, fn, id)).data;
    if (statuses.has(last.status)) return last;
    if (Date.now() > until) throw new Error(`invocation ${id} is still ${last.status} after ${timeoutMs} ms: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Queues an async invocation and returns its id. */
export async function invokeAsync(client: NimbusClient, service: string, fn: string, event: string, id?: string): Promise<string> {
  const res = await client.invokeFunction(service, fn, event, { async: true, ...(id ? { headers: { "x-fc-stateful-async-invocation-id": id } } : {}) });
  if (res.status !== 202) throw new Error(`expected 202, got ${res.status}`);
  return res.headers.get("x-fc-stateful-async-invocation-id") ?? "";
}

/** The statuses an invocation went through, in order. */
export function statuses(invocation: StatefulAsyncInvocation): string[] {
  return invocation.events.map((e) => e.status);
}

/** Every invocation of a function (all pages). */
export async function listAll(client: NimbusClient, service: string, fn: string, query: Record<string, string | number> = {}): Promise<StatefulAsyncInvocation[]> {
  const all: StatefulAsyncInvocation[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < 10_000; page++) {
    const res = await client.listStatefulAsyncInvocations(service, fn, { limit: 100, ...query, ...(nextToken ? { nextToken } : {}) });
    all.push(...res.data.invocations);
    nextToken = res.data.nextToken;
    if (!nextToken) return all;
  }
  throw new Error("too many pages");
}

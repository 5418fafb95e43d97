import { expect, it } from "vitest";
import { PartitionProxy, TestCluster } from "@nimbus/testkit";
import type { FunctionLogLine, NimbusClient } from "@nimbus/sdk";
import { listAll } from "../helpers/async.js";
import { deploy, eventually } from "../helpers/functions.js";

const MAX_INSTANCES = 4;

/** Every line the logs API has for a function since `since`, following nextToken to the end. */
async function allLines(client: NimbusClient, svc: string, fn: string, since: number): Promise<FunctionLogLine[]> {
  const lines: FunctionLogLine[] = [];
  let nextToken: string | undefined;
  do {
    const res = await client.getFunctionLogs(svc, fn, { since: String(since), limit: "1000", ...(nextToken ? { nextToken } : {}) });
    lines.push(...res.data.logs);
    nextToken = res.data.nextToken;
  } while (nextToken);
  return lines;
}

interface Instance {
  instanceId: string;
  node: string;
}

const instancesOf = async (client: NimbusClient): Promise<Instance[]> => ((await client.listInstances("part", "fn")).data as unknown as { instances: Instance[] }).instances;

it("an invoker cut off from NATS for 10 s: its instances counted once, and only calls that never started on it run elsewhere", async () => {
  // Each invoker has room for two instances (128 MB each): four take both nodes.
  const cluster = await TestCluster.start({ services: ["gateway", "async-queue", "log-collector"], env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_INVOKER_MEMORY_MB: "256" } });
  const proxy = await PartitionProxy.start({ port: cluster.nats.port });
  try {
    // Invoker A reaches NATS only through the proxy (Redis directly: the partition is from NATS alone).
    const natsViaProxy = cluster.nats.url.replace(/:(\d+)$/, `:${proxy.port}`);
    const a = await cluster.startService("invoker", { NIMBUS_NATS_URL: natsViaProxy, NIMBUS_NODE_ID: "invoker-a" });
    await cluster.startService("invoker", { NIMBUS_NODE_ID: "invoker-b" });
    const client = await deploy(cluster, "part", "fn", { "index.js": "exports.handler = (e, c, cb) => { console.log('ran ' + e); setTimeout(() => cb(null, 'ok ' + e), 150); };" }, { instanceConcurrency: 2 });
    await client.putOnDemandConfig("part", "LATEST", "fn", MAX_INSTANCES);
    await client.putFunctionAsyncConfig("part", "fn", undefined, { statefulInvocation: true });
    const since = Date.now() - 1_000;

    // Both nodes warm: a burst wider than one node's instances.
    await eventually(
      async () => {
        await Promise.all(Array.from({ length: 8 }, (_, i) => client.invokeFunction("part", "fn", `warm-${Date.now()}-${i}`)));
        expect(new Set((await instancesOf(client)).map((i) => i.node))).toEqual(new Set(["invoker-a", "invoker-b"]));
      },
      "instances on both invokers",
      60_000,
    );

    // Steady load: sync calls and async invocations, each with a payload of its own.
    const sync = { ok: [] as string[], failed: new Map<string, string>() };
    const accepted: string[] = [];
    const nodeOf = new Map<string, string>();
    let maxListed = 0;
    let stop = false;
    const watchInstances = async () => {
      const list = await instancesOf(client);
      maxListed = Math.max(maxListed, list.length);
      for (const i of list) nodeOf.set(i.instanceId, i.node);
    };
    const load = Promise.all([
      ...Array.from({ length: 3 }, async (_, w) => {
        for (let i = 0; !stop; i++) {
          const p = `s${w}-${i}`;
          await client.invokeFunction("part", "fn", p).then(
            () => sync.ok.push(p),
            (err: { code?: string; message?: string }) => sync.failed.set(p, `${err.code}: ${err.message}`),
          );
        }
      }),
      (async () => {
        for (let i = 0; !stop; i++) {
          const id = `a-${i}`;
          const res = await client.invokeFunction("part", "fn", id, { async: true, headers: { "x-fc-stateful-async-invocation-id": id } }).catch(() => undefined);
          if (res?.status === 202) accepted.push(id);
          await new Promise((r) => setTimeout(r, 30));
        }
      })(),
      (async () => {
        while (!stop) {
          await watchInstances().catch(() => undefined);
          await new Promise((r) => setTimeout(r, 300));
        }
      })(),
    ]);
    await new Promise((r) => setTimeout(r, 2_000));
    const onA = (await instancesOf(client)).filter((i) => i.node === "invoker-a").length;
    proxy.partition();
    const cutAt = Date.now();
    await new Promise((r) => setTimeout(r, 10_000));
    proxy.heal();
    await new Promise((r) => setTimeout(r, 4_000));
    stop = true;
    await load;

    // Every accepted async invocation ended Succeeded.
    await eventually(
      async () => {
        const done = new Set((await listAll(client, "part", "fn")).filter((i) => i.status === "Succeeded").map((i) => i.invocationId));
        expect(accepted.filter((id) => !done.has(id))).toEqual([]);
      },
      "every accepted invocation Succeeded",
      90_000,
    );
    // What ran where: each run printed its payload; its instance says on which node.
    await watchInstances();
    // (In the order they ran: the cut-off node's lines reach the logs stream only after the partition.)
    const runs = new Map<string, string[]>();
    await eventually(
      async () => {
        runs.clear();
        const lines = (await allLines(client, "part", "fn", since)).sort((x, y) => Date.parse(x.timestamp) - Date.parse(y.timestamp));
        for (const line of lines) {
          const m = /\bran (\S+)$/.exec(line.message.trim());
          if (m?.[1] && line.instanceId) runs.set(m[1], [...(runs.get(m[1]) ?? []), nodeOf.get(line.instanceId) ?? line.instanceId]);
        }
        expect(sync.ok.filter((p) => !runs.has(p))).toEqual([]);
        expect(accepted.filter((id) => !runs.has(id))).toEqual([]);
      },
      "every successful call's output in the logs",
      60_000,
    );
    const twice = [...runs].filter(([, nodes]) => nodes.length > 1);
    const syncTwice = twice.filter(([p]) => p.startsWith("s"));
    const asyncTwice = twice.filter(([p]) => p.startsWith("a-"));
    const cleanFailures = [...sync.failed.values()].filter((m) => !/^(ServiceUnavailable|ResourceExhausted|ResourceThrottled)/.test(m));
    console.log(
      `invoker-a cut off from NATS for 10 s (${onA} of its instances warm): sync ${sync.ok.length} ok, ${sync.failed.size} failed ` +
        `(${[...new Set([...sync.failed.values()].map((m) => m.split(":")[0]))].join(", ") || "none"}); ${accepted.length} async accepted, all Succeeded; ` +
        `${syncTwice.length} sync and ${asyncTwice.length} async payloads ran twice; at most ${maxListed} instances listed (limit ${MAX_INSTANCES})`,
    );
    // A sync call runs at most once: one in flight on the cut-off node fails, it is not run again.
    expect(syncTwice).toEqual([]);
    expect(cleanFailures).toEqual([]);
    // An async one runs again elsewhere only when its first run was on the cut-off node (at least once).
    for (const [id, nodes] of asyncTwice) expect(nodes[0], `${id} ran on ${nodes.join(", ")}`).toBe("invoker-a");
    // (Those it held when cut off, and any it had queued: never a third run.)
    for (const [id, nodes] of asyncTwice) expect(nodes.length, `${id} ran on ${nodes.join(", ")}`).toBe(2);
    // Its instances stayed counted once: never more listed than the limit, and none twice.
    expect(maxListed).toBeLessThanOrEqual(MAX_INSTANCES);
    const after = await instancesOf(client);
    expect(new Set(after.map((i) => i.instanceId)).size).toBe(after.length);
    expect(after.length).toBeLessThanOrEqual(MAX_INSTANCES);
    // And it serves again once healed.
    expect(Date.now() - cutAt).toBeGreaterThan(10_000);
    expect(a.ready).toBeTruthy();
  } finally {
    await cluster.stop();
    await proxy.stop();
  }
}, 300_000);

import { execFileSync } from "node:child_process";
import { connect, type Socket } from "node:net";
import { hostname, networkInterfaces } from "node:os";
import { describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/transport-node";
import { encode } from "@nimbus/protocol/wire";
import type { TestCluster } from "@nimbus/testkit";
import { useCluster } from "../helpers/cluster.js";
import { deploy, eventually } from "../helpers/functions.js";
import { send } from "../helpers/http.js";
import { connectNats } from "../helpers/nats.js";

// Counts its calls per instance; sleeps for the ms its event names.
const COUNTER = `
let calls = 0;
exports.handler = (event, context, callback) => {
  calls++;
  const n = calls;
  setTimeout(() => callback(null, JSON.stringify({ n, instance: context.requestId && process.pid })), Number(String(event)) || 0);
};`;

interface Advert {
  node: string;
  direct?: { address: string; token: string };
}

/** The direct adverts in the invokers' heartbeats, by node. */
async function adverts(nc: NatsConnection): Promise<Map<string, Advert>> {
  const found = new Map<string, Advert>();
  const sub = nc.subscribe("nimbus.presence.beat", {
    callback: (err, msg) => {
      if (err) return;
      const beat = msg.json<Advert & { service: string }>();
      if (beat.service === "invoker") found.set(beat.node, beat);
    },
  });
  nc.publish("nimbus.presence.probe");
  await new Promise((r) => setTimeout(r, 300));
  sub.unsubscribe();
  return found;
}

/** Counts invocation messages on the bus while `body` runs. */
async function busInvocationsDuring(nc: NatsConnection, body: () => Promise<void>): Promise<number> {
  let count = 0;
  const sub = nc.subscribe("nimbus.invoke.>", {
    callback: () => {
      count++;
    },
  });
  await nc.flush();
  await body();
  await nc.flush();
  sub.unsubscribe();
  return count;
}

/** Waits until warm calls of a function no longer cross the bus (the caller's direct link is open and knows the class). */
async function waitForDirect(nc: NatsConnection, call: () => Promise<unknown>): Promise<void> {
  await eventually(async () => {
    const onBus = await busInvocationsDuring(nc, async () => {
      await call();
    });
    if (onBus > 0) throw new Error(`${onBus} message(s) still crossed the bus`);
  }, "warm calls to go over the direct link", 10_000);
}

function raw(address: string): Promise<Socket> {
  const colon = address.lastIndexOf(":");
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address.slice(0, colon), port: Number(address.slice(colon + 1)) }, () => resolve(socket));
    socket.once("error", reject);
  });
}

function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
    socket.on("error", () => undefined);
  });
}

function framed(message: unknown): Buffer {
  const body = encode(message);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

const invokePath = (svc: string, fn: string) => `/2016-08-15/services/${svc}/functions/${fn}/invocations`;

describe("warm calls over direct links", () => {
  const suite = useCluster({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "info" } });
  const cluster = (): TestCluster => suite.cluster;

  it("skip the message bus once the function is warm, for API calls and HTTP triggers alike", async () => {
    const nc = await connectNats(cluster());
    try {
      const client = await deploy(cluster(), "direct", "counter", { "index.js": COUNTER }, { instanceConcurrency: 10 });
      await client.invokeFunction("direct", "counter", "0");
      await waitForDirect(nc, () => client.invokeFunction("direct", "counter", "0"));
      let results: { n: number }[] = [];
      const onBus = await busInvocationsDuring(nc, async () => {
        results = await Promise.all(Array.from({ length: 40 }, async () => JSON.parse((await client.invokeFunction("direct", "counter", "1")).data.toString())));
      });
      expect(onBus).toBe(0);
      expect(results).toHaveLength(40);

      const http = await deploy(cluster(), "direct", "web", { "index.js": "exports.handler = (req, res) => res.send('hi ' + req.path);" });
      await http.createTrigger("direct", "web", { triggerName: "http", triggerType: "http", triggerConfig: { authType: "anonymous", methods: ["GET"] } });
      const get = () => send(cluster(), { method: "GET", path: "/2016-08-15/proxy/direct/web/x", sign: false });
      expect((await get()).text).toBe("hi /x");
      await waitForDirect(nc, get);
      const statuses: number[] = [];
      expect(await busInvocationsDuring(nc, async () => {
        for (const r of await Promise.all(Array.from({ length: 20 }, get))) statuses.push(r.status);
      })).toBe(0);
      expect(statuses.every((s) => s === 200)).toBe(true);
    } finally {
      await nc.close();
    }
  });

  it("an invoker listening on every interface advertises an address other hosts can reach, not its name", async () => {
    const nc = await connectNats(cluster());
    const node = await cluster().startService("invoker", { NIMBUS_INVOKER_DIRECT_LISTEN: "0.0.0.0:0", NIMBUS_NODE_ID: "wildcard" });
    try {
      const addresses = Object.values(networkInterfaces()).flatMap((l) => l ?? []).filter((a) => a.family === "IPv4" && !a.internal).map((a) => a.address);
      const advert = await eventually(async () => {
        const found = (await adverts(nc)).get("wildcard")?.direct?.address;
        if (!found) throw new Error("no advert yet");
        return found;
      }, "the wildcard invoker's advert");
      const host = advert.slice(0, advert.lastIndexOf(":"));
      expect(addresses.length ? addresses : [hostname()]).toContain(host);
      const socket = await raw(advert);
      socket.destroy();
    } finally {
      await node.stop(5_000);
      await nc.close();
    }
  });

  it("a link dropped mid-call fails that call clearly, never runs it twice, and comes back", async () => {
    const nc = await connectNats(cluster());
    try {
      const client = await deploy(cluster(), "direct", "dropped", { "index.js": COUNTER }, { instanceConcurrency: 10, timeout: 30 });
      await client.invokeFunction("direct", "dropped", "0");
      await waitForDirect(nc, () => client.invokeFunction("direct", "dropped", "0"));
      const before = JSON.parse((await client.invokeFunction("direct", "dropped", "0")).data.toString()) as { n: number };
      const { direct } = [...(await adverts(nc)).values()][0] as Advert;
      const port = (direct?.address ?? "").split(":").pop();

      const started = Date.now();
      const long = send(cluster(), { method: "POST", path: invokePath("direct", "dropped"), body: "3000" });
      await new Promise((r) => setTimeout(r, 500));
      // Tear down every TCP connection to the invoker's direct port (the gateway's link) from outside.
      execFileSync("ss", ["-K", "dport", "=", `:${port}`], { stdio: "ignore" });
      const res = await long;
      expect(Date.now() - started).toBeLessThan(2_500);
      expect(res.status).toBe(503);
      expect(res.json.ErrorCode).toBe("ServiceUnavailable");
      expect(res.json.ErrorMessage).toMatch(/stopped or cannot be reached/);

      // The call kept running on its instance and was not sent again: the instance counted it once.
      await new Promise((r) => setTimeout(r, 3_000));
      const after = JSON.parse((await client.invokeFunction("direct", "dropped", "0")).data.toString()) as { n: number };
      expect(after.n).toBe(before.n + 2);
      await waitForDirect(nc, () => client.invokeFunction("direct", "dropped", "0"));
    } finally {
      await nc.close();
    }
  });

  it("refuses a link without the token, and a caller that sends too much before saying who it is", async () => {
    const nc = await connectNats(cluster());
    try {
      const { direct } = [...(await adverts(nc)).values()][0] as Advert;
      expect(direct?.address).toMatch(/^127\.0\.0\.1:\d+$/);
      const address = direct?.address ?? "";

      const wrong = await raw(address);
      wrong.write(framed({ t: "hello", token: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", caller: "intruder" }));
      expect(await closedWithin(wrong, 2_000)).toBe(true);

      const big = await raw(address);
      const head = Buffer.alloc(4);
      head.writeUInt32BE(1024 * 1024);
      big.write(head);
      expect(await closedWithin(big, 2_000)).toBe(true);

      const call = await raw(address);
      call.write(framed({ t: "call", id: 1, requestId: "x", req: {} }));
      expect(await closedWithin(call, 2_000)).toBe(true);

      // The right token is welcomed; a frame that is not a call then ends the link.
      const right = await raw(address);
      const frames: Buffer[] = [];
      right.on("data", (chunk: Buffer) => frames.push(chunk));
      right.write(framed({ t: "hello", token: direct?.token, caller: "test" }));
      await eventually(async () => {
        if (Buffer.concat(frames).length < 5) throw new Error("no welcome yet");
      }, "the welcome", 2_000);
      right.write(framed({ t: "nonsense" }));
      expect(await closedWithin(right, 2_000)).toBe(true);

      // The platform's own links were not disturbed.
      const client = cluster().client();
      await deploy(cluster(), "direct", "still", { "index.js": COUNTER });
      expect((await client.invokeFunction("direct", "still", "0")).data.toString()).toMatch(/"n":1/);
    } finally {
      await nc.close();
    }
  });
});

describe("an invoker SIGKILLed under load on the direct path", () => {
  const suite = useCluster({
    services: ["gateway", "invoker", "invoker"],
    env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_NODE_TTL_MS: "2000" },
  });

  it("fails only the calls it was running; calls move to the survivor within 2 s", async () => {
    const cluster = suite.cluster;
    const nc = await connectNats(cluster);
    try {
      const client = await deploy(cluster, "kill", "load", { "index.js": COUNTER }, { instanceConcurrency: 4, timeout: 30 });
      // Warm both nodes: a burst wider than one instance's concurrency spreads over them.
      for (let i = 0; i < 5; i++) await Promise.all(Array.from({ length: 16 }, () => client.invokeFunction("kill", "load", "150")));
      await waitForDirect(nc, () => client.invokeFunction("kill", "load", "0"));

      const calls: { start: number; end: number; status: number; message?: string }[] = [];
      let running = true;
      const worker = async () => {
        while (running) {
          const start = Date.now();
          const res = await send(cluster, { method: "POST", path: invokePath("kill", "load"), body: "20" });
          calls.push({ start, end: Date.now(), status: res.status, ...(res.json.ErrorMessage ? { message: res.json.ErrorMessage } : {}) });
        }
      };
      const workers = Array.from({ length: 8 }, worker);
      await new Promise((r) => setTimeout(r, 1_500));
      const killedAt = Date.now();
      await cluster.service("invoker", 0).kill();
      await new Promise((r) => setTimeout(r, 4_000));
      running = false;
      await Promise.all(workers);

      const failed = calls.filter((x) => x.status !== 200);
      const after = calls.filter((x) => x.start > killedAt);
      const lastFailure = Math.max(killedAt, ...failed.map((x) => x.end));
      console.log(
        `SIGKILL under load: ${calls.length} calls, ${failed.length} failed (in flight at the kill); last failure ${lastFailure - killedAt} ms after it; ` +
          `${after.filter((x) => x.status === 200).length}/${after.length} calls sent after it succeeded`,
      );
      // Only calls in flight at the kill fail (at most one per worker), each with a clear 503.
      expect(failed.length).toBeLessThanOrEqual(8);
      for (const f of failed) {
        expect(f.status).toBe(503);
        // Sent before the gateway saw its link close (the kill is a moment's work).
        expect(f.start).toBeLessThan(killedAt + 500);
        expect(f.message).toMatch(/stopped/);
      }
      const late = calls.filter((x) => x.start >= killedAt + 2_000);
      expect(late.length).toBeGreaterThan(10);
      expect(late.every((x) => x.status === 200)).toBe(true);
      await waitForDirect(nc, () => client.invokeFunction("kill", "load", "0"));
    } finally {
      await nc.close();
    }
  });
});

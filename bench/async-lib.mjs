// What the async benchmarks share: the no-op function, a signed async enqueuer, completion counting.
import { Agent, request } from "node:http";
import { QueueEvents } from "bullmq";
import { authorization } from "@nimbus/sdk";
import { createNaming } from "@nimbus/protocol";
import { makeZip } from "@nimbus/testkit";

/** Deploys bench/noop (a no-op event handler, instanceConcurrency 100); returns its queue (BullMQ name and prefix). */
export async function deployNoop(cluster) {
  const client = cluster.client();
  await client.createService("bench");
  await client.createFunction("bench", {
    functionName: "noop",
    runtime: "nodejs20",
    handler: "index.handler",
    instanceConcurrency: 100,
    code: { zipFile: (await makeZip({ "index.js": "exports.handler = (e, c, cb) => cb(null, '');" })).toString("base64") },
  });
  // Where its invocations queue (BullMQ name and prefix).
  return createNaming().bull.asyncQueue("bench", "noop");
}

/** A function that queues one signed asynchronous invocation of bench/noop, or `fn` (resolves on its 202). */
export function asyncEnqueuer(cluster, callers, { fn = "noop", payload = "" } = {}) {
  const path = `/2016-08-15/services/bench/functions/${fn}/invocations`;
  const body = Buffer.from(payload);
  const url = new URL(cluster.endpoint());
  const agent = new Agent({ keepAlive: true, maxSockets: callers });
  const { accessKeyId, accessKeySecret } = cluster.credentials;
  return () =>
    new Promise((resolve, reject) => {
      const headers = { date: new Date().toUTCString(), "x-fc-invocation-type": "Async", "content-length": String(body.length) };
      headers.authorization = authorization(accessKeyId, accessKeySecret, { method: "POST", path, headers });
      const req = request({ host: url.hostname, port: url.port, method: "POST", path, headers, agent }, (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 202 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      });
      req.on("error", reject);
      req.end(body);
    });
}

/** Runs `total` calls of `task` from `parallel` callers. */
export async function fromCallers(total, parallel, task) {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < total) {
        next++;
        await task();
      }
    }),
  );
}

/** Counts a BullMQ queue's `completed` events: `expect(n)` resolves with the time the n-th arrived. */
export async function completions(redisUrl, name, prefix) {
  const events = new QueueEvents(name, { connection: { url: redisUrl, maxRetriesPerRequest: null }, prefix });
  events.on("error", () => undefined);
  await events.waitUntilReady();
  let count = 0;
  let target = Infinity;
  let done;
  events.on("completed", () => {
    if (++count >= target) done?.(performance.now());
  });
  return {
    expect(n) {
      count = 0;
      target = n;
      return new Promise((resolve) => (done = resolve));
    },
    close: () => events.close(),
  };
}

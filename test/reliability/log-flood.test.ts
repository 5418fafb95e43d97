import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNaming } from "@nimbus/protocol";
import type { FunctionLogLine, NimbusClient } from "@nimbus/sdk";
import { useCluster } from "../helpers/cluster.js";
import { deploy, eventually } from "../helpers/functions.js";
import { connectNats } from "../helpers/nats.js";
import { redisOf } from "../helpers/redis.js";

// RELIABILITY #21: a function that floods its output outside any invocation (module scope, timers,
// a child process) is capped and counted, and never pushes another function's logs out of the
// stream. The stream is small here (24 MB, 4 MB a function) so that the flood would fill it many
// times over in the time the test runs.
const SHARE_BYTES = 4 * 1024 * 1024;
const ctx = useCluster({
  services: ["gateway", "invoker", "log-collector"],
  env: {
    NIMBUS_LOG_LEVEL: "warn",
    NIMBUS_METRICS_PORT: "0",
    NIMBUS_LOG_MAX_BYTES: String(24 * 1024 * 1024),
    NIMBUS_LOG_MAX_BYTES_PER_FUNCTION: String(SHARE_BYTES),
    // Rates far above what this stream can hold for long, so that the shares (not the rates) must
    // protect the quiet function's lines; bursts small beside the stream, as the defaults are
    // beside the default 2 GB.
    NIMBUS_LOG_FUNCTION_BYTES_PER_SECOND: String(8 * 1024 * 1024),
    NIMBUS_LOG_FUNCTION_BURST_BYTES: String(2 * 1024 * 1024),
    NIMBUS_LOG_IDLE_BYTES_PER_SECOND: String(8 * 1024 * 1024),
    NIMBUS_LOG_IDLE_BURST_BYTES: String(2 * 1024 * 1024),
  },
});

const FLOODER = `
const { spawn } = require("child_process");
const block = ("x".repeat(1023) + "\\n").repeat(64);
for (let i = 0; i < 32; i++) process.stdout.write(block);          // 2 MB at module scope
setInterval(() => { for (let i = 0; i < 16; i++) process.stdout.write(block); }, 10); // ~100 MB/s from a timer
spawn("yes", ["flood from a child process"], { stdio: ["ignore", "inherit", "inherit"] }); // and raw, from a child
exports.handler = (event, context, callback) => callback(null, "flooding");
`;

const QUIET = `
exports.handler = (event, context, callback) => {
  for (let i = 0; i < 200; i++) console.log("quiet line " + i);
  callback(null, context.requestId);
};`;

let client: NimbusClient;
let redis: ReturnType<typeof redisOf>;
beforeAll(() => {
  client = ctx.cluster.client();
  redis = redisOf(ctx.cluster);
});
afterAll(() => redis?.disconnect());

async function linesOf(svc: string, fn: string, requestId: string): Promise<FunctionLogLine[]> {
  const lines: FunctionLogLine[] = [];
  let nextToken: string | undefined;
  do {
    const res = await client.getFunctionLogs(svc, fn, { requestId, limit: "100", ...(nextToken ? { nextToken } : {}) });
    lines.push(...res.data.logs);
    nextToken = res.data.nextToken;
  } while (nextToken);
  return lines;
}

async function metric(service: "invoker" | "log-collector", name: string): Promise<number> {
  const port = ctx.cluster.service(service).ready?.metricsPort;
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? "NaN");
}

describe("a function flooding its output outside any invocation (RELIABILITY #21)", () => {
  it("is capped and counted, and leaves another function's logs intact", { timeout: 180_000 }, async () => {
    await deploy(ctx.cluster, "flood", "quiet", { "index.js": QUIET });
    const quiet = await client.invokeFunction("flood", "quiet", "");
    const quietId = quiet.requestId;
    await eventually(async () => {
      if ((await linesOf("flood", "quiet", quietId)).length < 202) throw new Error("not all quiet lines are indexed yet");
    }, "the quiet function's lines are in the stream");

    // What the flooder puts through the stream, as it goes by.
    const nc = await connectNats(ctx.cluster);
    const naming = createNaming("nimbus");
    let flooded = 0;
    let notes = 0;
    let first: number | undefined;
    const decoder = new TextDecoder();
    const sub = nc.subscribe(naming.subjects.logs("flood", "flooder"), {
      callback: (_err, msg) => {
        first ??= Date.now();
        flooded += msg.data.length;
        if (decoder.decode(msg.data).includes("[nimbus] output dropped: this")) notes++;
      },
    });
    await deploy(ctx.cluster, "flood", "flooder", { "index.js": FLOODER }, { memorySize: 256 });
    expect((await client.invokeFunction("flood", "flooder", "")).data.toString()).toBe("flooding");
    await eventually(async () => {
      if (!(flooded > 72 * 1024 * 1024)) throw new Error(`only ${flooded} bytes so far`);
    }, "the flood puts three times the stream's size through it", 120_000);
    const seconds = (Date.now() - (first ?? Date.now())) / 1000;
    sub.unsubscribe();
    // The quiet function's lines are all still there.
    const lines = await linesOf("flood", "quiet", quietId);
    expect(lines.filter((l) => l.message.includes("quiet line ")).length).toBe(200);
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(naming.streams.logs);
    const limited = await metric("invoker", "nimbus_function_log_bytes_rate_limited");
    const purges = await metric("log-collector", "nimbus_collector_share_purges_total");
    const held = Number(await redis.get(naming.redis.logUsageTotal("flood", "flooder")));
    console.log(
      `flood: ${Math.round(flooded / 1024 / 1024)} MB through the stream in ${seconds.toFixed(1)} s (its rate: 8 MB/s), ${Math.round(limited / 1024 / 1024)} MB refused by the output rates, ` +
        `${notes} notes of it; ${purges} purges kept it within its ${SHARE_BYTES / 1024} KB share (it holds ${Math.round(held / 1024)} KB); the stream holds ${Math.round(info.state.bytes / 1024 / 1024)} MB of its 24 MB`,
    );

    // The flooder holds no more than its share, and was rationed.
    expect(held).toBeLessThanOrEqual(SHARE_BYTES + SHARE_BYTES / 16 + 512 * 1024);
    expect(limited).toBeGreaterThan(0);
    expect(notes).toBeGreaterThan(0);

    await client.deleteFunction("flood", "flooder");
    await nc.close();
  });
});

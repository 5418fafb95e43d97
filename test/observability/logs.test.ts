import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNaming } from "@nimbus/protocol";
import type { FunctionLogLine, NimbusClient } from "@nimbus/sdk";
import { useCluster } from "../helpers/cluster.js";
import { uniqueName } from "../helpers/fc.js";
import { deploy, eventually } from "../helpers/functions.js";
import { redisOf } from "../helpers/redis.js";

const ctx = useCluster({
  services: ["gateway", "invoker", "log-collector"],
  env: { NIMBUS_LOG_LEVEL: "warn" },
});

let client: NimbusClient;
let redis: ReturnType<typeof redisOf>;
beforeAll(() => {
  client = ctx.cluster.client();
  redis = redisOf(ctx.cluster);
});
afterAll(async () => {
  redis?.disconnect();
});

/** Prints what the event asks for: a stdout line, a stderr line and a raw (unformatted) write. */
const PRINTER = `
exports.handler = (event, context, callback) => {
  const { tag } = JSON.parse(event.toString());
  console.log("hello from " + tag);
  console.error("trouble in " + tag);
  process.stdout.write("raw " + tag + "\\n");
  callback(null, context.requestId);
};`;

/** Every line the logs API has for a query, following nextToken to the end. */
async function allLines(svc: string, fn: string, query: Record<string, string>): Promise<FunctionLogLine[]> {
  const lines: FunctionLogLine[] = [];
  let nextToken: string | undefined;
  do {
    const res = await client.getFunctionLogs(svc, fn, { ...query, ...(nextToken ? { nextToken } : {}) });
    lines.push(...res.data.logs);
    nextToken = res.data.nextToken;
  } while (nextToken);
  return lines;
}

async function invoke(svc: string, fn: string, event: string): Promise<{ requestId: string; body: string }> {
  const res = await client.invokeFunction(svc, fn, event);
  return { requestId: res.requestId, body: res.data.toString() };
}

/** The logs of one invocation once its End line is in (lines ship asynchronously). */
async function linesOf(svc: string, fn: string, requestId: string, extra: Record<string, string> = {}): Promise<FunctionLogLine[]> {
  return eventually(async () => {
    const lines = await allLines(svc, fn, { requestId, limit: "1000", ...extra });
    if (!lines.some((l) => l.message.startsWith(`FC Invoke End RequestId: ${requestId}`))) throw new Error(`${lines.length} lines so far, no End line`);
    return lines;
  }, `the lines of ${requestId}`);
}

describe("function logs", () => {
  it("returns the lines an invocation printed, by request id and by keyword, attributed and paginated", async () => {
    const svc = uniqueName("logs");
    await deploy(ctx.cluster, svc, "printer", { "index.js": PRINTER });
    const calls = [];
    for (const tag of ["alpha", "beta", "gamma"]) calls.push({ tag, ...(await invoke(svc, "printer", JSON.stringify({ tag }))) });
    for (const c of calls) expect(c.body).toBe(c.requestId);

    const beta = calls[1] as { requestId: string };
    const lines = await linesOf(svc, "printer", beta.requestId);
    expect(lines.map((l) => [l.stream, l.message.replace(/^\S+Z \S+ /, "<ts> <rid> ")])).toEqual([
      ["stdout", `FC Invoke Start RequestId: ${beta.requestId}`],
      ["stdout", "<ts> <rid> [verbose] hello from beta"],
      ["stderr", "<ts> <rid> [error] trouble in beta"],
      ["stdout", "raw beta"],
      ["stdout", `FC Invoke End RequestId: ${beta.requestId}`],
    ]);
    for (const l of lines) {
      expect(l).toMatchObject({ requestId: beta.requestId, qualifier: "LATEST", versionId: "", instanceId: expect.stringMatching(/^c-[0-9a-f]{8}-/) });
      expect(Date.parse(l.timestamp)).toBeGreaterThan(Date.now() - 60_000);
    }
    expect(await allLines(svc, "printer", { requestId: beta.requestId, stream: "stderr" })).toHaveLength(1);

    // By keyword: across invocations, only the lines that contain it, oldest first.
    await linesOf(svc, "printer", (calls[2] as { requestId: string }).requestId);
    const hello = await allLines(svc, "printer", { keyword: "hello from" });
    expect(hello.map((l) => l.message.split(" ").at(-1))).toEqual(["alpha", "beta", "gamma"]);
    expect(hello.map((l) => l.requestId)).toEqual(calls.map((c) => c.requestId));

    // Pages of 2 add up to the whole, without repeats.
    const whole = await allLines(svc, "printer", {});
    const paged: FunctionLogLine[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const res = await client.getFunctionLogs(svc, "printer", { limit: "2", ...(nextToken ? { nextToken } : {}) });
      expect(res.data.logs.length).toBeLessThanOrEqual(2);
      paged.push(...res.data.logs);
      nextToken = res.data.nextToken;
      pages++;
    } while (nextToken);
    expect(whole.length).toBeGreaterThanOrEqual(15);
    expect(paged).toEqual(whole);
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(whole.length / 2));

    // A time window: nothing before the first call.
    const until = String(Date.parse((whole[0] as FunctionLogLine).timestamp) - 1);
    expect(await allLines(svc, "printer", { since: String(Date.now() - 600_000), until })).toEqual([]);
  });

  it("refuses bad queries with FC errors and a request id", async () => {
    const svc = uniqueName("logs");
    await deploy(ctx.cluster, svc, "fn", { "index.js": PRINTER });
    const bad = async (query: Record<string, string>, code: string, status: number, fn = "fn") => {
      const err = await client.getFunctionLogs(svc, fn, query).then(
        () => undefined,
        (e: unknown) => e as { code: string; status: number; requestId: string; message: string },
      );
      expect(err, JSON.stringify(query)).toMatchObject({ code, status, requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
      return err;
    };
    await bad({ nextToken: "not-a-token" }, "InvalidArgument", 400);
    await bad({ limit: "0" }, "InvalidArgument", 400);
    await bad({ limit: "100000" }, "InvalidArgument", 400);
    await bad({ since: "yesterday-ish" }, "InvalidArgument", 400);
    await bad({ requestId: "../../etc" }, "InvalidArgument", 400);
    await bad({ stream: "stdin" }, "InvalidArgument", 400);
    await bad({ keyword: "x".repeat(300) }, "InvalidArgument", 400);
    await bad({}, "FunctionNotFound", 404, "missing");
    await expect(client.listInvocationLogs(svc, "fn", { status: "Bogus" })).rejects.toMatchObject({ code: "InvalidArgument", status: 400 });
    await expect(client.getFunctionMetrics(svc, "fn", { step: "90" })).rejects.toMatchObject({ code: "InvalidArgument", status: 400 });
    await expect(client.getFunctionMetrics(svc, "fn", { since: String(Date.now()), until: String(Date.now() - 60_000) })).rejects.toMatchObject({ code: "InvalidArgument" });
  });

  it("counts the calls made on an alias apart too: the metrics API's qualifier", async () => {
    const svc = uniqueName("logs");
    const client = await deploy(ctx.cluster, svc, "fn", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'ok');" });
    const { versionId } = (await client.publishVersion(svc)).data;
    await client.createAlias(svc, { aliasName: "live", versionId });
    for (let i = 0; i < 3; i++) await client.invokeFunction(svc, "fn", "x", { qualifier: "live" });
    for (let i = 0; i < 2; i++) await client.invokeFunction(svc, "fn", "x");
    const total = async (query: Record<string, string>) =>
      (await client.getFunctionMetrics(svc, "fn", { since: String(Date.now() - 600_000), ...query })).data.points.reduce((n, p) => n + p.invocations, 0);
    await eventually(async () => expect(await total({})).toBe(5), "5 calls counted", 30_000);
    await eventually(async () => expect(await total({ qualifier: "live" })).toBe(3), "3 on the alias", 30_000);
    expect(await total({ qualifier: "LATEST" })).toBe(5);
    expect(await total({ qualifier: "other" })).toBe(0);
    await expect(client.getFunctionMetrics(svc, "fn", { qualifier: "../x" })).rejects.toMatchObject({ code: "InvalidArgument", status: 400 });
  });

  it("splits lines over 32 KB into numbered parts that join back, without cutting a character", async () => {
    const svc = uniqueName("logs");
    // 100,000 two-byte characters on one line, then one line written in three pieces with pauses.
    await deploy(ctx.cluster, svc, "long", {
      "index.js": `
exports.handler = async () => {
  process.stdout.write("é".repeat(100000) + "\\n");
  process.stdout.write("one ");
  await new Promise((r) => setTimeout(r, 50));
  process.stdout.write("line in ");
  await new Promise((r) => setTimeout(r, 50));
  process.stdout.write("pieces\\n");
  return "ok";
};`,
    });
    const { requestId } = await invoke(svc, "long", "");
    const lines = await linesOf(svc, "long", requestId);
    const parts = lines.filter((l) => l.part !== undefined);
    expect(parts.map((l) => l.part)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    for (const p of parts) expect(Buffer.byteLength(p.message)).toBeLessThanOrEqual(32 * 1024);
    expect(parts.map((l) => l.message).join("")).toBe("é".repeat(100_000));
    expect(lines.some((l) => l.message.includes("\uFFFD"))).toBe(false);
    expect(lines.filter((l) => l.part === undefined).map((l) => l.message)).toContain("one line in pieces");
  });

  it("follows new lines as Server-Sent Events until the client leaves", async () => {
    const svc = uniqueName("logs");
    await deploy(ctx.cluster, svc, "printer", { "index.js": PRINTER });
    const abort = new AbortController();
    const live = await client.followLogs(svc, "printer", { keyword: "hello from" }, abort.signal);
    const received: { line: FunctionLogLine; at: number }[] = [];
    const reading = (async () => {
      for await (const line of live) received.push({ line, at: Date.now() });
    })();

    // The gateway answered only once it was subscribed: a line printed now must arrive.
    const calls: { requestId: string; answeredAt: number }[] = [];
    for (const tag of ["one", "two", "three"]) {
      const { requestId } = await invoke(svc, "printer", JSON.stringify({ tag }));
      calls.push({ requestId, answeredAt: Date.now() });
    }
    await eventually(async () => expect(received).toHaveLength(3), "three followed lines", 5_000);
    expect(received.map((r) => r.line.message.split(" ").at(-1))).toEqual(["one", "two", "three"]);
    expect(received.map((r) => r.line.requestId)).toEqual(calls.map((c) => c.requestId));
    // Lines ship within about a tenth of a second; "within a second" of the answer is the contract.
    const lags = received.map((r, i) => r.at - (calls[i] as { answeredAt: number }).answeredAt);
    for (const lag of lags) expect(lag).toBeLessThan(1_000);
    console.log(`follow: each line arrived ${lags.join(", ")} ms after its call answered`);

    abort.abort();
    await reading;
    // The gateway let go of the follower: a later call is not delivered anywhere, and more can follow.
    await invoke(svc, "printer", JSON.stringify({ tag: "after" }));
    expect(received).toHaveLength(3);
    const again = new AbortController();
    const second = await client.followLogs(svc, "printer", {}, again.signal);
    again.abort();
    for await (const _ of second) break;
  });

  it("caps a 50 MB flood at the per-invocation limit with a marker, without failing or slowing the next call", async () => {
    const svc = uniqueName("logs");
    await deploy(
      ctx.cluster,
      svc,
      "flood",
      {
        "index.js": `
const line = "x".repeat(1023) + "\\n";
const block = line.repeat(64);
exports.handler = (event, context, callback) => {
  if (event.toString() === "flood") for (let i = 0; i < 800; i++) process.stdout.write(block); // 50 MB
  console.log("after " + event.toString());
  callback(null, "done " + event.toString());
};`,
      },
      { timeout: 60 },
    );
    const flood = await invoke(svc, "flood", "flood");
    expect(flood.body).toBe("done flood");
    const calmStarted = Date.now();
    const next = await invoke(svc, "flood", "calm");
    const calmMs = Date.now() - calmStarted;
    expect(next.body).toBe("done calm");

    const floodLines = await linesOf(svc, "flood", flood.requestId);
    const marker = floodLines.filter((l) => l.message.startsWith("[nimbus] output truncated"));
    expect(marker).toHaveLength(1);
    const printed = floodLines.filter((l) => l.message.startsWith("xxx"));
    const bytes = printed.reduce((n, l) => n + l.message.length + 1, 0);
    expect(bytes).toBeGreaterThan(10 * 1024 * 1024 - 64 * 1024);
    expect(bytes).toBeLessThanOrEqual(10 * 1024 * 1024);
    expect(floodLines.some((l) => l.message.includes("after flood"))).toBe(false); // past the cap
    expect(floodLines.at(-1)?.message).toBe(`FC Invoke End RequestId: ${flood.requestId}`);
    console.log(`flood: 50 MB printed, ${bytes} bytes kept in ${printed.length} lines + 1 marker; the next call took ${calmMs} ms`);

    // The next invocation on the same instance has its own budget and all of its lines.
    const nextLines = await linesOf(svc, "flood", next.requestId);
    expect(nextLines.map((l) => l.message.replace(/^\S+Z \S+ /, ""))).toEqual([
      `FC Invoke Start RequestId: ${next.requestId}`,
      "[verbose] after calm",
      `FC Invoke End RequestId: ${next.requestId}`,
    ]);
    expect(nextLines[0]?.instanceId).toBe(floodLines[0]?.instanceId);
  });

  it("lists one record per invocation with its outcome", async () => {
    const svc = uniqueName("logs");
    await deploy(ctx.cluster, svc, "fn", {
      "index.js": `exports.handler = (event, context, callback) => event.toString() === "fail" ? callback(new Error("no")) : callback(null, "ok");`,
    });
    const ok = await invoke(svc, "fn", "x");
    const failed = await client.invokeFunction(svc, "fn", "fail");
    const records = await eventually(async () => {
      const res = await client.listInvocationLogs(svc, "fn", {});
      expect(res.data.invocations).toHaveLength(2);
      return res.data.invocations;
    }, "two invocation records");
    expect(records[0]).toEqual({
      requestId: ok.requestId,
      service: svc,
      function: "fn",
      qualifier: "LATEST",
      versionId: "",
      instanceId: expect.stringMatching(/^c-/),
      trigger: "api",
      startTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      durationMs: expect.any(Number),
      maxMemoryMb: expect.any(Number),
      coldStart: true,
      initDurationMs: expect.any(Number),
      status: "Succeeded",
    });
    expect(records[1]).toMatchObject({ requestId: failed.requestId, coldStart: false, status: "Failed", errorType: failed.headers.get("x-fc-error-type") });
    expect(records[1]?.["errorType"]).toMatch(/InvocationError$/);
    const onlyFailed = await client.listInvocationLogs(svc, "fn", { status: "Failed" });
    expect(onlyFailed.data.invocations.map((r) => r.requestId)).toEqual([failed.requestId]);
    const byId = await client.listInvocationLogs(svc, "fn", { requestId: ok.requestId, limit: "1" });
    expect(byId.data.invocations.map((r) => r.requestId)).toEqual([ok.requestId]);
  });

  it("keeps x-fc-log-type: Tail working alongside the logs API", async () => {
    const svc = uniqueName("logs");
    await deploy(ctx.cluster, svc, "printer", { "index.js": PRINTER });
    const res = await client.invokeFunction(svc, "printer", JSON.stringify({ tag: "tail" }), { logTail: true });
    const tail = Buffer.from(res.headers.get("x-fc-log-result") ?? "", "base64").toString();
    expect(tail).toContain("[verbose] hello from tail");
    expect(tail).toContain(`FC Invoke End RequestId: ${res.requestId}`);
    expect((await linesOf(svc, "printer", res.requestId)).map((l) => l.message)).toContain("raw tail");
  });

  it("misses nothing while the collector is killed: it catches up on restart, indexing and counting each line and invocation once", async () => {
    const svc = uniqueName("logs");
    const naming = createNaming();
    await deploy(ctx.cluster, svc, "printer", { "index.js": PRINTER });
    const before = await invoke(svc, "printer", JSON.stringify({ tag: "before" }));
    await linesOf(svc, "printer", before.requestId);

    const collector = ctx.cluster.service("log-collector");
    await collector.kill();
    const during: string[] = [];
    for (let i = 0; i < 20; i++) during.push((await invoke(svc, "printer", JSON.stringify({ tag: `during-${i}` }))).requestId);
    await new Promise((r) => setTimeout(r, 300)); // let the invoker ship them while nobody collects
    const indexedWhileDown = await redis.exists(naming.redis.logIndex(svc, "printer", during[19] as string));
    const restarted = Date.now();
    await collector.start();

    // Each request the collector missed is indexed once it is back (the API answers from the index).
    await eventually(async () => {
      const missing = [];
      for (const id of during) if (!(await redis.exists(naming.redis.logIndex(svc, "printer", id)))) missing.push(id);
      expect(missing).toEqual([]);
    }, "the collector indexed what it missed");
    console.log(`collector: 20 invocations while it was down, all indexed ${Date.now() - restarted} ms after its restart`);
    expect(indexedWhileDown).toBe(0);
    for (const id of during) {
      const lines = await allLines(svc, "printer", { requestId: id });
      expect(lines).toHaveLength(5);
    }
    // …and counted every invocation exactly once in the per-function figures.
    await eventually(async () => {
      const res = await client.getFunctionMetrics(svc, "printer", { since: String(Date.now() - 600_000) });
      const sum = res.data.points.reduce((n, p) => n + p.invocations, 0);
      expect(sum).toBe(21);
    }, "21 invocations counted", 60_000);
    await new Promise((r) => setTimeout(r, 500));
    const res = await client.getFunctionMetrics(svc, "printer", { since: String(Date.now() - 600_000) });
    expect(res.data.points.reduce((n, p) => n + p.invocations, 0)).toBe(21);
  });
});

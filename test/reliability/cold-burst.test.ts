import { spawn } from "node:child_process";
import { cpus } from "node:os";
import { describe, expect, it } from "vitest";
import { useCluster } from "../helpers/cluster.js";
import { deploy } from "../helpers/functions.js";
import { fcClient } from "../helpers/fc.js";
import { connectNats } from "../helpers/nats.js";
import { createNaming } from "@nimbus/protocol";

// A burst of first calls keeps an invoker's event loop busy starting sandboxes for seconds; the
// gateway must not take that for a dead node (it used to answer every call of a 200-call burst
// with 503 "the invoker node running the function stopped").
const BURST = 200;
const ctx = useCluster({
  services: ["gateway", "invoker"],
  env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_INSTANCE_IDLE_MS: "600000" },
});

describe("a burst of cold starts", () => {
  it(`serves ${BURST} concurrent first calls without declaring its busy invoker dead`, { timeout: 240_000 }, async () => {
    await deploy(ctx.cluster, "burst", "fn", { "index.js": "exports.handler = (e, c, cb) => cb(null, c.requestId);" }, { timeout: 60 });
    await ctx.cluster.client().putOnDemandConfig("burst", "LATEST", "fn", BURST);
    // The gaps between the invoker's heartbeats, as the gateway would see them.
    const nc = await connectNats(ctx.cluster);
    let last = 0;
    let maxGap = 0;
    const decoder = new TextDecoder();
    const sub = nc.subscribe(createNaming("nimbus").subjects.presence, {
      callback: (_e, msg) => {
        const beat = JSON.parse(decoder.decode(msg.data)) as { service: string };
        if (beat.service !== "invoker") return;
        const now = Date.now();
        if (last) maxGap = Math.max(maxGap, now - last);
        last = now;
      },
    });
    // 200 sandboxes starting at once on a loaded 2-core machine take about a minute before the first
    // answers: the client waits longer than the SDK's default, the point being what comes back.
    const fc = fcClient(ctx.cluster, 0, 170_000);
    // "Under heavy load": the machine's cores are busy with something else too.
    const hogs = [...cpus(), ...cpus(), ...cpus()].map(() => spawn("sh", ["-c", "while :; do :; done"], { stdio: "ignore" }));
    const started = Date.now();
    const outcomes = await Promise.all(
      Array.from({ length: BURST }, () =>
        fc.invokeFunction("burst", "fn", "").then(
          (res) => ({ ok: true as const, cold: res.headers["x-fc-instance-id"] as string }),
          (err: { code?: string; message?: string }) => ({ ok: false as const, error: `${err.code}: ${err.message}` }),
        ),
      ),
    );
    for (const hog of hogs) hog.kill("SIGKILL");
    sub.unsubscribe();
    await nc.close();
    console.log(`longest gap between the invoker's heartbeats during the burst: ${maxGap} ms`);
    const failed = outcomes.filter((o) => !o.ok);
    const instances = new Set(outcomes.flatMap((o) => (o.ok ? [o.cold] : [])));
    console.log(
      `${BURST} concurrent first calls: ${BURST - failed.length} answered, ${failed.length} failed, on ${instances.size} instances, in ${Date.now() - started} ms` +
        (failed.length ? `; first failure: ${(failed[0] as { error: string }).error}` : ""),
    );
    expect(failed.filter((f) => /stopped/.test(f.error))).toEqual([]);
    expect(failed).toEqual([]);
  });
});

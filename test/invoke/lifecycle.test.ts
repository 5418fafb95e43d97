import { describe, expect, it } from "vitest";
import type { FunctionLogLine } from "@nimbus/sdk";
import { useCluster } from "../helpers/cluster.js";
import { deploy, eventually } from "../helpers/functions.js";

// FC's instanceLifecycleConfig.preStop: the hook runs before an instance is stopped on purpose.
const ctx = useCluster({ services: ["gateway", "invoker", "log-collector"], env: { NIMBUS_LOG_LEVEL: "warn" } });

const NODE = `
exports.handler = (event, context, callback) => callback(null, "served");
exports.preStop = (context, callback) => {
  console.log("flushing before stop " + context.function.name);
  callback();
};`;

const PYTHON = `
import logging
def handler(event, context):
    return "served"
def pre_stop(context):
    logging.getLogger().info("flushing before stop %s", context.function.name)
`;

async function logLines(svc: string, fn: string): Promise<FunctionLogLine[]> {
  return (await ctx.cluster.client().getFunctionLogs(svc, fn, { limit: "200" })).data.logs;
}

describe("pre-stop hooks", () => {
  for (const [runtime, files, handler, preStop] of [
    ["nodejs20", { "index.js": NODE }, "index.handler", "index.preStop"],
    ["python3", { "index.py": PYTHON }, "index.handler", "index.pre_stop"],
  ] as const) {
    it(`run before a retired ${runtime} instance stops, in its own request's log`, async () => {
      const name = `stop-${runtime.replace(".", "")}`;
      const client = await deploy(ctx.cluster, "life", name, files, { runtime, handler, instanceLifecycleConfig: { preStop: { handler: preStop, timeout: 3 } } });
      const read = await client.getFunction("life", name);
      expect((read.data as { instanceLifecycleConfig: unknown }).instanceLifecycleConfig).toMatchObject({ preStop: { handler: preStop, timeout: 3 } });
      const served = await client.invokeFunction("life", name, "");
      expect(served.data.toString()).toBe("served");
      const callId = served.headers.get("x-fc-request-id");
      // A changed function retires its instances: each runs the hook, then stops.
      await client.updateFunction("life", name, { environmentVariables: { CHANGED: "1" } });
      const lines = await eventually(async () => {
        const all = await logLines("life", name);
        if (!all.some((l) => l.message.includes(`flushing before stop ${name}`))) throw new Error(`no pre-stop output yet: ${JSON.stringify(all.map((l) => l.message))}`);
        return all;
      }, "the pre-stop hook's output");
      const hook = lines.find((l) => l.message.includes("flushing before stop")) as FunctionLogLine;
      expect(hook.requestId).not.toBe(callId);
      const ofHook = lines.filter((l) => l.requestId === hook.requestId).map((l) => l.message);
      expect(ofHook[0]).toBe(`FC PreStop Start RequestId: ${hook.requestId}`);
      expect(ofHook.at(-1)).toBe(`FC PreStop End RequestId: ${hook.requestId}`);
      await eventually(async () => {
        const left = (await client.listInstances("life", name)).data.instances;
        if (left.length) throw new Error(`${left.length} instances still listed`);
      }, "the retired instance to be gone");
    });
  }

  it("refuses a pre-stop hook that is not a handler name", async () => {
    const client = ctx.cluster.client();
    await expect(
      deploy(ctx.cluster, "life", "bad-hook", { "index.js": NODE }, { instanceLifecycleConfig: { preStop: { handler: "../../etc/passwd", timeout: 3 } } }),
    ).rejects.toMatchObject({ code: "InvalidArgument" });
    await expect(deploy(ctx.cluster, "life", "bad-timeout", { "index.js": NODE }, { instanceLifecycleConfig: { preStop: { handler: "index.preStop", timeout: 0 } } })).rejects.toMatchObject({
      code: "InvalidArgument",
    });
    expect((await client.listFunctions("life")).data.functions.map((f) => f["functionName"])).not.toContain("bad-hook");
  });
});

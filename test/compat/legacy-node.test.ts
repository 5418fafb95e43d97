import { describe, expect, it } from "vitest";
import { useCluster } from "../helpers/cluster.js";
import { uniqueName } from "../helpers/fc.js";
import { deploy } from "../helpers/functions.js";
import { send } from "../helpers/http.js";

// Issue 15: FC's first Node.js runtimes (nodejs4.4, nodejs6) reported errors as they did on FC;
// every later one keeps today's format.
// A loaded CI machine may take seconds to start a legacy runtime's instance: the gateway waits for the invoker's answer that long.
const ctx = useCluster({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_INVOKE_ACK_TIMEOUT_MS: "20000" } });

const EVENT = `exports.handler = (event, context, callback) => {
  const what = event.toString();
  if (what === 'text') return callback('something failed');
  if (what === 'error') return callback(new Error('an Error'));
  if (what === 'throw') throw new TypeError('thrown at once');
  callback(null, 'fine');
};`;
const HTTP = "exports.handler = (req, resp, context) => { if (req.path === '/throw') throw new Error('thrown in HTTP'); resp.send('fine'); };";

describe("legacy Node.js runtimes", () => {
  for (const runtime of ["nodejs4.4", "nodejs6"]) {
    it(`${runtime}: callback('text') answers only {errorMessage}; a synchronous throw ends the instance, also as an HTTP trigger's 502`, async () => {
      const svc = uniqueName("legacy");
      await deploy(ctx.cluster, svc, "ev", { "index.js": EVENT }, { runtime });
      const text = await ctx.fc.invokeFunction(svc, "ev", "text");
      expect(text.headers["x-fc-error-type"]).toBe("HandledInvocationError");
      expect(text.data).toEqual({ errorMessage: "something failed" });
      const error = await ctx.fc.invokeFunction(svc, "ev", "error");
      expect(error.data).toMatchObject({ errorMessage: "an Error", errorType: "Error" });
      const first = await ctx.fc.invokeFunction(svc, "ev", "");
      const thrown = await ctx.fc.invokeFunction(svc, "ev", "throw", { "x-fc-log-type": "Tail" });
      expect(thrown.headers["x-fc-error-type"]).toBe("UnhandledInvocationError");
      expect(thrown.data.errorMessage).toMatch(/^Process exited unexpectedly before completing request/);
      expect(Buffer.from(String(thrown.headers["x-fc-log-result"]), "base64").toString()).toContain("TypeError: thrown at once");
      const next = await ctx.fc.invokeFunction(svc, "ev", "");
      expect(next.data.toString()).toBe("fine");
      expect(next.headers["x-fc-instance-id"]).not.toBe(first.headers["x-fc-instance-id"]);

      await deploy(ctx.cluster, svc, "web", { "index.js": HTTP }, { runtime });
      await ctx.fc.createTrigger(svc, "web", { triggerName: "http", triggerType: "http", triggerConfig: { authType: "anonymous", methods: ["GET"] } });
      const crashed = await send(ctx.cluster, { method: "GET", path: `/2016-08-15/proxy/${svc}/web/throw`, sign: false });
      expect(crashed.status).toBe(502);
      expect(crashed.json.errorMessage).toMatch(/^Process exited unexpectedly before completing request/);
      expect((await send(ctx.cluster, { method: "GET", path: `/2016-08-15/proxy/${svc}/web/`, sign: false })).text).toBe("fine");
    });
  }

  it("nodejs8 and later keep today's format: callback('text') with its errorType, a throw answered with its stack", async () => {
    const svc = uniqueName("modern");
    await deploy(ctx.cluster, svc, "ev", { "index.js": EVENT }, { runtime: "nodejs8" });
    expect((await ctx.fc.invokeFunction(svc, "ev", "text")).data).toEqual({ errorMessage: "something failed", errorType: "FunctionHandledError" });
    const thrown = await ctx.fc.invokeFunction(svc, "ev", "throw");
    expect(thrown.data).toMatchObject({ errorMessage: "thrown at once", errorType: "FunctionUnhandledError: TypeError" });
  });
});

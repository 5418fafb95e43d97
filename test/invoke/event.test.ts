import { describe, expect, it } from "vitest";
import { useCluster } from "../helpers/cluster.js";
import { deploy, eventually, processesMatching } from "../helpers/functions.js";

const ctx = useCluster({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });

describe("event functions through @alicloud/fc2", () => {
  it("runs FC's canonical handler", async () => {
    await deploy(ctx.cluster, "ev", "hello", { "index.js": "exports.handler = (event, context, callback) => callback(null, 'hello ' + event);" });
    const res = await ctx.fc.invokeFunction("ev", "hello", "world");
    expect(res.data).toBe("hello world");
    expect(res.headers).toMatchObject({
      "x-fc-request-id": expect.stringMatching(/^[0-9a-f-]{36}$/),
      "x-fc-invocation-service-version": "LATEST",
      "x-fc-instance-id": expect.stringMatching(/^c-/),
      "x-fc-invocation-duration": expect.stringMatching(/^\d+$/),
      "x-fc-max-memory-usage": expect.stringMatching(/^\d+\.\d\d$/),
      "x-fc-code-checksum": (await ctx.fc.getFunction("ev", "hello")).data.codeChecksum,
    });
    expect(res.headers["x-fc-error-type"]).toBeUndefined();
  });

  it("runs the initializer once per instance, before the first invocation", async () => {
    await deploy(
      ctx.cluster,
      "ev",
      "init",
      {
        "index.js": `
          let initialized = 0;
          exports.initializer = (context, callback) => { initialized++; console.log('init for', context.requestId); callback(null, ''); };
          exports.handler = (event, context, callback) => callback(null, String(initialized));
        `,
      },
      { initializer: "index.initializer", initializationTimeout: 5 },
    );
    const first = await ctx.cluster.client().invokeFunction("ev", "init", "", { logTail: true });
    const log = Buffer.from(first.headers.get("x-fc-log-result") ?? "", "base64").toString();
    expect(log).toMatch(/FC Initialize Start RequestId: [\s\S]*init for [\s\S]*FC Initialize End[\s\S]*FC Invoke Start/);
    for (let i = 0; i < 5; i++) expect((await ctx.fc.invokeFunction("ev", "init", "")).data).toBe("1");
  });

  it("returns a Buffer result byte for byte", async () => {
    await deploy(ctx.cluster, "ev", "bytes", {
      "index.js": "exports.handler = (event, context, callback) => callback(null, Buffer.from(Array.from({ length: 256 }, (_, i) => i)));",
    });
    const res = await ctx.fc.invokeFunction("ev", "bytes", "", {}, undefined, { rawBuf: true });
    expect(Buffer.compare(res.data, Buffer.from(Array.from({ length: 256 }, (_, i) => i)))).toBe(0);
    const event = Buffer.from([0, 255, 10, 13, 200]);
    await deploy(ctx.cluster, "ev", "echo", { "index.js": "exports.handler = (event, context, callback) => callback(null, event);" });
    const echoed = await ctx.cluster.client().invokeFunction("ev", "echo", event);
    expect(Buffer.compare(echoed.data, event)).toBe(0);
  });

  it("serializes results the way FC does and honours async handlers", async () => {
    await deploy(ctx.cluster, "ev", "json", { "index.js": "exports.handler = (e, c, cb) => cb(null, { a: 1, b: [true] });" });
    expect((await ctx.fc.invokeFunction("ev", "json", "")).data).toBe('{"a":1,"b":[true]}');
    await deploy(ctx.cluster, "ev", "num", { "index.js": "exports.handler = (e, c, cb) => cb(null, 42);" });
    expect((await ctx.fc.invokeFunction("ev", "num", "")).data).toBe("42");
    await deploy(ctx.cluster, "ev", "async", { "index.js": "exports.handler = async (event) => 'async ' + event;" });
    expect((await ctx.fc.invokeFunction("ev", "async", "ok")).data).toBe("async ok");
    await deploy(ctx.cluster, "ev", "esm", { "index.mjs": "export const handler = async (event) => 'esm ' + event;" });
    expect((await ctx.fc.invokeFunction("ev", "esm", "ok")).data).toBe("esm ok");
  });

  it("reports a callback error as HandledInvocationError with FC's body", async () => {
    await deploy(ctx.cluster, "ev", "handled", { "index.js": "exports.handler = (e, c, cb) => cb(new TypeError('bad input'));" });
    const res = await ctx.fc.invokeFunction("ev", "handled", "");
    expect(res.headers["x-fc-error-type"]).toBe("HandledInvocationError");
    expect(res.data).toMatchObject({ errorMessage: "bad input", errorType: "TypeError", stackTrace: expect.arrayContaining([expect.stringContaining("TypeError: bad input")]) });
    await deploy(ctx.cluster, "ev", "handled2", { "index.js": "exports.handler = (e, c, cb) => cb('plain string');" });
    expect((await ctx.fc.invokeFunction("ev", "handled2", "")).data).toEqual({ errorMessage: "plain string", errorType: "FunctionHandledError" });
  });

  it("reports throws and rejections as UnhandledInvocationError", async () => {
    await deploy(ctx.cluster, "ev", "throws", { "index.js": "exports.handler = () => { throw new RangeError('boom'); };" });
    const thrown = await ctx.fc.invokeFunction("ev", "throws", "");
    expect(thrown.headers["x-fc-error-type"]).toBe("UnhandledInvocationError");
    expect(thrown.data).toMatchObject({ errorMessage: "boom", errorType: "FunctionUnhandledError: RangeError" });
    await deploy(ctx.cluster, "ev", "rejects", { "index.js": "exports.handler = async () => { throw new Error('nope'); };" });
    const rejected = await ctx.fc.invokeFunction("ev", "rejects", "");
    expect(rejected.headers["x-fc-error-type"]).toBe("UnhandledInvocationError");
    expect(rejected.data.errorMessage).toBe("nope");
  });

  it("replaces an instance that crashed; the next call succeeds", async () => {
    for (const [name, body] of [
      ["exit", "process.exit(3)"],
      ["uncaught", "setTimeout(() => { throw new Error('later'); }, 1)"],
      ["unhandled", "Promise.reject(new Error('dangling'))"],
    ] as const) {
      await deploy(ctx.cluster, "ev", `crash_${name}`, {
        "index.js": `exports.handler = (event, context, callback) => { if (String(event) === 'crash') { ${body}; } else callback(null, 'fine'); };`,
      });
      const crashed = await ctx.fc.invokeFunction("ev", `crash_${name}`, "crash");
      expect(crashed.headers["x-fc-error-type"], name).toBe("UnhandledInvocationError");
      if (name === "exit") expect(crashed.data.errorMessage).toMatch(/^Process exited unexpectedly before completing request \(duration: \d+ms, maxMemoryUsage: [\d.]+MB\)/);
      else expect(crashed.data.errorMessage).toMatch(/later|dangling|Process exited/);
      const next = await ctx.fc.invokeFunction("ev", `crash_${name}`, "ok");
      expect(next.data, name).toBe("fine");
      expect(next.headers["x-fc-instance-id"]).not.toBe(crashed.headers["x-fc-instance-id"]);
    }
  });

  it("kills a function at its timeout, whole process tree included, and never reuses the instance", async () => {
    for (const [name, code] of [
      ["busy", "for (;;) {}"],
      ["interval", "setInterval(() => {}, 1000);"],
      ["grandchild", "require('child_process').spawn('/bin/sh', ['-c', \"trap '' TERM; exec sleep 1234\"], { stdio: 'ignore' }); setInterval(() => {}, 1000);"],
    ] as const) {
      await deploy(ctx.cluster, "ev", `slow_${name}`, { "index.js": `exports.handler = (event, context, callback) => { if (String(event) === 'ok') return callback(null, 'ok'); ${code} };` }, { timeout: 1 });
      const warm = await ctx.fc.invokeFunction("ev", `slow_${name}`, "ok");
      const started = Date.now();
      const res = await ctx.fc.invokeFunction("ev", `slow_${name}`, "hang");
      expect(Date.now() - started).toBeLessThan(6_000);
      expect(res.headers["x-fc-error-type"]).toBe("UnhandledInvocationError");
      expect(res.data.errorMessage).toMatch(/^Function timed out after 1 seconds/);
      const after = await ctx.fc.invokeFunction("ev", `slow_${name}`, "ok");
      expect(after.headers["x-fc-instance-id"]).not.toBe(warm.headers["x-fc-instance-id"]);
    }
    await eventually(async () => {
      const left = await processesMatching("sleep 1234");
      if (left.length) throw new Error(left.join("\n"));
    }, "no grandchild left behind", 5_000);
  });

  it("kills only the instance that exceeds its memory, then serves again", async () => {
    await deploy(
      ctx.cluster,
      "ev",
      "leak",
      { "index.js": "const kept = []; exports.handler = (event, context, callback) => { kept.push(Buffer.alloc(24 * 1024 * 1024, 1)); callback(null, String(kept.length)); };" },
      { memorySize: 128 },
    );
    let failure: { data: { errorMessage: string }; headers: Record<string, string> } | undefined;
    for (let i = 0; i < 12 && !failure; i++) {
      const res = await ctx.fc.invokeFunction("ev", "leak", "");
      if (res.headers["x-fc-error-type"]) failure = res;
    }
    expect(failure?.headers["x-fc-error-type"]).toBe("UnhandledInvocationError");
    expect(failure?.data.errorMessage).toMatch(/memory limit of 128 MB|Process exited unexpectedly/);
    expect((await ctx.fc.invokeFunction("ev", "leak", "")).data).toBe("1");
    expect(ctx.cluster.service("invoker").process.running).toBe(true);
  });

  it("returns the last 4 KB of the invocation's log with x-fc-log-type: Tail", async () => {
    await deploy(ctx.cluster, "ev", "logs", {
      "index.js": "exports.handler = (event, context, callback) => { console.log('line one'); context.logger.info('from logger'); console.error('an error'); for (let i = 0; i < 200; i++) console.log('filler', i, 'x'.repeat(40)); callback(null, 'done'); };",
    });
    const res = await ctx.fc.invokeFunction("ev", "logs", "", { "x-fc-log-type": "Tail" });
    const log = Buffer.from(res.headers["x-fc-log-result"] ?? "", "base64").toString();
    expect(Buffer.byteLength(log)).toBeLessThanOrEqual(4096);
    expect(log).toContain(`FC Invoke End RequestId: ${res.headers["x-fc-request-id"]}`);
    expect(log).toMatch(/Duration: [\d.]+ ms, Billed Duration: \d+ ms, Memory Size: 128 MB, Max Memory Used: [\d.]+ MB/);
    expect(log).toMatch(new RegExp(`\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z ${res.headers["x-fc-request-id"]} \\[verbose\\] filler 199`));

    const short = await ctx.cluster.client().invokeFunction("ev", "hello", "x", { logTail: true });
    const shortLog = Buffer.from(short.headers.get("x-fc-log-result") ?? "", "base64").toString();
    expect(shortLog).toMatch(/^(load code for handler:index.handler\n)?FC Invoke Start RequestId: /);
    const none = await ctx.fc.invokeFunction("ev", "logs", "");
    expect(none.headers["x-fc-log-result"]).toBeUndefined();
  });

  it("refuses bad invocation headers with FC's messages", async () => {
    const err = await ctx.fc.invokeFunction("ev", "hello", "", { "x-fc-log-type": "Invalid" }).catch((e: Error & { code: string }) => e);
    expect((err as Error & { code: string }).code).toBe("InvalidArgument");
    expect((err as Error).message).toContain("LogType is set to an invalid value (allowed: Tail | None, actual: 'Invalid')");
    const fc = await ctx.fc.invokeFunction("ev", "hello", "", { "x-fc-instance-id": "forged" }).catch((e: Error & { code: string }) => e);
    expect((fc as Error & { code: string }).code).toBe("InvalidArgument");
    const missing = await ctx.fc.invokeFunction("ev", "nope", "").catch((e: Error & { code: string }) => e);
    expect((missing as Error & { code: string }).code).toBe("FunctionNotFound");
    const missingService = await ctx.fc.invokeFunction("nope", "hello", "").catch((e: Error & { code: string }) => e);
    expect((missingService as Error & { code: string }).code).toBe("ServiceNotFound");
  });

  it("answers handlers and modules that cannot load, and initializers that fail, with FC's errors", async () => {
    const cases: [string, Record<string, string>, Record<string, unknown>, RegExp][] = [
      ["nohandler", { "index.js": "exports.other = () => {};" }, {}, /Handler 'handler' is missing on module 'index'/],
      ["nomodule", { "other.js": "" }, {}, /Module '\/code\/index\.js' is missing/],
      ["syntax", { "index.js": "exports.handler = (;" }, {}, /Unexpected token|SyntaxError/],
      ["requires", { "index.js": "require('not-installed-anywhere'); exports.handler = () => {};" }, {}, /Cannot find module 'not-installed-anywhere'/],
      ["initthrows", { "index.js": "exports.init = (c, cb) => cb(new Error('init failed')); exports.handler = (e, c, cb) => cb(null, 'x');" }, { initializer: "index.init" }, /init failed/],
      ["inithangs", { "index.js": "exports.init = () => {}; exports.handler = (e, c, cb) => cb(null, 'x');" }, { initializer: "index.init", initializationTimeout: 1 }, /initialization timed out after 1 seconds/],
    ];
    for (const [name, files, spec, message] of cases) {
      await deploy(ctx.cluster, "ev", `bad_${name}`, files, spec);
      const res = await ctx.fc.invokeFunction("ev", `bad_${name}`, "");
      expect(res.headers["x-fc-error-type"], name).toBe("UnhandledInvocationError");
      expect(res.data.errorMessage, name).toMatch(message);
    }
  });

  it("refuses a response over the limit", async () => {
    await deploy(ctx.cluster, "ev", "huge", { "index.js": "exports.handler = (e, c, cb) => cb(null, Buffer.alloc(7 * 1024 * 1024, 65));" });
    const res = await ctx.fc.invokeFunction("ev", "huge", "");
    expect(res.headers["x-fc-error-type"]).toBe("UnhandledInvocationError");
    expect(res.data.errorMessage).toContain("exceeds the limit of 6291456 bytes");
  });

  it("gives the function FC's context and environment, and none of the platform's", async () => {
    await deploy(
      ctx.cluster,
      "ev",
      "introspect",
      {
        "index.js": `
          const getRawBody = require('raw-body');
          exports.handler = (event, context, callback) => callback(null, {
            context: { ...context, logger: typeof context.logger.info },
            env: process.env,
            rawBody: typeof getRawBody,
            cwd: process.cwd(),
          });
        `,
      },
      { environmentVariables: { STAGE: "test" }, memorySize: 256, timeout: 7 },
    );
    const res = await ctx.fc.invokeFunction("ev", "introspect", "");
    const { context, env, rawBody, cwd } = JSON.parse(res.data);
    expect(rawBody).toBe("function");
    expect(cwd).toBe("/code");
    expect(context).toMatchObject({
      requestId: res.headers["x-fc-request-id"],
      credentials: { accessKeyId: "", accessKeySecret: "", securityToken: "" },
      function: { name: "introspect", handler: "index.handler", memory: 256, timeout: 7, initializer: "", initializationTimeout: 3 },
      service: { name: "ev", qualifier: "LATEST" },
      region: ctx.cluster.credentials.region,
      accountId: ctx.cluster.credentials.accountId,
      logger: "function",
    });
    expect(env).toMatchObject({ STAGE: "test", FC_FUNCTION_NAME: "introspect", FC_SERVICE_NAME: "ev", FC_FUNC_CODE_PATH: "/code/", FC_FUNCTION_MEMORY_SIZE: "256" });
    expect(Object.keys(env).filter((k) => k.startsWith("NIMBUS_"))).toEqual([]);
    expect(JSON.stringify(env)).not.toContain(ctx.cluster.credentials.accessKeySecret);
  });

  it("serves several requests at once on one instance with instanceConcurrency, each with its own log", async () => {
    await deploy(
      ctx.cluster,
      "ev",
      "concurrent",
      { "index.js": "exports.handler = (event, context, callback) => { console.log('start', String(event)); setTimeout(() => { console.log('end', String(event)); callback(null, String(event)); }, 400); };" },
      { instanceConcurrency: 10 },
    );
    await ctx.fc.invokeFunction("ev", "concurrent", "warm");
    const client = ctx.cluster.client();
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => client.invokeFunction("ev", "concurrent", `req${i}`, { logTail: true })));
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(new Set(results.map((r) => r.headers.get("x-fc-instance-id"))).size).toBe(1);
    results.forEach((r, i) => {
      const log = Buffer.from(r.headers.get("x-fc-log-result") ?? "", "base64").toString();
      expect(r.data.toString()).toBe(`req${i}`);
      expect(log).toContain(`start req${i}`);
      expect(log).toContain(`end req${i}`);
      expect(log.match(/start req\d/g)).toEqual([`start req${i}`]);
    });
  });

  it("retires instances of a changed function", async () => {
    await deploy(ctx.cluster, "ev", "changing", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'v1');" });
    const v1 = await ctx.fc.invokeFunction("ev", "changing", "");
    expect(v1.data).toBe("v1");
    const { makeZip } = await import("@nimbus/testkit");
    await ctx.fc.updateFunction("ev", "changing", { code: { zipFile: (await makeZip({ "index.js": "exports.handler = (e, c, cb) => cb(null, 'v2');" })).toString("base64") } });
    const v2 = await ctx.fc.invokeFunction("ev", "changing", "");
    expect(v2.data).toBe("v2");
    expect(v2.headers["x-fc-instance-id"]).not.toBe(v1.headers["x-fc-instance-id"]);
    await ctx.fc.updateFunction("ev", "changing", { environmentVariables: { X: "1" } });
    const v3 = await ctx.fc.invokeFunction("ev", "changing", "");
    expect(v3.headers["x-fc-instance-id"]).not.toBe(v2.headers["x-fc-instance-id"]);
    await ctx.fc.updateFunction("ev", "changing", { description: "does not change instances" });
    expect((await ctx.fc.invokeFunction("ev", "changing", "")).headers["x-fc-instance-id"]).toBe(v3.headers["x-fc-instance-id"]);
  });

  it("keeps /tmp, globals and environment apart between functions", async () => {
    const writer = "let n = 0; exports.handler = (e, c, cb) => { require('fs').writeFileSync('/tmp/shared', 'secret'); globalThis.leak = 'secret'; n++; cb(null, String(n)); };";
    const reader = "exports.handler = (e, c, cb) => cb(null, JSON.stringify({ tmp: require('fs').existsSync('/tmp/shared'), global: globalThis.leak ?? null, env: process.env.WRITER_ONLY ?? null }));";
    await deploy(ctx.cluster, "ev", "writer", { "index.js": writer }, { environmentVariables: { WRITER_ONLY: "x" } });
    await deploy(ctx.cluster, "ev", "reader", { "index.js": reader });
    expect((await ctx.fc.invokeFunction("ev", "writer", "")).data).toBe("1");
    expect((await ctx.fc.invokeFunction("ev", "writer", "")).data).toBe("2"); // warm reuse within a function
    expect(JSON.parse((await ctx.fc.invokeFunction("ev", "reader", "")).data)).toEqual({ tmp: false, global: null, env: null });
  });

  it("never shares an instance between two functions, even with identical code and config", async () => {
    const code = { "index.js": "exports.handler = (e, c, cb) => { const seen = globalThis.owner; globalThis.owner = c.function.name; cb(null, String(seen)); };" };
    await deploy(ctx.cluster, "ev", "twin_a", code);
    await deploy(ctx.cluster, "ev", "twin_b", code);
    const a = await ctx.fc.invokeFunction("ev", "twin_a", "");
    const b = await ctx.fc.invokeFunction("ev", "twin_b", "");
    expect(b.headers["x-fc-instance-id"]).not.toBe(a.headers["x-fc-instance-id"]);
    expect(b.data).toBe("undefined");
    expect((await ctx.fc.invokeFunction("ev", "twin_a", "")).data).toBe("twin_a");
  });

  it("lists a function's live instances", async () => {
    const res = await ctx.fc.invokeFunction("ev", "hello", "x");
    const listed = await ctx.cluster.client().listInstances("ev", "hello");
    // FC's two fields, and Nimbus's own: where it runs and in which state.
    expect(listed.data.instances).toContainEqual({ instanceId: res.headers["x-fc-instance-id"], versionId: 0, node: expect.any(String), qualifier: "LATEST", startedAt: expect.any(String), state: "ready" });
  });
});

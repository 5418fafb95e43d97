/**
 * The runtime inside a function instance. It speaks framed msgpack with the invoker on fd 3, loads
 * the handler (or starts a custom runtime's server), runs the initializer once, and runs
 * invocations — several at once when the function's instanceConcurrency allows — attributing
 * everything the function prints to the invocation it printed it in.
 */
import type { FunctionError, FunctionInfo, ToInstance } from "@nimbus/protocol/wire";
import { Channel } from "./channel.js";
import { buildContext } from "./context.js";
import type { CustomRuntime } from "./custom.js";
import { functionError } from "./errors.js";
import { closeInheritedFds } from "./fds.js";
import { callHandler, runEvent, useLegacyErrors } from "./event.js";
import { resolveFunction } from "./loader.js";
import { captureOutput, patchConsole, scope, setOutputLimit } from "./output.js";
import { WARMUP_VARIABLE } from "./names.js";
import { warmUp } from "./warmup.js";

type Fn = (...args: unknown[]) => unknown;

let fn: FunctionInfo | undefined;
let handler: Fn | undefined;
let initializer: Fn | undefined;
let preStop: Fn | undefined;
let custom: CustomRuntime | undefined;
// Loaded when first needed (node:http, node:child_process and their kin cost an instance memory it
// keeps for life): HTTP handling on the first HTTP invocation, the custom runtime with its function.
let runHttp: typeof import("./http.js").runHttp | undefined;
const inFlight = new Set<number>();

closeInheritedFds();
const channel = new Channel((message) => void dispatch(message));
captureOutput(channel);
patchConsole();
// A pre-started sandbox waits for its function: spend the wait compiling what loading it will take.
// A failed warm-up costs nothing but the time it would have saved, so it is not reported.
if (process.env[WARMUP_VARIABLE] === "1") setImmediate(() => void warmUp().catch(() => undefined));

/** FC's largest synchronous response (32 MB); the invoker applies the configured, smaller, limit. */
const MAX_RESULT_BYTES = 32 * 1024 * 1024;

async function dispatch(message: ToInstance): Promise<void> {
  switch (message.t) {
    case "load":
      return load(message.fn);
    case "preStop": {
      // FC's pre-stop hook: `(context, callback)`, before the instance is stopped on purpose.
      const { id, ctx } = message;
      await scope.run({ id, requestId: ctx.requestId }, async () => {
        process.stdout.write(`FC PreStop Start RequestId: ${ctx.requestId}\n`);
        let error: FunctionError | undefined;
        if (preStop && fn) {
          const outcome = await callHandler(preStop, [buildContext(fn, ctx)]);
          if (!outcome.ok) error = outcome.error;
        }
        process.stdout.write(`FC PreStop End RequestId: ${ctx.requestId}\n`);
        channel.send(error ? { t: "preStopped", id, error } : { t: "preStopped", id });
      });
      return;
    }
    case "initialize": {
      const { id, ctx } = message;
      await scope.run({ id, requestId: ctx.requestId }, async () => {
        process.stdout.write(`FC Initialize Start RequestId: ${ctx.requestId}\n`);
        let error: FunctionError | undefined;
        if (custom) {
          error = await custom.initialize(ctx).catch((err: unknown) => functionError("UnhandledInvocationError", err));
        } else if (initializer && fn) {
          const outcome = await callHandler(initializer, [buildContext(fn, ctx)]);
          // However the initializer failed, the instance cannot serve: that is never a handled error.
          if (!outcome.ok) error = { ...outcome.error, errorType: "UnhandledInvocationError" };
        }
        process.stdout.write(`FC Initialize End RequestId: ${ctx.requestId}\n`);
        channel.send(error ? { t: "initialized", id, error } : { t: "initialized", id });
      });
      return;
    }
    case "invoke": {
      const { id, ctx } = message;
      const body = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
      inFlight.add(id);
      await scope.run({ id, requestId: ctx.requestId }, async () => {
        // FC's "FC Invoke Start/End" lines are written by the invoker around this invocation's output.
        let outcome: { body: Buffer; http?: { status: number; headers: Record<string, string | string[]> } } | { error: FunctionError };
        try {
          if (!fn) throw new Error("the runtime was not loaded");
          const context = buildContext(fn, ctx);
          if (message.kind === "http") {
            runHttp ??= custom ? undefined : (await import("./http.js")).runHttp;
            outcome = custom ? await custom.http(ctx, message.http, body) : await (runHttp as NonNullable<typeof runHttp>)(handler as Fn, message.http, body, context);
          } else {
            outcome = custom ? await custom.invoke(ctx, body) : await runEvent(handler as Fn, body, context);
          }
        } catch (err) {
          outcome = { error: functionError("UnhandledInvocationError", err) };
        }
        if (!("error" in outcome) && outcome.body.length > MAX_RESULT_BYTES) {
          outcome = { error: functionError("UnhandledInvocationError", new RangeError(`the response of ${outcome.body.length} bytes exceeds the limit of ${MAX_RESULT_BYTES} bytes`)) };
        }
        inFlight.delete(id);
        if ("error" in outcome) channel.send({ t: "error", id, error: outcome.error });
        else channel.send({ t: "result", id, body: outcome.body, ...(outcome.http ? { http: outcome.http } : {}) });
      });
      return;
    }
    case "ping":
      channel.send({ t: "pong", id: message.id });
      return;
  }
}

async function load(info: FunctionInfo): Promise<void> {
  fn = info;
  if (info.processEnv) {
    for (const key of Object.keys(process.env)) delete process.env[key];
    Object.assign(process.env, info.processEnv);
  }
  setOutputLimit(info.maxOutputBytes);
  useLegacyErrors(info.runtime === "nodejs4.4" || info.runtime === "nodejs6");
  try {
    if (info.kind === "custom") {
      const { CustomRuntime } = await import("./custom.js");
      custom = new CustomRuntime(info);
      await custom.start();
    } else {
      if (info.initializer) {
        process.stdout.write(`load code for handler:${info.initializer}\n`);
        initializer = await resolveFunction(info.initializer);
      }
      process.stdout.write(`load code for handler:${info.handler}\n`);
      handler = await resolveFunction(info.handler);
      if (info.preStop) preStop = await resolveFunction(info.preStop);
    }
    channel.send({ t: "loaded" });
  } catch (err) {
    channel.send({ t: "loaded", error: functionError("UnhandledInvocationError", err) });
  }
}

/** A crash fails every invocation in flight on this instance, then the instance exits (it is replaced). */
async function crash(err: unknown): Promise<void> {
  channel.send({ t: "fatal", message: err instanceof Error ? err.message : String(err) });
  for (const id of inFlight) channel.send({ t: "error", id, error: functionError("UnhandledInvocationError", err) });
  inFlight.clear();
  await channel.flush();
  process.exit(1);
}
process.on("uncaughtException", (err) => void crash(err));
process.on("unhandledRejection", (err) => void crash(err));

channel.send({ t: "hello", pid: process.pid });

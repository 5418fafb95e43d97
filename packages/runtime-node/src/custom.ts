import { spawn } from "node:child_process";
import { Agent, request } from "node:http";
import { connect } from "node:net";
import type { FunctionError, FunctionInfo, HttpRequestInfo, HttpResponseInfo, InvocationContextInfo } from "@nimbus/protocol/wire";

/**
 * The relay to a custom runtime: starts the code's `bootstrap` (or customRuntimeConfig's command)
 * inside this sandbox, waits until it listens on caPort, and turns invocations into the HTTP calls
 * FC makes — `POST /invoke`, `POST /initialize`, and HTTP-trigger requests passed through — with
 * FC's `x-fc-*` headers. The server is reachable only from inside the sandbox's network namespace.
 */
export class CustomRuntime {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });

  constructor(private readonly fn: FunctionInfo) {}

  /** The command, where it starts and its environment (FunctionInfo's, else bootstrap in /code with the runtime's). */
  private launch(extraEnv: Record<string, string> = {}) {
    const [command, ...args] = this.fn.command.length ? this.fn.command : ["/code/bootstrap"];
    const env = { ...(this.fn.env ?? process.env), ...extraEnv };
    return { command: command as string, child: spawn(command as string, args, { cwd: this.fn.cwd ?? "/code", env, stdio: ["ignore", "inherit", "inherit"] }) };
  }

  /**
   * Starts the server; resolves once caPort accepts connections, rejects if it exits first. In
   * non-web-server mode there is nothing to start: each invocation runs the command.
   */
  async start(): Promise<void> {
    if (this.fn.webServerMode === false) return;
    const { command, child } = this.launch();
    let exited: string | undefined;
    child.once("error", (err) => (exited = cannotStart(command, err)));
    child.once("exit", (code, signal) => {
      exited ??= `${command} exited (${code ?? signal}) before listening on port ${this.fn.caPort}`;
      // After start-up, a runtime that dies takes the instance with it.
      if (ready) process.exit(1);
    });
    let ready = false;
    for (;;) {
      if (exited) throw new Error(exited);
      if (await this.listening()) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    ready = true;
  }

  /**
   * Non-web-server mode (FC's `webServerMode: false`): runs the command to completion with the event
   * in FC_CUSTOM_CONTAINER_EVENT; exit code 0 is success (an empty result), anything else the
   * function's error. Its output is the invocation's log.
   */
  private runToCompletion(ctx: InvocationContextInfo, event: Buffer): Promise<{ body: Buffer } | { error: FunctionError }> {
    if (event.length > MAX_ENV_EVENT_BYTES) {
      const message = `the event of ${event.length} bytes is too large for FC_CUSTOM_CONTAINER_EVENT (at most ${MAX_ENV_EVENT_BYTES} bytes in non-web-server mode)`;
      return Promise.resolve({ error: { errorType: "UnhandledInvocationError", errorMessage: message, body: Buffer.from(JSON.stringify({ errorMessage: message })) } });
    }
    return new Promise((resolve) => {
      const { command, child } = this.launch({ FC_CUSTOM_CONTAINER_EVENT: event.toString("utf8"), FC_REQUEST_ID: ctx.requestId });
      const fail = (errorMessage: string) =>
        resolve({ error: { errorType: "UnhandledInvocationError", errorMessage, body: Buffer.from(JSON.stringify({ errorMessage })) } });
      child.once("error", (err) => fail(cannotStart(command, err)));
      child.once("exit", (code, signal) => (code === 0 ? resolve({ body: Buffer.alloc(0) }) : fail(`${command} exited (${code ?? signal}); non-web-server mode needs exit code 0`)));
    });
  }

  private listening(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect(this.fn.caPort, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
  }

  /** FC's request headers for the custom runtime. */
  private headers(ctx: InvocationContextInfo, controlPath: string): Record<string, string> {
    const fn = this.fn;
    return {
      "x-fc-request-id": ctx.requestId,
      "x-fc-function-name": fn.name,
      "x-fc-function-handler": fn.handler,
      "x-fc-function-memory": String(fn.memory),
      "x-fc-function-timeout": String(fn.timeout),
      "x-fc-function-initializer": fn.initializer,
      "x-fc-initialization-timeout": String(fn.initializationTimeout),
      "x-fc-service-name": fn.service.name,
      "x-fc-service-logproject": fn.service.logProject,
      "x-fc-service-logstore": fn.service.logStore,
      "x-fc-qualifier": ctx.qualifier,
      "x-fc-version-id": ctx.versionId,
      "x-fc-region": fn.region,
      "x-fc-account-id": fn.accountId,
      "x-fc-access-key-id": ctx.credentials.accessKeyId,
      "x-fc-access-key-secret": ctx.credentials.accessKeySecret,
      "x-fc-security-token": ctx.credentials.securityToken,
      "x-fc-control-path": controlPath,
      ...(ctx.traceparent ? { traceparent: ctx.traceparent } : {}),
    };
  }

  /**
   * `POST /invoke` with the event; a non-2xx answer, or an `x-fc-status` other than 200 (how FC's
   * custom runtimes report a failed invocation), is the function's (handled) error.
   */
  async invoke(ctx: InvocationContextInfo, event: Buffer): Promise<{ body: Buffer } | { error: FunctionError }> {
    if (this.fn.webServerMode === false) return this.runToCompletion(ctx, event);
    const res = await this.call("POST", "/invoke", { ...this.headers(ctx, "/invoke"), "content-type": "application/octet-stream" }, event);
    return succeeded(res) ? { body: res.body } : { error: runtimeError(res) };
  }

  /** `POST /initialize` (nothing to do in non-web-server mode). */
  async initialize(ctx: InvocationContextInfo): Promise<FunctionError | undefined> {
    if (this.fn.webServerMode === false) return undefined;
    const res = await this.call("POST", "/initialize", this.headers(ctx, "/initialize"), Buffer.alloc(0));
    return succeeded(res) ? undefined : runtimeError(res);
  }

  /**
   * An HTTP-trigger request, passed through with its method, full path (as FC does for custom
   * runtimes, with `x-fc-base-path` saying which prefix to strip), query and headers.
   */
  async http(ctx: InvocationContextInfo, info: HttpRequestInfo, body: Buffer): Promise<{ http: HttpResponseInfo; body: Buffer }> {
    const path = info.url;
    const headers: Record<string, string | string[]> = {
      ...info.headers,
      ...this.headers(ctx, "/http-invoke"),
      "x-fc-base-path": `${info.basePath}/`,
      "x-fc-client-ip": info.clientIP,
    };
    delete headers["content-length"];
    delete headers["transfer-encoding"];
    const res = await this.call(info.method, path, headers, body);
    return { http: { status: res.status, headers: res.headers }, body: res.body };
  }

  private call(method: string, path: string, headers: Record<string, string | string[]>, body: Buffer) {
    return new Promise<{ status: number; headers: Record<string, string | string[]>; body: Buffer }>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port: this.fn.caPort, method, path, headers: { ...headers, "content-length": String(body.length) }, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const out: Record<string, string | string[]> = {};
            for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out[k] = v;
            resolve({ status: res.statusCode ?? 502, headers: out, body: Buffer.concat(chunks) });
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }
}

/** The largest event passed in an environment variable (Linux's MAX_ARG_STRLEN, less the name). */
const MAX_ENV_EVENT_BYTES = 128 * 1024 - 64;

function cannotStart(command: string, err: NodeJS.ErrnoException): string {
  if (err.code === "ENOENT") return `cannot start ${command}: it does not exist (or its interpreter does not)`;
  if (err.code === "EACCES") return `cannot start ${command}: it is not executable`;
  return `cannot start ${command}: ${err.message}`;
}

/** A 2xx answer whose x-fc-status, if any, is 200. */
function succeeded(res: { status: number; headers: Record<string, string | string[]> }): boolean {
  const status = res.headers["x-fc-status"];
  return res.status >= 200 && res.status < 300 && (status === undefined || String(status) === "200");
}

function runtimeError(res: { status: number; body: Buffer }): FunctionError {
  const text = res.body.toString("utf8");
  let message = text || `the custom runtime answered HTTP ${res.status}`;
  let parsed: Record<string, unknown> | undefined;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
    if (typeof parsed["errorMessage"] === "string") message = parsed["errorMessage"];
  } catch {
    parsed = undefined;
  }
  const body = parsed && "errorMessage" in parsed ? res.body : Buffer.from(JSON.stringify({ errorMessage: message, errorType: `HTTP${res.status}` }));
  return { errorType: "HandledInvocationError", errorMessage: message, body };
}

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

  /** Starts the server; resolves once caPort accepts connections, rejects if it exits first. */
  async start(env: NodeJS.ProcessEnv): Promise<void> {
    const [command, ...args] = this.fn.command.length ? this.fn.command : ["/code/bootstrap"];
    const child = spawn(command as string, args, { cwd: "/code", env, stdio: ["ignore", "inherit", "inherit"] });
    let exited: string | undefined;
    child.once("error", (err) => (exited = `cannot start ${command}: ${err.message}`));
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

  /** `POST /invoke` with the event; a non-2xx answer is the function's (handled) error. */
  async invoke(ctx: InvocationContextInfo, event: Buffer): Promise<{ body: Buffer } | { error: FunctionError }> {
    const res = await this.call("POST", "/invoke", { ...this.headers(ctx, "/invoke"), "content-type": "application/octet-stream" }, event);
    return res.status >= 200 && res.status < 300 ? { body: res.body } : { error: runtimeError(res) };
  }

  /** `POST /initialize`. */
  async initialize(ctx: InvocationContextInfo): Promise<FunctionError | undefined> {
    const res = await this.call("POST", "/initialize", this.headers(ctx, "/initialize"), Buffer.alloc(0));
    return res.status >= 200 && res.status < 300 ? undefined : runtimeError(res);
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

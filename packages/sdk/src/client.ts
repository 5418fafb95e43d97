import { createHash } from "node:crypto";
import { authorization, type HeaderBag } from "./signer.js";
import { serverSentData } from "./sse.js";
import type { Alias, AsyncConfig, FunctionLogLine, FunctionMetricsPoint, LayerVersion, ServiceVersion, StatefulAsyncInvocation } from "./types.js";

export const API_VERSION = "2016-08-15";

export interface ClientOptions {
  /** e.g. `http://127.0.0.1:8080` */
  endpoint: string;
  accessKeyId: string;
  accessKeySecret: string;
  /** Sent as `x-fc-account-id`, as FC's SDKs do. */
  accountId?: string;
  timeoutMs?: number;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | string[] | undefined>;
  /** JSON-able value, or raw bytes / text sent as `application/octet-stream`. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Return the body as bytes instead of parsing JSON. */
  raw?: boolean;
}

export interface ApiResponse<T> {
  status: number;
  headers: Headers;
  data: T;
  requestId: string;
}

/** An error answer from the API, carrying FC's error code. */
export class FcApiError extends Error {
  override readonly name = "FcApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string,
  ) {
    super(`${code}: ${message} (status ${status}, request ${requestId})`);
  }
}

function encodeBody(body: unknown): { bytes: Uint8Array; contentType: string } | undefined {
  if (body === undefined) return undefined;
  if (body instanceof Uint8Array) return { bytes: body, contentType: "application/octet-stream" };
  if (typeof body === "string") return { bytes: Buffer.from(body, "utf8"), contentType: "application/octet-stream" };
  return { bytes: Buffer.from(JSON.stringify(body), "utf8"), contentType: "application/json" };
}

/** The error a non-2xx answer stands for. */
function apiError(response: Response, bytes: Buffer): FcApiError {
  const requestId = response.headers.get("x-fc-request-id") ?? "";
  let parsed: { ErrorCode?: string; ErrorMessage?: string } = {};
  if ((response.headers.get("content-type") ?? "").startsWith("application/json")) {
    try {
      parsed = JSON.parse(bytes.toString("utf8")) as typeof parsed;
    } catch {
      // not JSON after all
    }
  }
  return new FcApiError(response.status, parsed.ErrorCode ?? "Unknown", parsed.ErrorMessage ?? bytes.toString("utf8"), requestId);
}

/** A signed HTTP client for the Nimbus (FC 2.0) API. */
export class NimbusClient {
  readonly endpoint: string;

  constructor(private readonly options: ClientOptions) {
    this.endpoint = options.endpoint.replace(/\/+$/, "");
  }

  /** Signs and sends one request to `/2016-08-15{path}`; throws FcApiError on a non-2xx answer. */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
    const response = await this.send(method, path, opts, AbortSignal.timeout(this.options.timeoutMs ?? 60_000));
    const requestId = response.headers.get("x-fc-request-id") ?? "";
    const bytes = Buffer.from(await response.arrayBuffer());
    const isJson = (response.headers.get("content-type") ?? "").startsWith("application/json");
    if (response.status < 200 || response.status >= 300) throw apiError(response, bytes);
    const data = opts.raw || !isJson ? bytes : bytes.length ? JSON.parse(bytes.toString("utf8")) : undefined;
    return { status: response.status, headers: response.headers, data: data as T, requestId };
  }

  /**
   * Follows a function's output (the logs API's Server-Sent Events). Resolves once the gateway is
   * subscribed — every line printed from then on arrives — with the lines as an async iterable that
   * ends when `signal` aborts or the gateway goes away.
   */
  async followLogs(serviceName: string, functionName: string, query: RequestOptions["query"] = {}, signal?: AbortSignal): Promise<AsyncIterable<FunctionLogLine>> {
    const response = await this.send("GET", `/services/${serviceName}/functions/${functionName}/logs`, { query: { ...query, follow: "true" } }, signal);
    if (response.status !== 200 || !response.body) throw apiError(response, Buffer.from(await response.arrayBuffer()));
    return serverSentData<FunctionLogLine>(response.body as unknown as AsyncIterable<Uint8Array>, signal);
  }

  private async send(method: string, path: string, opts: RequestOptions, signal: AbortSignal | undefined): Promise<Response> {
    const fullPath = `/${API_VERSION}${path}`;
    const search = new URLSearchParams();
    const signedQueries: Record<string, string | string[]> = {};
    for (const [key, value] of Object.entries(opts.query ?? {})) {
      if (value === undefined) continue;
      const values = Array.isArray(value) ? value : [String(value)];
      for (const v of values) search.append(key, v);
      signedQueries[key] = values;
    }
    const body = encodeBody(opts.body);
    const headers: HeaderBag & Record<string, string> = {
      accept: "application/json",
      date: new Date().toUTCString(),
      ...(this.options.accountId ? { "x-fc-account-id": this.options.accountId } : {}),
      ...opts.headers,
    };
    if (body) {
      headers["content-type"] = headers["content-type"] ?? body.contentType;
      headers["content-md5"] = createHash("md5").update(body.bytes).digest("base64");
    }
    headers["authorization"] = authorization(this.options.accessKeyId, this.options.accessKeySecret, {
      method,
      path: fullPath,
      headers,
      queries: path.startsWith("/proxy/") ? signedQueries : null,
    });
    const qs = search.toString();
    return fetch(`${this.endpoint}${fullPath}${qs ? `?${qs}` : ""}`, { method, headers, body: body ? body.bytes : null, ...(signal ? { signal } : {}) });
  }

  getFunctionLogs(serviceName: string, functionName: string, query: RequestOptions["query"] = {}) {
    return this.request<{ logs: FunctionLogLine[]; nextToken?: string }>("GET", `/services/${serviceName}/functions/${functionName}/logs`, { query });
  }
  listInvocationLogs(serviceName: string, functionName: string, query: RequestOptions["query"] = {}) {
    return this.request<{ invocations: Record<string, unknown>[]; nextToken?: string }>("GET", `/services/${serviceName}/functions/${functionName}/invocations-log`, { query });
  }
  getFunctionMetrics(serviceName: string, functionName: string, query: RequestOptions["query"] = {}) {
    return this.request<{ step: number; points: FunctionMetricsPoint[] }>("GET", `/services/${serviceName}/functions/${functionName}/metrics`, { query });
  }

  createService(serviceName: string, spec: Record<string, unknown> = {}) {
    return this.request<Record<string, unknown>>("POST", "/services", { body: { serviceName, ...spec } });
  }
  getService(serviceName: string, qualifier?: string) {
    return this.request<Record<string, unknown>>("GET", `/services/${qualified(serviceName, qualifier)}`);
  }
  updateService(serviceName: string, spec: Record<string, unknown>) {
    return this.request<Record<string, unknown>>("PUT", `/services/${serviceName}`, { body: spec });
  }
  deleteService(serviceName: string) {
    return this.request<void>("DELETE", `/services/${serviceName}`);
  }
  listServices(query: RequestOptions["query"] = {}) {
    return this.request<{ services: Record<string, unknown>[]; nextToken?: string }>("GET", "/services", { query });
  }
  createFunction(serviceName: string, spec: Record<string, unknown>) {
    return this.request<Record<string, unknown>>("POST", `/services/${serviceName}/functions`, { body: spec });
  }
  getFunction(serviceName: string, functionName: string, qualifier?: string) {
    return this.request<Record<string, unknown>>("GET", `/services/${qualified(serviceName, qualifier)}/functions/${functionName}`);
  }
  getFunctionCode(serviceName: string, functionName: string, qualifier?: string) {
    return this.request<{ url: string; checksum: string }>(
      "GET",
      `/services/${qualified(serviceName, qualifier)}/functions/${functionName}/code`,
    );
  }
  updateFunction(serviceName: string, functionName: string, spec: Record<string, unknown>) {
    return this.request<Record<string, unknown>>("PUT", `/services/${serviceName}/functions/${functionName}`, { body: spec });
  }
  deleteFunction(serviceName: string, functionName: string) {
    return this.request<void>("DELETE", `/services/${serviceName}/functions/${functionName}`);
  }
  listFunctions(serviceName: string, query: RequestOptions["query"] = {}, qualifier?: string) {
    return this.request<{ functions: Record<string, unknown>[]; nextToken?: string }>(
      "GET",
      `/services/${qualified(serviceName, qualifier)}/functions`,
      { query },
    );
  }
  /** Invokes a function; the body comes back as bytes (`data`), FC's headers on `headers`. */
  invokeFunction(
    serviceName: string,
    functionName: string,
    event: Uint8Array | string = "",
    opts: { qualifier?: string; headers?: Record<string, string>; async?: boolean; logTail?: boolean } = {},
  ) {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.async) headers["x-fc-invocation-type"] = "Async";
    if (opts.logTail) headers["x-fc-log-type"] = "Tail";
    return this.request<Buffer>("POST", `/services/${qualified(serviceName, opts.qualifier)}/functions/${functionName}/invocations`, {
      body: typeof event === "string" ? Buffer.from(event) : event,
      headers,
      raw: true,
    });
  }
  createTrigger(serviceName: string, functionName: string, spec: Record<string, unknown>) {
    return this.request<Record<string, unknown>>("POST", `/services/${serviceName}/functions/${functionName}/triggers`, { body: spec });
  }
  getTrigger(serviceName: string, functionName: string, triggerName: string) {
    return this.request<Record<string, unknown>>("GET", `/services/${serviceName}/functions/${functionName}/triggers/${triggerName}`);
  }
  updateTrigger(serviceName: string, functionName: string, triggerName: string, spec: Record<string, unknown>) {
    return this.request<Record<string, unknown>>("PUT", `/services/${serviceName}/functions/${functionName}/triggers/${triggerName}`, { body: spec });
  }
  deleteTrigger(serviceName: string, functionName: string, triggerName: string) {
    return this.request<void>("DELETE", `/services/${serviceName}/functions/${functionName}/triggers/${triggerName}`);
  }
  listTriggers(serviceName: string, functionName: string, query: RequestOptions["query"] = {}) {
    return this.request<{ triggers: Record<string, unknown>[]; nextToken?: string }>("GET", `/services/${serviceName}/functions/${functionName}/triggers`, { query });
  }
  putOnDemandConfig(serviceName: string, qualifier: string, functionName: string, maximumInstanceCount: number) {
    return this.request<{ resource: string; maximumInstanceCount: number }>(
      "PUT",
      `/services/${serviceName}.${qualifier}/functions/${functionName}/on-demand-config`,
      { body: { maximumInstanceCount } },
    );
  }
  listInstances(serviceName: string, functionName: string, qualifier?: string) {
    return this.request<{ instances: { instanceId: string; versionId: number }[] }>("GET", `/services/${qualified(serviceName, qualifier)}/functions/${functionName}/instances`);
  }
  putFunctionAsyncConfig(serviceName: string, functionName: string, qualifier: string | undefined, config: Record<string, unknown>) {
    return this.request<AsyncConfig>("PUT", `/services/${qualified(serviceName, qualifier)}/functions/${functionName}/async-invoke-config`, { body: config });
  }
  getFunctionAsyncConfig(serviceName: string, functionName: string, qualifier?: string) {
    return this.request<AsyncConfig>("GET", `/services/${qualified(serviceName, qualifier)}/functions/${functionName}/async-invoke-config`);
  }
  deleteFunctionAsyncConfig(serviceName: string, functionName: string, qualifier?: string) {
    return this.request<void>("DELETE", `/services/${qualified(serviceName, qualifier)}/functions/${functionName}/async-invoke-config`);
  }
  listFunctionAsyncConfigs(serviceName: string, functionName: string, query: RequestOptions["query"] = {}) {
    return this.request<{ configs: AsyncConfig[]; nextToken?: string }>("GET", `/services/${serviceName}/functions/${functionName}/async-invoke-configs`, { query });
  }
  getStatefulAsyncInvocation(serviceName: string, functionName: string, invocationId: string, qualifier?: string) {
    return this.request<StatefulAsyncInvocation>(
      "GET",
      `/services/${qualified(serviceName, qualifier)}/functions/${functionName}/stateful-async-invocations/${encodeURIComponent(invocationId)}`,
    );
  }
  listStatefulAsyncInvocations(serviceName: string, functionName: string, query: RequestOptions["query"] = {}, qualifier?: string) {
    return this.request<{ invocations: StatefulAsyncInvocation[]; nextToken?: string }>(
      "GET",
      `/services/${qualified(serviceName, qualifier)}/functions/${functionName}/stateful-async-invocations`,
      { query },
    );
  }
  stopStatefulAsyncInvocation(serviceName: string, functionName: string, invocationId: string, qualifier?: string) {
    return this.request<void>(
      "PUT",
      `/services/${qualified(serviceName, qualifier)}/functions/${functionName}/stateful-async-invocations/${encodeURIComponent(invocationId)}`,
    );
  }
  /** Nimbus's own: runs failed or expired stateful invocations again, under new ids. */
  redriveStatefulAsyncInvocations(serviceName: string, functionName: string, body: { status?: "Failed" | "Expired"; since?: number; invocationIds?: string[]; limit?: number } = {}) {
    return this.request<{ redriven: { invocationId: string; newInvocationId: string }[]; skipped: { invocationId: string; reason: string }[] }>(
      "POST",
      `/services/${serviceName}/functions/${functionName}/stateful-async-invocations/redrives`,
      { body },
    );
  }
  publishVersion(serviceName: string, description?: string) {
    return this.request<ServiceVersion>("POST", `/services/${serviceName}/versions`, { body: description ? { description } : {} });
  }
  listVersions(serviceName: string, query: RequestOptions["query"] = {}) {
    return this.request<{ versions: ServiceVersion[]; nextToken?: string; direction: string }>("GET", `/services/${serviceName}/versions`, { query });
  }
  deleteVersion(serviceName: string, versionId: string) {
    return this.request<void>("DELETE", `/services/${serviceName}/versions/${versionId}`);
  }
  createAlias(serviceName: string, spec: { aliasName: string; versionId: string; description?: string; additionalVersionWeight?: Record<string, number> }) {
    return this.request<Alias>("POST", `/services/${serviceName}/aliases`, { body: spec });
  }
  getAlias(serviceName: string, aliasName: string) {
    return this.request<Alias>("GET", `/services/${serviceName}/aliases/${aliasName}`);
  }
  updateAlias(serviceName: string, aliasName: string, spec: { versionId?: string; description?: string; additionalVersionWeight?: Record<string, number> }) {
    return this.request<Alias>("PUT", `/services/${serviceName}/aliases/${aliasName}`, { body: spec });
  }
  listAliases(serviceName: string, query: RequestOptions["query"] = {}) {
    return this.request<{ aliases: Alias[]; nextToken?: string }>("GET", `/services/${serviceName}/aliases`, { query });
  }
  deleteAlias(serviceName: string, aliasName: string) {
    return this.request<void>("DELETE", `/services/${serviceName}/aliases/${aliasName}`);
  }
  publishLayerVersion(layerName: string, spec: { code: { zipFile: string }; compatibleRuntime: string[]; description?: string; license?: string }) {
    return this.request<LayerVersion>("POST", `/layers/${layerName}/versions`, { body: spec });
  }
  listLayerVersions(layerName: string, query: RequestOptions["query"] = {}) {
    return this.request<{ layers: LayerVersion[]; nextVersion?: number }>("GET", `/layers/${layerName}/versions`, { query });
  }
  putProvisionConfig(serviceName: string, qualifier: string, functionName: string, target: number) {
    return this.request<{ resource: string; target: number; current: number }>("PUT", `/services/${serviceName}.${qualifier}/functions/${functionName}/provision-config`, {
      body: { target },
    });
  }
  tagResource(resourceArn: string, tags: Record<string, string>) {
    return this.request<void>("POST", "/tag", { body: { resourceArn, tags } });
  }
  untagResource(resourceArn: string, tagKeys: string[], all = false) {
    return this.request<void>("DELETE", "/tag", { body: { resourceArn, tagKeys, all } });
  }
  getResourceTags(resourceArn: string) {
    return this.request<{ resourceArn: string; tags: Record<string, string> }>("GET", "/tag", { query: { resourceArn } });
  }
}

function qualified(serviceName: string, qualifier: string | undefined): string {
  return qualifier ? `${serviceName}.${qualifier}` : serviceName;
}

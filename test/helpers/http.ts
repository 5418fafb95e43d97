import { request, type OutgoingHttpHeaders } from "node:http";
import { connect } from "node:net";
import { authorization } from "@nimbus/sdk";
import type { TestCluster } from "@nimbus/testkit";

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: { ErrorCode?: string; ErrorMessage?: string } & Record<string, unknown>;
}

export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  /** Written as one piece with a Content-Length, or as chunks with none (chunked encoding). */
  body?: Buffer | string | Buffer[];
  /** Sign with the cluster's root key (default true). */
  sign?: boolean;
}

/** Sends one HTTP request exactly as described (signed unless told not to), and reads the answer. */
export function send(cluster: TestCluster, req: RawRequest): Promise<RawResponse> {
  const headers: Record<string, string> = { date: new Date().toUTCString(), ...req.headers };
  const chunked = Array.isArray(req.body);
  if (req.body !== undefined && !chunked) headers["content-length"] = String(Buffer.byteLength(req.body as Buffer | string));
  if (req.sign !== false) {
    headers["authorization"] = authorization(cluster.credentials.accessKeyId, cluster.credentials.accessKeySecret, {
      method: req.method,
      path: req.path.split("?")[0] ?? req.path,
      headers,
    });
  }
  return exchange(cluster, { method: req.method, path: req.path, headers, ...(req.body === undefined ? {} : { body: req.body }) });
}

/** Sends a request with exactly these headers (nothing added, nothing signed) and reads the answer. */
export function exchange(cluster: TestCluster, req: { method: string; path: string; headers: OutgoingHttpHeaders; body?: Buffer | string | Buffer[] }): Promise<RawResponse> {
  const url = new URL(cluster.endpoint());
  return new Promise((resolve, reject) => {
    const r = request({ host: url.hostname, port: url.port, method: req.method, path: req.path, headers: req.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json = {};
        try {
          json = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    r.on("error", reject);
    if (Array.isArray(req.body)) for (const chunk of req.body) r.write(chunk);
    else if (req.body !== undefined) r.write(req.body);
    r.end();
  });
}

/** Writes raw bytes on a socket and resolves with everything the server sends before it closes. */
export function rawExchange(cluster: TestCluster, bytes: string, opts: { keepOpenMs?: number } = {}): Promise<string> {
  const url = new URL(cluster.endpoint());
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    let received = "";
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => (received += d));
    socket.on("close", () => resolve(received));
    socket.on("error", reject);
    socket.write(bytes);
    if (opts.keepOpenMs === undefined) socket.end();
    else setTimeout(() => socket.destroy(), opts.keepOpenMs);
  });
}

import type { FastifyRequest } from "fastify";

/** The base URL the client reached us at (FC's SDK sends a Host without the port, so add ours). */
export function baseUrl(req: FastifyRequest, publicUrl?: string): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, "");
  const hasPort = /:\d+$/.test(req.host) && !req.host.endsWith("]");
  const port = req.socket.localPort;
  const defaultPort = req.protocol === "https" ? 443 : 80;
  return `${req.protocol}://${req.host}${hasPort || port === undefined || port === defaultPort ? "" : `:${port}`}`;
}

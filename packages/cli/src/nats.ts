import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createNaming, type Naming } from "@nimbus/protocol";
import { homeDir, readEndpoints } from "./config.js";

/** The platform's NATS as the CLI reaches it: a connection, and the names under the platform's prefix. */
export interface PlatformNats {
  nc: NatsConnection;
  naming: Naming;
}

/**
 * Connects to the platform's NATS: NIMBUS_NATS_URL, else the one `npm start` recorded in
 * `.nimbus/endpoints.json` (a token or user:password in the URL is used to log in). Subjects are under
 * NIMBUS_PREFIX, else the prefix `npm start` recorded, else the default.
 */
export async function connectPlatformNats(): Promise<PlatformNats> {
  const endpoints = await readEndpoints(homeDir());
  const url = process.env["NIMBUS_NATS_URL"] || endpoints?.natsUrl;
  if (!url) throw new Error("no NATS to talk to: set NIMBUS_NATS_URL, or run 'npm start' (it records its NATS in .nimbus/endpoints.json)");
  const parsed = new URL(url);
  const nc = await connect({
    servers: `${parsed.hostname}:${parsed.port || 4222}`,
    ...(parsed.username && parsed.password
      ? { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) }
      : parsed.username
        ? { token: decodeURIComponent(parsed.username) }
        : {}),
  });
  return { nc, naming: createNaming(process.env["NIMBUS_PREFIX"] || endpoints?.prefix || undefined) };
}

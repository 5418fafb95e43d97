import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { NimbusClient } from "@nimbus/sdk";

/** Where the CLI finds the platform: env first, then what `nimbus up` wrote under NIMBUS_HOME. */
export interface CliConfig {
  home: string;
  endpoint: string;
  /** Where the endpoint came from, for messages. */
  endpointSource: string;
  accessKeyId: string;
  accessKeySecret: string;
  accountId: string;
}

/** What `nimbus up` records for other commands (nimbus invoker, deploy, invoke). */
export interface Endpoints {
  endpoint: string;
  natsUrl: string;
  redisUrl: string;
  region: string;
  /** NIMBUS_PREFIX the services run with (absent: the default); written since custom-container images. */
  prefix?: string;
}

export function homeDir(cwd = process.cwd()): string {
  return resolve(cwd, process.env["NIMBUS_HOME"] ?? ".nimbus");
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

export async function readEndpoints(home: string): Promise<Endpoints | undefined> {
  return readJson<Endpoints>(join(home, "endpoints.json"));
}

/** The endpoint and key to call the API with, or a message saying what to set. */
export async function loadConfig(): Promise<CliConfig> {
  const home = homeDir();
  const creds = await readJson<{ accessKeyId: string; accessKeySecret: string; accountId: string }>(join(home, "credentials.json"));
  const endpoints = await readEndpoints(home);
  const accessKeyId = process.env["NIMBUS_ACCESS_KEY_ID"] ?? creds?.accessKeyId;
  const accessKeySecret = process.env["NIMBUS_ACCESS_KEY_SECRET"] ?? creds?.accessKeySecret;
  if (!accessKeyId || !accessKeySecret) {
    throw new Error(`no credentials: set NIMBUS_ACCESS_KEY_ID and NIMBUS_ACCESS_KEY_SECRET, or run 'npm start' (it writes ${join(home, "credentials.json")})`);
  }
  const [endpoint, endpointSource] = process.env["NIMBUS_ENDPOINT"]
    ? [process.env["NIMBUS_ENDPOINT"], "NIMBUS_ENDPOINT"]
    : endpoints
      ? [endpoints.endpoint, join(home, "endpoints.json")]
      : ["http://127.0.0.1:8080", `the default; ${join(home, "endpoints.json")} is missing`];
  return {
    home,
    endpoint,
    endpointSource,
    accessKeyId,
    accessKeySecret,
    accountId: process.env["NIMBUS_ACCOUNT_ID"] ?? creds?.accountId ?? "local",
  };
}

export function clientFor(config: CliConfig): NimbusClient {
  return new NimbusClient({ endpoint: config.endpoint, accessKeyId: config.accessKeyId, accessKeySecret: config.accessKeySecret, accountId: config.accountId });
}

/**
 * A message for a call that never reached the API (Node's fetch says only "fetch failed"): which
 * URL, why, where that URL came from, and what to check. Undefined for any other error.
 */
export async function unreachableMessage(err: unknown): Promise<string | undefined> {
  if (!(err instanceof TypeError) || err.message !== "fetch failed") return undefined;
  const cause = err.cause as (Error & { code?: string }) | undefined;
  const config = await loadConfig().catch(() => undefined);
  const where = config ? `${config.endpoint} (from ${config.endpointSource})` : "the Nimbus API";
  const written = join(config?.home ?? homeDir(), "endpoints.json");
  return `cannot reach ${where}: ${cause?.code ?? cause?.message ?? "no answer"}. Is 'npm start' running? (It writes its endpoint to ${written}; NIMBUS_ENDPOINT overrides that.)`;
}

import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { NimbusClient } from "@nimbus/sdk";

/** Where the CLI finds the platform: env first, then what `nimbus up` wrote under NIMBUS_HOME. */
export interface CliConfig {
  home: string;
  endpoint: string;
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
  return {
    home,
    endpoint: process.env["NIMBUS_ENDPOINT"] ?? endpoints?.endpoint ?? "http://127.0.0.1:8080",
    accessKeyId,
    accessKeySecret,
    accountId: process.env["NIMBUS_ACCOUNT_ID"] ?? creds?.accountId ?? "local",
  };
}

export function clientFor(config: CliConfig): NimbusClient {
  return new NimbusClient({ endpoint: config.endpoint, accessKeyId: config.accessKeyId, accessKeySecret: config.accessKeySecret, accountId: config.accountId });
}

import { makeZip, type TestCluster } from "@nimbus/testkit";
import type { NimbusClient } from "@nimbus/sdk";

/** Deploys a Node.js function from inline sources (service created if needed); returns its client. */
export async function deploy(
  cluster: TestCluster,
  service: string,
  name: string,
  files: Record<string, string | Buffer | { content: string | Buffer; mode?: number }>,
  spec: Record<string, unknown> = {},
): Promise<NimbusClient> {
  const client = cluster.client();
  await client.createService(service).catch((err: { code?: string }) => {
    if (err.code !== "ServiceAlreadyExists") throw err;
  });
  const zipFile = (await makeZip(files)).toString("base64");
  await client.createFunction(service, { functionName: name, runtime: "nodejs20", handler: "index.handler", timeout: 10, code: { zipFile }, ...spec });
  return client;
}

/** The JSON error body of a failed invocation. */
export function errorBody(data: Buffer): { errorMessage: string; errorType?: string; stackTrace?: string[] } {
  return JSON.parse(data.toString("utf8"));
}

/** Processes on this machine whose command line contains `marker`. */
export async function processesMatching(marker: string): Promise<string[]> {
  const { readdir, readFile } = await import("node:fs/promises");
  const found: string[] = [];
  for (const pid of (await readdir("/proc")).filter((d) => /^\d+$/.test(d))) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (cmdline.replaceAll("\0", " ").includes(marker) && Number(pid) !== process.pid) found.push(`${pid} ${cmdline.replaceAll("\0", " ")}`);
  }
  return found;
}

export async function eventually<T>(fn: () => Promise<T>, what: string, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > until) throw new Error(`${what}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

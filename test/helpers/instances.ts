import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { TestCluster } from "@nimbus/testkit";
import { processesMatching } from "./functions.js";

/** The directory of the cluster's first invoker (code cache, runtime, sandbox files). */
export function invokerDir(cluster: TestCluster): string {
  const dir = cluster.service("invoker").process.options.env?.["NIMBUS_INVOKER_DIR"];
  if (!dir) throw new Error("the invoker has no NIMBUS_INVOKER_DIR");
  return dir;
}

/**
 * bubblewrap processes sandboxing the cluster's instances (their command lines name its invoker's
 * directory), not counting pre-started sandboxes still waiting for a function.
 */
export async function sandboxes(cluster: TestCluster): Promise<string[]> {
  const waiting = await waitingSandboxes(cluster);
  return (await processesMatching(invokerDir(cluster))).filter((p) => p.includes("bwrap") && !waiting.some((id) => p.includes(`--hostname ${id} `)));
}

/** The first invoker's pre-started sandboxes (one directory each, taken or not). */
export function prestartDir(cluster: TestCluster): string {
  return join(invokerDir(cluster), "prestart");
}

/** Pre-started sandboxes waiting for a function now: alive, nothing in their /code yet. Their ids are their hostnames. */
export async function waitingSandboxes(cluster: TestCluster): Promise<string[]> {
  const ids = await readdir(prestartDir(cluster)).catch(() => []);
  const out: string[] = [];
  for (const id of ids) {
    const code = await readdir(join(prestartDir(cluster), id, "code")).catch(() => ["gone"]);
    if (code.length === 0 && (await processesMatching(`--hostname ${id} `)).length > 0) out.push(id);
  }
  return out;
}

/**
 * Instance cgroups of the cluster's first invoker: `nimbus/<node>.<hash of its directory>` under
 * the cgroup v1 memory hierarchy or the v2 root (none where the host has no writable cgroups),
 * not counting those of pre-started sandboxes still waiting for a function.
 */
export async function instanceCgroups(cluster: TestCluster): Promise<string[]> {
  const node = cluster.service("invoker").process.options.env?.["NIMBUS_NODE_ID"] ?? "";
  const group = `${node}.${createHash("sha256").update(invokerDir(cluster)).digest("hex").slice(0, 8)}`;
  for (const root of ["/sys/fs/cgroup/memory/nimbus", "/sys/fs/cgroup/nimbus"]) {
    const dir = join(root, group);
    if (!existsSync(dir)) continue;
    const waiting = await waitingSandboxes(cluster);
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory() && !waiting.includes(e.name)).map((e) => e.name);
  }
  return [];
}

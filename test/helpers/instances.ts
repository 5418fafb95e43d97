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

/** bubblewrap processes sandboxing the cluster's instances (their command lines name its invoker's directory). */
export async function sandboxes(cluster: TestCluster): Promise<string[]> {
  return (await processesMatching(invokerDir(cluster))).filter((p) => p.includes("bwrap"));
}

/**
 * Instance cgroups of the cluster's first invoker: `nimbus/<node>.<hash of its directory>` under
 * the cgroup v1 memory hierarchy or the v2 root (none where the host has no writable cgroups).
 */
export async function instanceCgroups(cluster: TestCluster): Promise<string[]> {
  const node = cluster.service("invoker").process.options.env?.["NIMBUS_NODE_ID"] ?? "";
  const group = `${node}.${createHash("sha256").update(invokerDir(cluster)).digest("hex").slice(0, 8)}`;
  for (const root of ["/sys/fs/cgroup/memory/nimbus", "/sys/fs/cgroup/nimbus"]) {
    const dir = join(root, group);
    if (existsSync(dir)) return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  }
  return [];
}

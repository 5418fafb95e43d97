import { createNaming } from "@nimbus/protocol";
import { openControlPlane } from "@nimbus/store";
import type { TestCluster } from "@nimbus/testkit";
import { connectNats } from "./nats.js";

/** What the control plane holds right now, read straight from NATS (not through the gateway). */
export async function controlPlaneContents(cluster: TestCluster): Promise<{ services: string[]; functions: string[]; code: string[] }> {
  const nc = await connectNats(cluster);
  try {
    const cp = await openControlPlane(nc, { naming: createNaming() });
    const [services, functions, code] = await Promise.all([cp.services.keys(), cp.functions.keys(), cp.code.list()]);
    return { services: services.sort(), functions: functions.sort(), code: code.map((c) => c.sha256).sort() };
  } finally {
    await nc.close();
  }
}

import { connect } from "@nats-io/transport-node";
import { createNaming } from "@nimbus/protocol";
import { openControlPlane } from "@nimbus/store";
import type { TestCluster } from "@nimbus/testkit";

/** What the control plane holds right now, read straight from NATS (not through the gateway). */
export async function controlPlaneContents(cluster: TestCluster): Promise<{ services: string[]; functions: string[]; code: string[] }> {
  const url = new URL(cluster.nats.url);
  const nc = await connect({ servers: `${url.hostname}:${url.port}`, ...(url.username ? { token: url.username } : {}) });
  try {
    const cp = await openControlPlane(nc, { naming: createNaming() });
    const [services, functions, code] = await Promise.all([cp.services.keys(), cp.functions.keys(), cp.code.list()]);
    return { services: services.sort(), functions: functions.sort(), code: code.map((c) => c.sha256).sort() };
  } finally {
    await nc.close();
  }
}

import { Cluster, Redis } from "ioredis";
import type { TestCluster } from "@nimbus/testkit";

/** A client of the test cluster's Redis as the services see it: its one server, or its Redis Cluster. */
export function redisOf(cluster: TestCluster): Redis | Cluster {
  const set = cluster.redisCluster;
  if (!set) return new Redis(cluster.redis?.url ?? "", { lazyConnect: true, maxRetriesPerRequest: 2 });
  const password = set.nodes[0]?.options.password;
  return new Cluster(
    set.nodes.map((n) => ({ host: "127.0.0.1", port: n.port })),
    { lazyConnect: true, redisOptions: { maxRetriesPerRequest: 2, ...(password ? { password } : {}) } },
  );
}

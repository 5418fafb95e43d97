import { defineConfig } from "vitest/config";
import base from "./vitest.config.js";

// Part of `npm run test:cluster`: suites of the main run again with their Redis a Redis Cluster
// (three primaries with two replicas each; NIMBUS_TEST_REDIS=cluster), covering async queues and
// records, timers, NATS triggers and their faults, the instance registry's limits and node loss,
// provisioned instances and their policies, versions and aliases, metrics, a frozen worker's job taken
// over, the log collector's index and counts (through its own restart) and a log flood's share, across
// the cluster's slots. One file at a time: each starts nine redis-servers.
export default defineConfig({
  test: {
    ...base.test,
    include: [
      "test/async/async.test.ts",
      "test/triggers/triggers.test.ts",
      "test/reliability/triggers.test.ts",
      "test/compat/provision.test.ts",
      "test/compat/provision-policies.test.ts",
      "test/compat/versions.test.ts",
      "test/observability/metrics-tracing.test.ts",
      "test/reliability/invoker.test.ts",
      "test/reliability/async-takeover.test.ts",
      "test/observability/logs.test.ts",
      "test/reliability/log-flood.test.ts",
    ],
    exclude: ["**/node_modules/**", "**/dist/**"],
    env: { NIMBUS_TEST_REDIS: "cluster" },
    poolOptions: { forks: { maxForks: 1, minForks: 1 } },
  },
});

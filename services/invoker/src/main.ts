import { runService } from "@nimbus/service-kit";
import { buildInvoker } from "./app.js";
import { readEnv } from "./env.js";

const env = readEnv();

await runService({
  name: "invoker",
  nodeId: env.NIMBUS_NODE_ID,
  logLevel: env.NIMBUS_LOG_LEVEL,
  shutdownTimeoutMs: env.NIMBUS_SHUTDOWN_TIMEOUT_MS,
  metricsPort: env.NIMBUS_METRICS_PORT,
  metricsHost: env.NIMBUS_METRICS_HOST,
  build: (logger) => buildInvoker({ env, logger }),
});

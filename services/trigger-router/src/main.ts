import { runService } from "@nimbus/service-kit";
import { buildTriggerRouter } from "./app.js";
import { readEnv } from "./env.js";

const env = readEnv();

await runService({
  name: "trigger-router",
  nodeId: env.NIMBUS_NODE_ID,
  logLevel: env.NIMBUS_LOG_LEVEL,
  shutdownTimeoutMs: env.NIMBUS_SHUTDOWN_TIMEOUT_MS,
  build: (logger) => buildTriggerRouter({ env, logger }),
});

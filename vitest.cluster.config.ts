import { defineConfig } from "vitest/config";
import base from "./vitest.config.js";

// `npm run test:cluster`: Nimbus on a 3-node NATS cluster and Redis with Sentinel, faults under load,
// and rolling restarts (test/cluster). Apart from `npm test` so that one stays near ~10 minutes;
// CI runs both. The same pool and timeouts as the main suite, one file at a time (each starts a
// whole multi-node deployment).
export default defineConfig({
  test: {
    ...base.test,
    include: ["test/cluster/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    poolOptions: { forks: { maxForks: 1, minForks: 1 } },
  },
});

import { defineConfig } from "vitest/config";

// Every suite talks to real nats-server / redis-server / service processes (testkit), so files run
// in separate processes, two at a time on a 2-core machine, with generous timeouts for process starts.
export default defineConfig({
  test: {
    include: ["packages/*/src/**/*.test.ts", "services/*/src/**/*.test.ts", "test/**/*.test.ts"],
    // The multi-node suites (NATS cluster, Sentinel, rolling restarts) run apart: `npm run test:cluster`.
    // The browser suite runs after the rest, alone (vitest.console.config.ts; `npm test` runs both):
    // Chromium beside the timing-sensitive suites would make them flaky.
    exclude: ["**/node_modules/**", "**/dist/**", "test/cluster/**", "test/console/**"],
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
});

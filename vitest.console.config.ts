import { defineConfig } from "vitest/config";
import base from "./vitest.config.js";

// The console's browser suite (test/console: Chromium driven by playwright-core against real
// services). `npm test` runs it after the other suites, on its own.
export default defineConfig({
  test: {
    ...base.test,
    include: ["test/console/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
  },
});

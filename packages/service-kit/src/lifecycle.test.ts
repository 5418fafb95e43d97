import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const DIST = fileURLToPath(new URL("../dist/index.js", import.meta.url));

// A service that fills its stdout (4 MB of log lines) and then waits for its supervisor.
const SERVICE = `
  const { runService } = await import(${JSON.stringify(DIST)});
  await runService({
    name: "gateway",
    nodeId: "t",
    logLevel: "info",
    shutdownTimeoutMs: 1000,
    build: async (logger) => ({
      start: async () => {
        const line = "x".repeat(1000);
        for (let i = 0; i < 4000; i++) logger.info({ line }, "filler");
        return {};
      },
      stop: async () => logger.info("stopping"),
    }),
  });
  setInterval(() => undefined, 1 << 30);`;

describe("a service's stop", () => {
  it("ends the process even when its supervisor died leaving a stdout nobody reads", async () => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", SERVICE], { stdio: ["ignore", "pipe", "ignore", "ipc"] });
    child.stdout?.pause(); // never read: the socket fills, and the last lines cannot be written
    await new Promise<void>((resolve) => child.once("message", () => resolve()));
    child.disconnect(); // the supervisor is gone
    const ended = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve("still running"), 15_000);
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        resolve(`ended (${code ?? signal})`);
      });
    });
    child.kill("SIGKILL");
    // Within its stop deadline (1 s here) and the grace after it, not never.
    expect(ended).toMatch(/^ended/);
  }, 30_000);
});

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const DIST = fileURLToPath(new URL("../dist/index.js", import.meta.url));

/**
 * Runs a process that logs 4 MB to a stdout nobody reads (a full socket, as when its supervisor
 * died; non-blocking, as a supervisor's socket can be), then exits; resolves with how it ended, or
 * "hung" when it is still there after `ms`.
 */
function exitWithStdoutFull(logger: string, ms: number): Promise<string> {
  const script = `
    const { Socket } = await import("node:net");
    new Socket({ fd: 1, readable: false }).unref(); // libuv makes the descriptor non-blocking
    ${logger}
    const line = "x".repeat(1000);
    for (let i = 0; i < 4000; i++) log.info({ line }, "filler");
    setTimeout(() => process.exit(0), 200);`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "ignore"] });
  child.stdout.pause(); // never read
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve("hung");
    }, ms);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve(`exited ${code ?? signal}`);
    });
  });
}

describe("the process logger", () => {
  it("never keeps a process from exiting when nobody reads its stdout", async () => {
    expect(await exitWithStdoutFull(`const { createLogger } = await import(${JSON.stringify(DIST)}); const log = createLogger({ service: "t" });`, 10_000)).toBe("exited 0");
  }, 20_000);

  it("(control) plain pino stays stuck at exit in the same case", async () => {
    expect(await exitWithStdoutFull(`const { pino } = await import("pino"); const log = pino();`, 6_000)).toBe("hung");
  }, 20_000);
});

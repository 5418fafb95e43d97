// `--help` on every command answers and does nothing else; a second `nimbus up` on a NIMBUS_HOME in
// use refuses instead of taking the running one's servers.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, exited, freePorts, leftovers, startUp, upEnv } from "./launch.js";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nimbus-help-"));
});
afterAll(async () => {
  // A test cut short (its timeout) must not leave its `nimbus up` — and that one's sandboxes — running.
  const pid = Number(await readFile(join(dir, "shared", "nimbus-up.pid"), "utf8").catch(() => ""));
  if (pid > 0) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
  if (!process.env["NIMBUS_TEST_KEEP"]) await rm(dir, { recursive: true, force: true });
});

/** Runs the CLI; a run still going after `timeoutMs` is killed and reported as such (code null). */
async function nimbus(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const code = await exited(child);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

const COMMANDS = ["up", "invoker", "deploy", "invoke", "async", "logs", "metrics", "version", "alias", "layer", "trigger", "publish", "images"];

describe("--help", () => {
  it.each(COMMANDS)("nimbus %s --help and -h print its usage, exit 0 and start nothing", async (command) => {
    const home = join(dir, `home-${command}`);
    const env = { ...upEnv(home, await freePorts()), NIMBUS_ENDPOINT: "http://127.0.0.1:9" };
    for (const flag of ["--help", "-h"]) {
      const run = await nimbus([command, flag], env);
      expect(run.code, `${command} ${flag}: ${run.stderr}`).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^usage: nimbus ${command}\\b`));
      expect(existsSync(home), `${command} ${flag} created ${home}`).toBe(false);
      expect(await leftovers(home)).toEqual([]);
    }
  });

  it("nimbus --help lists every command", async () => {
    const run = await nimbus(["--help"], { PATH: process.env["PATH"] });
    expect(run.code).toBe(0);
    for (const command of COMMANDS) expect(run.stdout).toMatch(new RegExp(`^  ${command}\\b`, "m"));
  });
});

describe("a second nimbus up on the same NIMBUS_HOME", () => {
  it("refuses with a message naming the running one, which stays up with its servers", async () => {
    const home = join(dir, "shared");
    const first = await startUp(home, await freePorts());
    try {
      const natsPid = (await readFile(join(home, "nats", "nats-server.pid"), "utf8")).trim();
      const second = await nimbus(["up"], upEnv(home, await freePorts()));
      expect(second.code, second.stdout + second.stderr).toBe(2);
      expect(second.stderr).toContain(`${home} is in use by a running 'nimbus up' (pid ${first.child.pid})`);
      expect((await readFile(join(home, "nats", "nats-server.pid"), "utf8")).trim()).toBe(natsPid);
      expect((await fetch(`${first.printed.endpoint}/readyz`)).status).toBe(200);
      expect(first.child.exitCode).toBe(null);
    } finally {
      first.child.kill("SIGTERM");
      await exited(first.child);
    }
    // Once it stopped, the folder is free again.
    expect(existsSync(join(home, "nimbus-up.pid"))).toBe(false);
  }, 120_000);
});

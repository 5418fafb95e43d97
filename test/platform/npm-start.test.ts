// `npm start` and `npm run invoker` stopped the way a service manager or a user's `kill` stops
// them: a signal to the npm process, not to the whole process group as Ctrl-C in a terminal does.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../helpers/functions.js";
import { exited, freePorts, leftovers, processTree, ROOT, stillRunning, upEnv, whenUp } from "./launch.js";

let home: string;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "nimbus-npm-"));
});
afterAll(async () => {
  if (!process.env["NIMBUS_TEST_KEEP"]) await rm(home, { recursive: true, force: true });
});

/** `npm <args>` in the repository, on this test's NIMBUS_HOME and free ports. */
async function npm(args: string[], env: NodeJS.ProcessEnv) {
  // npm test has built everything already; building is not what this is about.
  const child = spawn("npm", args, { cwd: ROOT, env: { ...env, NIMBUS_NO_BUILD: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

/** Signals `pid` and waits until every process of `tree` is gone; returns how long that took. */
async function signalAndWait(pid: number, signal: NodeJS.Signals, tree: number[], what: string): Promise<number> {
  const sentAt = Date.now();
  process.kill(pid, signal);
  await eventually(async () => {
    const running = await stillRunning(tree);
    if (running.length > 0) throw new Error(`still running: ${running.join(", ")}`);
  }, what, 30_000);
  return Date.now() - sentAt;
}

describe("stopping npm start and npm run invoker by the npm process's pid", () => {
  for (const [upSignal, invokerSignal] of [
    ["SIGTERM", "SIGINT"],
    ["SIGINT", "SIGTERM"],
  ] as const) {
    it(`${upSignal} to npm start stops every process it started; ${invokerSignal} to npm run invoker stops that node`, async () => {
      const env = upEnv(join(home, upSignal), await freePorts());
      const start = await npm(["start"], env);
      const platform = await whenUp(start.child);
      const upTree = (await processTree(start.child.pid!)).map((p) => p.pid);

      const extra = await npm(["run", "invoker"], env);
      await eventually(async () => {
        if (!extra.output().includes("joined")) throw new Error(`not joined yet:\n${extra.output()}`);
      }, "npm run invoker joined", 30_000);
      const invokerTree = (await processTree(extra.child.pid!)).map((p) => p.pid);
      const invokerMs = await signalAndWait(extra.child.pid!, invokerSignal, invokerTree, `${invokerSignal} to npm run invoker`);
      console.log(`${invokerSignal} to npm run invoker: its ${invokerTree.length} processes gone after ${invokerMs} ms; npm exited ${await exited(extra.child)}`);
      expect((await fetch(`${platform.printed.endpoint}/readyz`)).status).toBe(200);

      const upMs = await signalAndWait(start.child.pid!, upSignal, upTree, `${upSignal} to npm start`);
      console.log(`${upSignal} to npm start: its ${upTree.length} processes gone after ${upMs} ms; npm exited ${await exited(start.child)}`);
      expect(platform.output()).toContain("nimbus: stopped");
      expect(await leftovers(join(home, upSignal))).toEqual([]);
    }, 120_000);
  }

  it("SIGKILL to npm start: the launcher sees npm gone and stops everything cleanly", async () => {
    const dir = join(home, "SIGKILL");
    const start = await npm(["start"], upEnv(dir, await freePorts()));
    const platform = await whenUp(start.child);
    const tree = (await processTree(start.child.pid!)).map((p) => p.pid);
    const ms = await signalAndWait(start.child.pid!, "SIGKILL", tree, "SIGKILL to npm start");
    console.log(`SIGKILL to npm start: its ${tree.length} processes gone after ${ms} ms`);
    expect(platform.output()).toContain("nimbus: stopped");
    expect(await leftovers(dir)).toEqual([]);
  }, 120_000);
});

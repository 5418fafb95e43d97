// Running the built `nimbus` CLI as a child process against a test cluster, as a user would.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { TestCluster } from "@nimbus/testkit";
import { BIN } from "./launch.js";

const run = promisify(execFile);

/** What a CLI run printed, and how it exited. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment that points the CLI at `cluster` (API, key and NATS), with a NIMBUS_HOME holding nothing. */
export function cliEnv(cluster: TestCluster, emptyHome: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env["PATH"],
    NIMBUS_HOME: emptyHome,
    NIMBUS_ENDPOINT: cluster.endpoint(),
    NIMBUS_ACCESS_KEY_ID: cluster.credentials.accessKeyId,
    NIMBUS_ACCESS_KEY_SECRET: cluster.credentials.accessKeySecret,
    NIMBUS_ACCOUNT_ID: cluster.credentials.accountId,
    NIMBUS_NATS_URL: cluster.nats.url,
  };
}

/** Runs `nimbus <args>` with `env` (and `input` on stdin); never rejects: a failure is its exit code. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<CliRun> {
  const child = run(process.execPath, [BIN, ...args], { env, encoding: "utf8" });
  if (input !== undefined) child.child.stdin?.end(input);
  return child.then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

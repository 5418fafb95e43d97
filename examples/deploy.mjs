#!/usr/bin/env node
// Deploys examples/hello with the official Function Compute SDK (@alicloud/fc2), unmodified,
// against a local Nimbus. Usage: node examples/deploy.mjs   (after `npm start` in another terminal)
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import FC from "@alicloud/fc2";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const home = process.env.NIMBUS_HOME ?? join(root, ".nimbus");
// What `npm start` wrote: the root key, and the endpoint it really listens on (NIMBUS_PORT may move it).
const read = (file) => (existsSync(join(home, file)) ? JSON.parse(readFileSync(join(home, file), "utf8")) : undefined);
const creds = read("credentials.json");
const endpoints = read("endpoints.json");
const endpoint = process.env.NIMBUS_ENDPOINT ?? endpoints?.endpoint;
if (!creds || !endpoint) {
  console.error(`no ${join(home, creds ? "endpoints.json" : "credentials.json")}: run 'npm start' first (or set NIMBUS_HOME to its folder)`);
  process.exit(1);
}

const fc = new FC(creds.accountId, {
  accessKeyID: process.env.NIMBUS_ACCESS_KEY_ID ?? creds.accessKeyId,
  accessKeySecret: process.env.NIMBUS_ACCESS_KEY_SECRET ?? creds.accessKeySecret,
  region: endpoints?.region ?? "local",
  endpoint,
});

// `zip -r - .` writes the package to stdout; any zip tool works.
const zipFile = execFileSync("zip", ["-qr", "-", "."], { cwd: join(root, "examples", "hello") }).toString("base64");

await fc.createService("demo", { description: "the README walkthrough" }).catch((err) => {
  if (err.code !== "ServiceAlreadyExists") throw err;
});
const spec = { runtime: "nodejs20", handler: "index.handler", memorySize: 128, timeout: 10, code: { zipFile } };
const fn = await fc
  .createFunction("demo", { functionName: "hello", ...spec })
  .catch((err) => (err.code === "FunctionAlreadyExists" ? fc.updateFunction("demo", "hello", spec) : Promise.reject(err)));
console.log(JSON.stringify(fn.data, null, 2));

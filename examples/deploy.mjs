#!/usr/bin/env node
// Deploys examples/hello with the official Function Compute SDK (@alicloud/fc2), unmodified,
// against a local Nimbus. Usage: node examples/deploy.mjs   (after `npm start` in another terminal)
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import FC from "@alicloud/fc2";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const home = process.env.NIMBUS_HOME ?? join(root, ".nimbus");
const creds = JSON.parse(readFileSync(join(home, "credentials.json"), "utf8"));
const endpoint = process.env.NIMBUS_ENDPOINT ?? "http://127.0.0.1:8080";

const fc = new FC(creds.accountId, {
  accessKeyID: process.env.NIMBUS_ACCESS_KEY_ID ?? creds.accessKeyId,
  accessKeySecret: process.env.NIMBUS_ACCESS_KEY_SECRET ?? creds.accessKeySecret,
  region: "local",
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

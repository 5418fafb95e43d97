#!/usr/bin/env node
// The `nimbus` command of a clone: the root package.json names this file as its bin, so `npx nimbus …`
// runs it from anywhere in the repository. It runs the built CLI, or says how to build it.
import { existsSync } from "node:fs";

const bin = new URL("../dist/bin.js", import.meta.url);
if (!existsSync(bin)) {
  process.stderr.write("nimbus: the CLI is not built yet; run 'npm start' once (it builds everything), or 'npm run build'\n");
  process.exit(1);
}
await import(bin.href);

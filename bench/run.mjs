#!/usr/bin/env node
// npm run bench -- <name>: runs one benchmark from this folder.
import { readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const available = (await readdir(here)).filter((f) => f.endsWith(".mjs") && f !== "run.mjs" && f !== "lib.mjs" && !f.endsWith("-lib.mjs")).map((f) => f.slice(0, -4));
const name = process.argv[2];
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <name>\navailable: ${available.join(", ")}`);
  process.exit(name ? 1 : 0);
}
await import(pathToFileURL(join(here, `${name}.mjs`)).href);

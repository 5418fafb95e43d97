// Bundles the instance runtime into one CommonJS file (fast to load, no node_modules needed inside
// the sandbox) and copies the modules FC preinstalls for handlers, with their dependencies.
import { build } from "esbuild";
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");

await build({
  entryPoints: [join(root, "dist", "main.js")],
  outfile: join(dist, "runtime.cjs"),
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  // msgpackr tries its optional native extension in a try/catch; inside the sandbox it is absent.
  external: ["msgpackr-extract"],
  logLevel: "warning",
});

// The no-op handler a pre-started runtime warms up on (see warmup.ts).
await writeFile(join(dist, "warmup-handler.cjs"), '"use strict";\nexports.handler = (event, context, callback) => callback(null, { warm: true });\n');

const PREINSTALLED = ["raw-body"];
const target = join(dist, "preinstalled", "node_modules");
await rm(target, { recursive: true, force: true });
const seen = new Set();

/** Copies a package and, recursively, its production dependencies, as resolved from `from`. */
async function copyPackage(name, from) {
  const require = createRequire(join(from, "package.json"));
  const manifestPath = require.resolve(`${name}/package.json`);
  const dir = dirname(manifestPath);
  if (seen.has(name)) return;
  seen.add(name);
  await mkdir(join(target, name, ".."), { recursive: true });
  await cp(dir, join(target, name), { recursive: true, filter: (src) => !src.includes(`${dir}/node_modules`) });
  const manifest = JSON.parse(await readFile(manifestPath, "utf8"));
  for (const dep of Object.keys(manifest.dependencies ?? {})) await copyPackage(dep, dir);
}

for (const name of PREINSTALLED) await copyPackage(name, root);

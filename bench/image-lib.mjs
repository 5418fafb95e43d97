// Helpers of the image benchmark: the ~108 MB (compressed) test image, the skopeo + umoci baseline, and the
// platform's pull (ImageCache.acquire from @nimbus/images, the invoker's own code) with the time of
// each of its phases.
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { hostPlatform, ImageCache } from "@nimbus/images";
import { createLogger } from "@nimbus/telemetry";
import { ROOT } from "./lib.mjs";

const exec = promisify(execFile);
const MiB = 1024 * 1024;

/** The invoker's defaults (NIMBUS_IMAGE_CACHE_BYTES, NIMBUS_MAX_IMAGE_BYTES, NIMBUS_REGISTRY_TIMEOUT_MS). */
const CACHE_BYTES = 20 * 1024 ** 3;
const MAX_IMAGE_BYTES = 10 * 1024 ** 3;
const REGISTRY_TIMEOUT_MS = 30_000;

/**
 * Builds `big` in the TestImages layout: the runnable Node image (its node binary and libraries,
 * ~100 MB raw, ~37 MB gzipped) plus two layers of 28 × 1 MiB random files and one of 2,000 × 4 KiB
 * random files in 20 directories (incompressible): ~108 MB to download, ~171 MB unpacked.
 */
export async function buildBigImage(images) {
  await images.node();
  await umoci("config", "--no-history", "--image", `${images.layout.dir}:node`, "--tag", "big", "--config.env", "IMAGE_MARKER=big");
  for (const layer of ["a", "b"]) {
    await images.layout.addLayer("big", [{ path: `data-${layer}`, dir: true }, ...Array.from({ length: 28 }, (_, i) => ({ path: `data-${layer}/blob-${i}.bin`, content: randomBytes(MiB) }))]);
  }
  const small = [{ path: "small", dir: true }];
  for (let d = 0; d < 20; d++) {
    small.push({ path: `small/d${d}`, dir: true });
    for (let f = 0; f < 100; f++) small.push({ path: `small/d${d}/f${f}.bin`, content: randomBytes(4096) });
  }
  await images.layout.addLayer("big", small);
  return "big";
}

/** A copy of image `tag` with its own config (so its own digest) and the same layer blobs. */
export async function variantOf(images, tag, variant) {
  await umoci("config", "--no-history", "--image", `${images.layout.dir}:${tag}`, "--tag", variant, "--config.env", `IMAGE_MARKER=${variant}`);
  return variant;
}

/** What the registry holds for a pushed image: layer count, compressed bytes (config + layers). */
export async function registrySize(reference) {
  const { stdout } = await exec("skopeo", ["inspect", "--raw", "--tls-verify=false", "--no-creds", `docker://${reference}`]);
  const manifest = JSON.parse(stdout);
  return { layers: manifest.layers.length, downloadBytes: manifest.config.size + manifest.layers.reduce((sum, l) => sum + l.size, 0) };
}

const rootless = process.getuid?.() !== 0;

/**
 * The baseline: `skopeo copy docker://… oci:…` then `umoci unpack` of the same pinned image into a
 * fresh directory, as plain commands (the same TLS/credential flags the platform passes, and
 * --rootless exactly when the platform uses it). Returns the time of each and the total.
 */
export async function baselinePull(pinned, dir) {
  await mkdir(dir, { recursive: true });
  const layout = join(dir, "layout");
  const started = performance.now();
  await exec("skopeo", ["copy", "--quiet", "--src-tls-verify=false", "--src-no-creds", `docker://${pinned}`, `oci:${layout}:image`], { timeout: 300_000 });
  const copied = performance.now();
  await exec("umoci", ["unpack", ...(rootless ? ["--rootless"] : []), "--image", `${layout}:image`, join(dir, "bundle")], { timeout: 300_000, maxBuffer: 16 * MiB });
  const done = performance.now();
  return { ms: done - started, copyMs: copied - started, unpackMs: done - copied };
}

/** Phases of a pull as ImageCache logs them (debug "image pull phase" lines), in order. */
const PHASES = ["manifest", "download", "check", "unpack", "prepare"];

/**
 * The platform's pull: a new ImageCache on an empty directory (init() done, untimed, as the invoker
 * does at start) and one `acquire` of the pinned image — the invoker's path from "no such image
 * here" to "rootfs ready": manifest lookup, size check, skopeo copy --dest-decompress, blob and
 * umoci raw unpack with the layer checks alongside, mount points, disk usage, meta.json, rename into place. The cache's
 * pino logger (at debug) is read to time each phase; `finish` is everything after `prepare`
 * starts (mount points, disk usage, room, meta.json, the rename).
 */
export async function platformPull(pinned, dir) {
  const marks = [];
  const destination = {
    write(line) {
      const at = performance.now();
      const { msg, phase } = JSON.parse(line);
      marks.push({ at, name: msg === "image pull phase" ? phase : msg });
    },
  };
  const cache = new ImageCache({
    dir,
    maxBytes: CACHE_BYTES,
    maxImageBytes: MAX_IMAGE_BYTES,
    access: { insecureRegistries: [], timeoutMs: REGISTRY_TIMEOUT_MS },
    platform: hostPlatform(),
    logger: createLogger({ service: "bench", level: "debug", destination }),
  });
  await cache.init();
  const started = performance.now();
  const image = await cache.acquire(pinned);
  const ms = performance.now() - started;
  const at = (name) => marks.find((m) => m.name === name)?.at ?? NaN;
  const phases = {};
  const order = [...PHASES, "image pulled"];
  for (let i = 0; i < PHASES.length; i++) phases[`${PHASES[i]}Ms`] = at(order[i + 1]) - at(order[i]);
  phases.beforeMs = at("image pull started") - started;
  return { ms, ...phases, sizeBytes: image.sizeBytes };
}

/**
 * One more platform pull in a child process whose PATH puts timing wrappers before skopeo and
 * umoci (a shell recording each run's start and end), to split each phase into the tool's own time
 * and Nimbus's. Not part of the measured figures: the wrappers cost a fork and two `date`s each.
 */
export async function instrumentedPull(pinned, dir) {
  const shims = join(dir, "shims");
  const log = join(dir, "tools.log");
  await mkdir(shims, { recursive: true });
  for (const tool of ["skopeo", "umoci"]) {
    const real = (await exec("sh", ["-c", `command -v ${tool}`])).stdout.trim();
    const script = `#!/bin/sh\ns=$(date +%s%N)\n${real} "$@"\nrc=$?\ne=$(date +%s%N)\necho "${tool} $1 $s $e" >> ${log}\nexit $rc\n`;
    await writeFile(join(shims, tool), script);
    await chmod(join(shims, tool), 0o755);
  }
  const lib = pathToFileURL(join(ROOT, "bench", "image-lib.mjs")).href;
  const code = `import { platformPull } from ${JSON.stringify(lib)}; console.log(JSON.stringify(await platformPull(${JSON.stringify(pinned)}, ${JSON.stringify(join(dir, "cache"))})));`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", code], { cwd: ROOT, env: { ...process.env, PATH: `${shims}:${process.env.PATH}` }, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  const status = await new Promise((resolve) => child.on("exit", resolve));
  if (status !== 0) throw new Error(`the instrumented pull exited ${status}`);
  const pull = JSON.parse(out.trim().split("\n").at(-1));
  const tools = (await readFile(log, "utf8"))
    .trim()
    .split("\n")
    .map((line) => {
      const [tool, command, s, e] = line.split(" ");
      return { run: `${tool} ${command}`, ms: (Number(e) - Number(s)) / 1e6 };
    });
  const tool = (run) => tools.find((t) => t.run === run)?.ms ?? 0;
  // Each phase against the tool run inside it; the rest of a phase is Nimbus's own work.
  const inside = { manifest: "skopeo inspect", download: "skopeo copy", check: undefined, unpack: "umoci raw", prepare: undefined };
  const rows = PHASES.map((phase) => {
    const ms = pull[`${phase}Ms`];
    const run = inside[phase];
    return { phase, ms, tool: run ?? "—", toolMs: run ? tool(run) : 0, restMs: ms - (run ? tool(run) : 0) };
  });
  return { totalMs: pull.ms, rows };
}

/** Removes a directory and flushes what was written, so one measurement's writeback does not land in the next. */
export async function clear(dir) {
  await rm(dir, { recursive: true, force: true });
  await flush();
}

/** `sync`: what was written so far reaches the disk now, not during the next measurement. */
export async function flush() {
  await exec("sync");
}

async function umoci(...args) {
  await exec("umoci", args, { timeout: 120_000, maxBuffer: 16 * MiB });
}

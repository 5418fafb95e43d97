// image — P9: container images.
// 1. Cold start from a cached image: the first call of a just-created custom-container function
//    whose image the invoker already holds, against the same server shipped as a `runtime: custom`
//    zip (a shell `bootstrap` exec-ing the host's node/python on the server file) whose code is
//    already unpacked. A new function each round (same image digest → the cached image; same zip →
//    the unpacked code) gives a new instance without a pull; rounds interleave image and zip.
// 2. First pull + unpack of a ~100 MB image: ImageCache.acquire (@nimbus/images, the invoker's own
//    pull path) on an empty cache directory, against `skopeo copy docker://… oci:…` + `umoci unpack`
//    of the same pinned image as plain commands; and, through a running invoker, the first call of a
//    function whose image the node has not pulled (same layers, a new config digest each round)
//    minus the first call of another function on that image once it is cached.
import { loadavg } from "node:os";
import { join } from "node:path";
import { makeZip, NODE_SERVER_JS, PYTHON_SERVER_PY, TestCluster, TestImages } from "@nimbus/testkit";
import { baselinePull, buildBigImage, clear, flush, instrumentedPull, platformPull, registrySize, variantOf } from "./image-lib.mjs";
import { median, report, round2, ROUNDS } from "./lib.mjs";

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 15);
const COLD_ROUNDS = Math.max(ROUNDS, SAMPLES);
const PULL_ROUNDS = Number(process.env.BENCH_PULL_ROUNDS ?? Math.max(ROUNDS, 5));
const MB = 1e6;
/** ImageCache's pull phases (its debug log) and what each covers. */
const PHASES = {
  manifest: "skopeo inspect --raw of the pinned manifest, size check",
  download: "skopeo copy --dest-decompress → dir: (plain tars)",
  check: "the copied manifest and config against their digests",
  unpack: "umoci raw unpack, with every layer gunzipped, hashed and scanned in Node alongside",
  prepare: "mount points, setuid bits, du, meta.json, rename into the cache",
};
const load = () => loadavg().map((l) => round2(l));

const p90 = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length * 0.9)];

async function timed(fn) {
  const started = performance.now();
  const result = await fn();
  return { ms: performance.now() - started, result };
}

const loadAtStart = load();
const cluster = await TestCluster.start({ services: ["gateway"], registry: true, env: { NIMBUS_LOG_LEVEL: "warn" } });
try {
  // The invoker logs at info (a few lines per instance, none per call) for its "image pulled" lines.
  await cluster.startService("invoker", { NIMBUS_LOG_LEVEL: "info" });
  const client = cluster.client();
  const registry = cluster.registry;
  const setup = performance.now();
  const images = await TestImages.open(join(cluster.dir, "bench-images"));
  const push = (tag, repository) => images.push(tag, { registry, repository, tag: "v1" });
  const nodeImage = await push(await images.node(), "bench/node");
  const pythonImage = await push(await images.python(), "bench/python");
  const bigImage = await push(await buildBigImage(images), "bench/big");
  const variants = [];
  for (let r = 0; r < PULL_ROUNDS; r++) variants.push(await push(await variantOf(images, "big", `big-r${r}`), `bench/big-r${r}`));
  const pin = (pushed) => `${pushed.reference.replace(/:v1$/, "")}@${pushed.digest}`;
  const big = { ...(await registrySize(bigImage.reference)), pinned: pin(bigImage) };
  console.log(`images built and pushed in ${Math.round((performance.now() - setup) / 1000)} s; the pull image: ${big.layers} layers, ${round2(big.downloadBytes / MB)} MB compressed`);

  // 1. Cold start: image (cached) vs custom-runtime zip (code cached), Node and Python.
  await client.createService("img");
  // The zips' bootstraps start the same server files as the images' entrypoints, with the host's
  // interpreters. The Python test image ships its standard library as .py files only (no bytecode,
  // and a read-only root), so its server compiles every module it imports at each start; the
  // "no bytecode" zip does the same (an empty pycache_prefix, nothing written) for a like-for-like figure.
  const bootstrap = (command) => ({ content: `#!/bin/sh\n${command}\n`, mode: 0o100755 });
  const zips = {
    node: { bootstrap: bootstrap("exec /usr/bin/node /code/server.js"), "server.js": NODE_SERVER_JS },
    python: { bootstrap: bootstrap("exec /usr/bin/python3 -S -u /code/server.py"), "server.py": PYTHON_SERVER_PY },
    "python-nobytecode": { bootstrap: bootstrap("PYTHONDONTWRITEBYTECODE=1 exec /usr/bin/python3 -S -u -X pycache_prefix=/tmp/no-bytecode /code/server.py"), "server.py": PYTHON_SERVER_PY },
  };
  for (const [kind, files] of Object.entries(zips)) zips[kind] = (await makeZip(files)).toString("base64");
  let n = 0;
  const createImageFn = async (image, accelerationType = "None") => {
    const name = `i${n++}`;
    await client.createFunction("img", { functionName: name, runtime: "custom-container", timeout: 60, customContainerConfig: { image: image.reference, accelerationType } });
    return name;
  };
  const createZipFn = async (kind) => {
    const name = `z${n++}`;
    await client.createFunction("img", { functionName: name, runtime: "custom", handler: "index.handler", timeout: 60, code: { zipFile: zips[kind] } });
    return name;
  };
  const call = async (name, lang) => {
    const { ms, result } = await timed(() => client.invokeFunction("img", name, "bench"));
    const body = JSON.parse(result.data.toString());
    if (body.image !== lang || body.body !== "bench") throw new Error(`${name} answered ${result.data.toString().slice(0, 200)}`);
    return ms;
  };
  // Pre-pull (accelerationType Default, until getFunction says acceleration Ready), then one call of
  // each kind so that every file is in the page cache before the first measured round.
  for (const [lang, image] of [["node", nodeImage], ["python", pythonImage]]) {
    const seed = await createImageFn(image, "Default");
    for (let status; status !== "Ready"; await new Promise((r) => setTimeout(r, 100))) {
      status = (await client.getFunction("img", seed)).data.customContainerConfig.accelerationInfo.status;
    }
    await call(seed, lang);
  }
  for (const kind of Object.keys(zips)) await call(await createZipFn(kind), kind.startsWith("python") ? "python" : "node");
  const cold = { "node image (cached)": [], "node zip": [], "python image (cached)": [], "python zip": [], "python zip, no bytecode": [] };
  for (let i = 0; i < COLD_ROUNDS; i++) {
    cold["node image (cached)"].push(await call(await createImageFn(nodeImage), "node"));
    cold["node zip"].push(await call(await createZipFn("node"), "node"));
    cold["python image (cached)"].push(await call(await createImageFn(pythonImage), "python"));
    cold["python zip"].push(await call(await createZipFn("python"), "python"));
    cold["python zip, no bytecode"].push(await call(await createZipFn("python-nobytecode"), "python"));
  }
  const coldRow = (variant, baseline) => ({
    variant: `cold start: ${variant}`,
    "median ms": round2(median(cold[variant])),
    "p90 ms": round2(p90(cold[variant])),
    "× baseline": round2(median(cold[variant]) / median(cold[baseline])),
    baseline,
  });
  const coldRows = [
    coldRow("node image (cached)", "node zip"),
    coldRow("node zip", "node zip"),
    coldRow("python image (cached)", "python zip, no bytecode"),
    coldRow("python zip, no bytecode", "python zip, no bytecode"),
    coldRow("python zip", "python zip, no bytecode"),
  ];

  // 2. First pull + unpack, rounds interleaved: baseline, ImageCache.acquire, first call through the invoker.
  const work = join(cluster.dir, "pulls");
  const pull = { baseline: [], copy: [], umoci: [], platform: [], phases: [], firstCall: [], cachedCall: [], callPull: [] };
  let sizeBytes = 0;
  for (let r = 0; r < PULL_ROUNDS; r++) {
    const b = await baselinePull(big.pinned, join(work, `baseline-${r}`));
    await clear(join(work, `baseline-${r}`));
    pull.baseline.push(b.ms);
    pull.copy.push(b.copyMs);
    pull.umoci.push(b.unpackMs);

    const p = await platformPull(big.pinned, join(work, `cache-${r}`));
    await clear(join(work, `cache-${r}`));
    pull.platform.push(p.ms);
    pull.phases.push(p);
    sizeBytes = p.sizeBytes;

    const first = await call(await createImageFn(variants[r]), "node");
    const cached = await call(await createImageFn(variants[r]), "node");
    await flush(); // the invoker's copy of the image, written back before the next round
    pull.firstCall.push(first);
    pull.cachedCall.push(cached);
    pull.callPull.push(first - cached);
    console.log(`pull round ${r + 1}/${PULL_ROUNDS}: skopeo + umoci ${round2(b.ms)} ms, ImageCache.acquire ${round2(p.ms)} ms, first call ${round2(first)} ms (cached image ${round2(cached)} ms)`);
  }
  const pulledLines = (await cluster.logs("invoker"))
    .split("\n")
    .filter((line) => line.startsWith("{") && line.includes('"image pulled"'))
    .map((line) => JSON.parse(line));
  pull.invokerPull = variants.map((v) => pulledLines.find((l) => l.digest === v.digest)?.ms ?? NaN);
  for (const image of [nodeImage, pythonImage]) {
    const pulls = pulledLines.filter((l) => l.digest === image.digest).length;
    if (pulls !== 1) throw new Error(`the invoker pulled ${image.reference} ${pulls} times: the cold starts were not all from the cached image`);
  }
  const base = median(pull.baseline);
  const pullRow = (variant, list) => ({ variant, "median ms": round2(median(list)), "p90 ms": round2(p90(list)), "× baseline": round2(median(list) / base), baseline: "skopeo + umoci" });
  const pullRows = [
    pullRow("pull: skopeo copy + umoci unpack", pull.baseline),
    pullRow("pull:   of which skopeo copy docker:// → oci:", pull.copy),
    pullRow("pull:   of which umoci unpack", pull.umoci),
    pullRow("pull: ImageCache.acquire, empty cache", pull.platform),
    pullRow("pull: first call, image not on node − first call, cached", pull.callPull),
    pullRow("pull:   the invoker's own pull (its 'image pulled' log line)", pull.invokerPull),
    pullRow("pull:   first call, image not on node", pull.firstCall),
    pullRow("pull:   first call, image cached", pull.cachedCall),
  ];
  const phaseRows = Object.entries(PHASES).map(([phase, what]) => ({ "ImageCache.acquire phase": phase, what, "median ms": round2(median(pull.phases.map((p) => p[`${phase}Ms`]))) }));

  // Where the platform's time goes: one more pull with the tools' own time recorded (not in the figures).
  const instrumented = await instrumentedPull(big.pinned, join(work, "instrumented"));
  await clear(join(work, "instrumented"));
  const breakdown = instrumented.rows.map((r) => ({ "instrumented pull: phase": r.phase, ms: round2(r.ms), "tool run in it": r.tool, "tool ms": round2(r.toolMs), "Nimbus's own ms": round2(r.restMs) }));
  breakdown.push({ "instrumented pull: phase": "(acquire, total)", ms: round2(instrumented.totalMs) });

  const targets = [
    { figure: "P9 cold start, cached image × custom zip (node)", measured: coldRows[0]["× baseline"], target: "≤ 1.2" },
    { figure: "P9 cold start, cached image × custom zip without bytecode (python)", measured: coldRows[2]["× baseline"], target: "≤ 1.2" },
    { figure: "P9 first pull + unpack × skopeo copy + umoci unpack", measured: pullRows[3]["× baseline"], target: "≤ 1.2" },
  ];
  console.table(phaseRows);
  console.table(breakdown);
  console.table(targets);
  const loadAtEnd = load();
  console.log(
    `pull image: ${big.layers} layers, ${round2(big.downloadBytes / MB)} MB compressed, ${round2(sizeBytes / MB)} MB unpacked; ${COLD_ROUNDS} cold-start rounds, ${PULL_ROUNDS} pull rounds; load average ${loadAtStart.join(" ")} at start, ${loadAtEnd.join(" ")} at end`,
  );
  await report("image", [...coldRows, ...pullRows], {
    targets,
    phases: phaseRows,
    instrumented: breakdown,
    image: { layers: big.layers, downloadBytes: big.downloadBytes, unpackedBytes: sizeBytes },
    coldRounds: COLD_ROUNDS,
    pullRounds: PULL_ROUNDS,
    load: { start: loadAtStart, end: loadAtEnd },
    samples: { cold, pull },
    note: "cold start = client-side latency of the first call of a just-created function (a new instance; image already in the invoker's cache, or zip code already unpacked), interleaved image/zip; pull = ImageCache.acquire on an empty cache dir in this process vs skopeo copy docker:// → oci: + umoci unpack, interleaved, rm + sync between them; 'first call, image not on the node' uses a config-only variant (same layer blobs, new digest) each round",
  });
} finally {
  await cluster.stop();
}

#!/usr/bin/env node
// The entry point of `npm start`, `npm test` and `npm run bench`. It uses nothing but Node, so it
// runs on a fresh clone: it installs what is missing (npm dependencies; the Debian packages
// nats-server, redis-server, bubblewrap, slirp4netns, zip, skopeo, umoci, python3, python3-msgpack and python3-pip — and for tests docker-registry, openssl, python3-flask, faketime, chromium and systemd — when
// it is allowed to), builds, then hands over.
import { spawnSync, spawn } from "node:child_process";
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const [command = "start", ...rest] = process.argv.slice(2);

const say = (msg) => process.stderr.write(`nimbus: ${msg}\n`);
const die = (msg) => {
  say(msg);
  process.exit(1);
};

function checkNode() {
  const [major, minor] = process.versions.node.split(".").map(Number);
  if (major < 20 || (major === 20 && minor < 11)) die(`Node.js >= 20.11 is required (this is ${process.version})`);
}

function findBinary(name) {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin", "/sbin"];
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // keep looking
    }
  }
  return undefined;
}

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { stdio: "inherit", cwd: ROOT, ...options });
  return result.status === 0;
}

/** Installs missing Debian packages when we are root or have passwordless sudo. */
/** Whether a wanted package is there: its binary on the PATH, or its own check. */
const present = (m) => (m.present ? m.present() : findBinary(m.binary) !== undefined);

function ensurePackages(wanted) {
  const missing = wanted.filter((m) => !present(m));
  if (missing.length === 0) return;
  const pkgs = missing.map((m) => m.pkg);
  const canApt = findBinary("apt-get") !== undefined;
  const isRoot = process.getuid?.() === 0;
  const sudo = !isRoot && findBinary("sudo") && spawnSync("sudo", ["-n", "true"]).status === 0;
  if (canApt && (isRoot || sudo) && process.env.NIMBUS_NO_INSTALL !== "1") {
    say(`installing ${pkgs.join(", ")} with apt-get`);
    const apt = (...args) =>
      isRoot
        ? run("apt-get", args, { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } })
        : run("sudo", ["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", ...args]);
    if (!apt("install", "-y", "--no-install-recommends", ...pkgs)) {
      apt("update");
      apt("install", "-y", "--no-install-recommends", ...pkgs);
    }
  }
  const still = missing.filter((m) => !present(m));
  const required = still.filter((m) => m.required);
  for (const m of still.filter((m) => !m.required)) say(`warning: ${m.binary} is missing (${m.why}); install it with: sudo apt-get install -y ${m.pkg}`);
  if (required.length > 0) {
    die(
      `missing ${required.map((m) => m.binary).join(", ")}; install with:\n\n    sudo apt-get install -y ${required
        .map((m) => m.pkg)
        .join(" ")}\n`,
    );
  }
}

/**
 * Installs dependencies when node_modules is missing or older than the lockfile. `npm install
 * --no-save` follows the lockfile without rewriting it; unlike `npm ci` it tolerates registries that
 * lack other platforms' optional packages (which npm then leaves out of the lockfile).
 */
function ensureNodeModules() {
  const marker = join(ROOT, "node_modules", ".package-lock.json");
  const lock = join(ROOT, "package-lock.json");
  const fresh = existsSync(marker) && (!existsSync(lock) || statSync(marker).mtimeMs >= statSync(lock).mtimeMs);
  if (fresh) return;
  say("installing npm dependencies");
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  if (!run(npm, ["install", "--no-save", "--no-audit", "--no-fund"])) {
    die("npm could not install the dependencies (see above)");
  }
}

/** Builds every package and service with turbo (cached: a no-op when nothing changed); NIMBUS_NO_BUILD=1 skips it. */
function build() {
  if (process.env.NIMBUS_NO_BUILD === "1") return;
  const turbo = join(ROOT, "node_modules", "turbo", "bin", "turbo");
  const env = { ...process.env, TURBO_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1" };
  if (!run(process.execPath, [turbo, "run", "build", "--output-logs=errors-only", "--log-prefix=none"], { env })) die("the build failed (see above)");
}

function servers() {
  return [
    { binary: "nats-server", pkg: "nats-server", required: !process.env.NIMBUS_NATS_URL || command.startsWith("test"), why: "the message bus" },
    { binary: "redis-server", pkg: "redis-server", required: !process.env.NIMBUS_REDIS_URL || command.startsWith("test"), why: "instance state and queues" },
  ];
}

const SANDBOX = { binary: "bwrap", pkg: "bubblewrap", why: "function instances run unsandboxed without it" };
const ZIP = { binary: "zip", pkg: "zip", why: "packaging code from the CLI" };
const NETWORK = { binary: "slirp4netns", pkg: "slirp4netns", why: "instances of services with internetAccess get loopback only without it" };
const IMAGES = [
  { binary: "skopeo", pkg: "skopeo", why: "custom-container functions cannot be resolved or pulled from a registry without it" },
  { binary: "umoci", pkg: "umoci", why: "custom-container images cannot be unpacked without it" },
];
const PYTHON = [
  { binary: "python3", pkg: "python3", why: "Python functions cannot run without it" },
  {
    binary: "python3-msgpack",
    pkg: "python3-msgpack",
    why: "the Python runtime speaks msgpack with the invoker",
    present: () => spawnSync("/usr/bin/python3", ["-c", "import msgpack"], { stdio: "ignore" }).status === 0,
  },
];
const PIP = {
  binary: "python3-pip",
  pkg: "python3-pip",
  why: "nimbus deploy installs a Python function's requirements.txt with pip",
  present: () => spawnSync("/usr/bin/python3", ["-m", "pip", "--version"], { stdio: "ignore" }).status === 0,
};
const FLASK = {
  binary: "python3-flask",
  pkg: "python3-flask",
  why: "the Python runtime's tests serve a Flask application",
  present: () => spawnSync("/usr/bin/python3", ["-c", "import flask"], { stdio: "ignore" }).status === 0,
};
const REGISTRY = { binary: "docker-registry", pkg: "docker-registry", why: "the image registry tests push to and pull from" };
const OPENSSL = { binary: "openssl", pkg: "openssl", why: "the test registry's token server makes its signing certificate with it" };
const FAKETIME = { binary: "faketime", pkg: "faketime", why: "the async tests run services whose clocks are off (libfaketime)" };
const SYSTEMD = { binary: "systemd-analyze", pkg: "systemd", why: "the infra tests verify the systemd units with it" };
const CHROMIUM = { binary: "chromium", pkg: "chromium", why: "the console's tests run in a real browser (driven by playwright-core)" };

/** `npm start -- --help` and `npm run invoker -- --help` answer at once when the CLI is built. */
const CLI = join(ROOT, "packages", "cli", "dist", "main.js");
const helpOnly = rest.some((arg) => arg === "--help" || arg === "-h") && existsSync(CLI);

checkNode();
switch (helpOnly && (command === "start" || command === "invoker") ? "help" : command) {
  case "help": {
    const { main } = await import(pathToFileURL(CLI).href);
    await main([command === "start" ? "up" : command, ...rest]);
    break;
  }
  case "start": {
    ensurePackages([
      ...servers(),
      { ...SANDBOX, required: false },
      { ...NETWORK, required: false },
      { ...ZIP, required: false },
      ...IMAGES.map((m) => ({ ...m, required: false })),
      ...PYTHON.map((m) => ({ ...m, required: false })),
      { ...PIP, required: false },
    ]);
    ensureNodeModules();
    build();
    const { main } = await import(pathToFileURL(join(ROOT, "packages", "cli", "dist", "main.js")).href);
    await main(["up", ...rest]);
    break;
  }
  case "invoker": {
    ensurePackages([{ ...SANDBOX, required: false }, { ...NETWORK, required: false }, ...IMAGES.map((m) => ({ ...m, required: false })), ...PYTHON.map((m) => ({ ...m, required: false }))]);
    ensureNodeModules();
    build();
    const { main } = await import(pathToFileURL(join(ROOT, "packages", "cli", "dist", "main.js")).href);
    await main(["invoker", ...rest]);
    break;
  }
  case "test":
  case "test:cluster": {
    ensurePackages([
      ...servers(),
      { ...SANDBOX, required: true },
      { ...NETWORK, required: true },
      { ...ZIP, required: true },
      ...IMAGES.map((m) => ({ ...m, required: true })),
      ...PYTHON.map((m) => ({ ...m, required: true })),
      { ...PIP, required: true },
      { ...REGISTRY, required: true },
      { ...FLASK, required: true },
      { ...OPENSSL, required: true },
      { ...FAKETIME, required: true },
      { ...CHROMIUM, required: true },
      { ...SYSTEMD, required: true },
    ]);
    ensureNodeModules();
    build();
    const vitest = join(ROOT, "node_modules", "vitest", "vitest.mjs");
    // `npm test`: the suites, then the console's browser suite on its own (`npm test -- <files>`
    // runs what it names); `npm run test:cluster`: the multi-node suites, then main suites again on
    // a Redis Cluster.
    const config = (name) => ["--config", join(ROOT, name)];
    const runs =
      command === "test:cluster"
        ? rest.length
          ? [[...config("vitest.cluster.config.ts"), ...rest]]
          : [config("vitest.cluster.config.ts"), config("vitest.redis-cluster.config.ts")]
        : rest.some((a) => a.includes("test/console"))
          ? [[...config("vitest.console.config.ts"), ...rest]]
          : rest.length
            ? [rest]
            : [[], config("vitest.console.config.ts")];
    let child;
    for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child?.kill(signal));
    let failed = 0;
    for (const args of runs) {
      child = spawn(process.execPath, [vitest, "run", ...args], { stdio: "inherit", cwd: ROOT });
      const code = await new Promise((resolve) => child.on("exit", (c) => resolve(c)));
      if (code !== 0) failed = code || 1;
    }
    process.exit(failed);
    break;
  }
  case "bench": {
    ensurePackages([...servers(), { ...SANDBOX, required: true }, { ...NETWORK, required: false }, { binary: "wrk", pkg: "wrk", required: true, why: "the load generator" }]);
    ensureNodeModules();
    build();
    const child = spawn(process.execPath, [join(ROOT, "bench", "run.mjs"), ...rest], { stdio: "inherit", cwd: ROOT });
    child.on("exit", (code) => process.exit(code ?? 1));
    break;
  }
  case "cluster": {
    ensurePackages([...servers(), { ...SANDBOX, required: false }, { ...NETWORK, required: false }]);
    ensureNodeModules();
    build();
    const child = spawn(process.execPath, [join(ROOT, "scripts", "cluster.mjs"), ...rest], { stdio: "inherit", cwd: ROOT });
    for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
    child.on("exit", (code) => process.exit(code ?? 1));
    break;
  }
  default:
    die(`unknown command '${command}' (start, test, bench, invoker, cluster)`);
}

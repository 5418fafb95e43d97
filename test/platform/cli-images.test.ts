// `nimbus deploy --image`, `nimbus images`, and the README's "Functions from container images"
// walkthrough run as written — against a cluster with a real registry (Debian's docker-registry),
// with images built by umoci and pushed by skopeo, no Docker engine.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, TestImages, type PushedImage } from "@nimbus/testkit";
import type { RegistryServer } from "@nimbus/embedded";
import { useCluster } from "../helpers/cluster.js";
import { eventually } from "../helpers/functions.js";
import { cliEnv, runCli } from "./cli-run.js";
import { BIN, exited, ROOT } from "./launch.js";

const exec = promisify(execFile);
const ctx = useCluster({ services: ["gateway", "invoker", "async-queue", "log-collector"], registry: true, env: { NIMBUS_LOG_LEVEL: "warn" } });
let dir: string;
let images: TestImages;
let first: PushedImage;

function registry(): RegistryServer {
  const r = ctx.cluster.registry;
  if (!r) throw new Error("the cluster has no registry");
  return r;
}

function nimbus(args: string[]) {
  return runCli(args, cliEnv(ctx.cluster, join(dir, ".nimbus-none")));
}

/** `repository@sha256:…` as getFunction's resolvedImageUri names a pushed image. */
function pinned(image: PushedImage): string {
  return `${image.reference.replace(/:[^:/]+$/, "")}@${image.digest}`;
}

/** The test Python image answers with JSON saying which image and build (IMAGE_MARKER) served the call. */
async function invokeJson(target: string, event = ""): Promise<{ image: string; marker: string | null; path: string; body: string }> {
  const call = await nimbus(["invoke", target, "--event", event]);
  expect(call.code, call.stderr).toBe(0);
  return JSON.parse(call.stdout) as { image: string; marker: string | null; path: string; body: string };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nimbus-cli-images-"));
  await chmod(dir, 0o755);
  images = await TestImages.open(join(dir, "images"));
  await images.python();
  first = await images.push("python", { registry: registry(), repository: "cli/web", tag: "v1" });
  // A second build of the same server: its own config (IMAGE_MARKER), so its own digest.
  await exec("umoci", ["config", "--image", `${images.layout.dir}:python`, "--tag", "python-second", "--config.env", "IMAGE_MARKER=second-build"]);
}, 180_000);
afterAll(async () => {
  if (!process.env["NIMBUS_TEST_KEEP"]) await rm(dir, { recursive: true, force: true });
});

describe("nimbus deploy --image", () => {
  it("creates a custom-container function without uploading anything, prints the digest it runs, and invoke answers from the image's server", async () => {
    const empty = join(dir, "web");
    await mkdir(empty);
    const deployed = await nimbus(["deploy", empty, "--image", first.reference, "--service", "cliimg", "--function", "web", "--acceleration", "None"]);
    expect(deployed.code, deployed.stderr).toBe(0);
    expect(deployed.stderr).toContain(`created cliimg/web (image ${first.reference})`);
    expect(deployed.stderr).toContain(`resolved:     ${pinned(first)}\n`);
    expect(deployed.stderr).toMatch(/^acceleration: None, Preparing$/m);
    const fn = JSON.parse(deployed.stdout) as Record<string, unknown>;
    expect(fn).toMatchObject({ functionName: "web", runtime: "custom-container", caPort: 9000, codeSize: 0 });
    expect(fn["customContainerConfig"]).toMatchObject({ image: first.reference, command: "", args: "", accelerationType: "None", webServerMode: true, resolvedImageUri: pinned(first) });

    expect(await invokeJson("cliimg/web", "from the cli")).toMatchObject({ image: "python", marker: "python-image", path: "/invoke", body: "from the cli" });
  });

  it("moves LATEST to the tag's new digest when the same --image is deployed again after a new build was pushed", async () => {
    const second = await images.push("python-second", { registry: registry(), repository: "cli/web", tag: "v1" });
    expect(second.digest).not.toBe(first.digest);
    // The tag moved; the function still runs what it resolved to until it is deployed again.
    expect((await invokeJson("cliimg/web")).marker).toBe("python-image");
    const again = await nimbus(["deploy", join(dir, "web"), "--image", second.reference, "--service", "cliimg", "--function", "web", "--acceleration", "None"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("updated cliimg/web");
    expect(again.stderr).toContain(`resolved:     ${pinned(second)}\n`);
    expect((await invokeJson("cliimg/web")).marker).toBe("second-build");
  });

  it("deploys from a nimbus.yaml with image:, port, command as a YAML list, acceleration and the function's own environment", async () => {
    const app = join(dir, "yaml-app");
    await mkdir(app);
    await writeFile(
      join(app, "nimbus.yaml"),
      [
        "service: cliimg",
        "function: from-yaml",
        `image: ${first.reference}`,
        "port: 9001",
        "command: [/usr/bin/python3, -S, -u, /app/server.py]",
        "acceleration: Default",
        "timeout: 10",
        "environmentVariables:",
        "  PORT: '9001'            # the test server listens on PORT",
        "  IMAGE_MARKER: from-yaml # the function's environment over the image's",
        "",
      ].join("\n"),
    );
    const deployed = await nimbus(["deploy", app]);
    expect(deployed.code, deployed.stderr).toBe(0);
    expect(deployed.stderr).toContain("created cliimg/from-yaml");
    expect(deployed.stderr).toMatch(/^acceleration: Default, (Preparing|Ready)/m);
    const fn = JSON.parse(deployed.stdout) as { caPort: number; timeout: number; customContainerConfig: Record<string, unknown> };
    expect(fn.caPort).toBe(9001);
    expect(fn.timeout).toBe(10);
    expect(fn.customContainerConfig).toMatchObject({ command: JSON.stringify(["/usr/bin/python3", "-S", "-u", "/app/server.py"]), accelerationType: "Default" });
    // The tag names the second build by now (the test above pushed it).
    expect(await invokeJson("cliimg/from-yaml", "yaml")).toMatchObject({ image: "python", marker: "from-yaml", body: "yaml" });
  });

  it("refuses what cannot deploy with a message saying why and exit code 2, creating nothing", async () => {
    const empty = join(dir, "nothing");
    await mkdir(empty);
    const names = ["--service", "cliimg", "--function", "refused"];

    const noCode = await nimbus(["deploy", empty, ...names]);
    expect(noCode.code).toBe(2);
    expect(noCode.stderr).toContain(`nothing to deploy: ${empty} holds no code and no container image is named (--image <reference>, or 'image:' in ${join(empty, "nimbus.yaml")})`);

    const malformed = await nimbus(["deploy", empty, "--image", `${registry().host}/Team/App:v1`, ...names]);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/^nimbus: InvalidArgument: customContainerConfig\.image: .*Team\/App.*must be lowercase/m);
    const unparsable = await nimbus(["deploy", empty, "--image", "not a reference!", ...names]);
    expect(unparsable.code).toBe(2);
    expect(unparsable.stderr).toContain("InvalidArgument: customContainerConfig.image: must be an image reference");

    const notJson = await nimbus(["deploy", empty, "--image", first.reference, "--command", '["/usr/bin/python3",', ...names]);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toContain(`--command is not JSON: '["/usr/bin/python3",'`);
    const notStrings = await nimbus(["deploy", empty, "--image", first.reference, "--args", "[1, 2]", ...names]);
    expect(notStrings.code).toBe(2);
    expect(notStrings.stderr).toContain("--args must be an array of strings");
    const badAcceleration = await nimbus(["deploy", empty, "--image", first.reference, "--acceleration", "Eager", ...names]);
    expect(badAcceleration.code).toBe(2);
    expect(badAcceleration.stderr).toContain("--acceleration (or 'acceleration:') is Default or None");
    const portWithoutImage = await nimbus(["deploy", empty, "--port", "9001", ...names]);
    expect(portWithoutImage.code).toBe(2);
    expect(portWithoutImage.stderr).toContain("--port is for a container image, but no --image or 'image:' names one");

    const listed = await nimbus(["invoke", "cliimg/refused"]);
    expect(listed.stderr).toContain("FunctionNotFound");
  });

  it("says in its help how LATEST follows a moved tag", async () => {
    const help = await nimbus(["deploy", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/deploying\s+the same --image again re-resolves it, which is how LATEST follows a moved tag/);
  });
});

describe("nimbus images", () => {
  it("lists the images the invoker node has cached, as a table and as JSON", async () => {
    type Reply = { node: string; images: { digest: string; references: string[]; sizeBytes: number; lastUsed: string; inUse: number }[] };
    const replies = await eventually(async () => {
      const listed = await nimbus(["images", "--json"]);
      expect(listed.code, listed.stderr).toBe(0);
      const parsed = JSON.parse(listed.stdout) as Reply[];
      if (!parsed.some((r) => r.images.some((i) => i.digest === first.digest))) throw new Error(`no node lists ${first.digest}: ${listed.stdout}`);
      return parsed;
    }, "the invoker lists the image it ran");
    // The cluster's one invoker (testkit names nodes <service>-<n>).
    expect(replies.map((r) => r.node)).toEqual([expect.stringMatching(/^invoker-\d+$/)]);
    const node = replies[0]?.node ?? "";
    const image = replies[0]?.images.find((i) => i.digest === first.digest);
    expect(image).toMatchObject({ references: [pinned(first)], sizeBytes: expect.any(Number), inUse: expect.any(Number) });
    expect(image?.sizeBytes).toBeGreaterThan(0);
    expect(Number.isNaN(Date.parse(image?.lastUsed ?? ""))).toBe(false);

    const table = await nimbus(["images"]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^node\s+digest\s+size\s+last used\s+in use\s+references$/);
    const short = first.digest.slice(0, "sha256:".length + 12);
    const row = lines.find((l) => l.includes(` ${short} `));
    expect(row, table.stdout).toMatch(new RegExp(`^${node}\\s+${short}\\s+[\\d.]+ [KMG]B\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+\\d+\\s+${pinned(first).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`));
    expect((await nimbus(["images", "--no-trunc"])).stdout).toContain(` ${first.digest} `);
  });

  it("says when no invoker answers, and refuses a bad --wait", async () => {
    const none = await runCli(["images", "--wait", "200"], { ...cliEnv(ctx.cluster, join(dir, ".nimbus-none")), NIMBUS_PREFIX: "nobody-here" });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("no invoker node listens on nobody-here.images.list: is 'npm start' (or 'nimbus invoker') running, with this NIMBUS_PREFIX?");
    const bad = await nimbus(["images", "--wait", "soon"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--wait takes milliseconds");
  });
});

/** The fenced `sh` blocks of one README section, in order. */
function readmeBlocks(heading: string): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README.md has no section '${heading}'`);
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
}

describe("the README's container-image walkthrough", () => {
  let registryShell: ChildProcess | undefined;
  afterAll(async () => {
    if (registryShell?.pid && registryShell.exitCode === null) {
      process.kill(-registryShell.pid, "SIGTERM"); // the shell and the registry it runs
      await exited(registryShell);
    }
  });

  it("starts its registry, builds, pushes, deploys, calls and pins the image with the commands as written", async () => {
    const blocks = readmeBlocks("Functions from container images");
    const find = (what: string) => {
      const found = blocks.filter((b) => b.includes(what));
      if (found.length !== 1) throw new Error(`expected one block of the README's image walkthrough with '${what}', found ${found.length}`);
      return found[0] as string;
    };
    // The walkthrough's registry (127.0.0.1:5000) and API (127.0.0.1:8080) are on this test's ports.
    const port = await freePort();
    const here = (block: string) => block.replaceAll("127.0.0.1:5000", `127.0.0.1:${port}`).replaceAll("http://127.0.0.1:8080", ctx.cluster.endpoint());
    const walkDir = join(dir, "walkthrough");
    await mkdir(join(walkDir, "registry-home"), { recursive: true });
    await mkdir(join(walkDir, "image"));
    // `npx nimbus` is this checkout's built CLI, pointed at the test cluster.
    const env = { ...cliEnv(ctx.cluster, join(dir, ".nimbus-none")), NODE: process.execPath, NIMBUS_BIN: BIN };
    const prelude = 'npx() { [ "$1" = nimbus ] && shift; "$NODE" "$NIMBUS_BIN" "$@"; }\n';
    /** Runs a block in the image's directory; what it printed, stdout then stderr. */
    const sh = async (block: string) => {
      const r = await exec("sh", ["-ec", prelude + here(block)], { cwd: join(walkDir, "image"), env, encoding: "utf8", timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
      return { stdout: r.stdout, all: r.stdout + r.stderr };
    };

    registryShell = spawn("sh", ["-ec", here(find("docker-registry serve"))], { cwd: join(walkDir, "registry-home"), env, detached: true, stdio: "ignore" });
    await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`);
      if (res.status !== 200) throw new Error(`the README's registry answers ${res.status}`);
    }, "the README's registry answers");

    await sh(find("umoci init"));
    const called = (await sh(find("npx nimbus images"))).all;
    expect(called).toContain(`created containers/hello (image 127.0.0.1:${port}/demo/hello:v1)`);
    const digest = new RegExp(`resolved: +127\\.0\\.0\\.1:${port}/demo/hello@(sha256:[0-9a-f]{64})`).exec(called)?.[1];
    expect(digest, called).toBeDefined();
    expect(called).toContain('{"greeting": "hello", "to": "Nimbus", "path": "/invoke"}');
    expect(called).toContain('{"greeting": "hello", "to": "curl", "path": "/2016-08-15/proxy/containers/hello/orders?id=1"}');
    expect(called).toContain(digest?.slice(0, "sha256:".length + 12));

    expect((await sh(find("npx nimbus version publish containers"))).stdout).toBe("1\n");
    await sh(find("GREETING=bonjour"));
    const pinnedRun = (await sh(find("npx nimbus invoke containers.1/hello"))).all;
    const greetings = [...pinnedRun.matchAll(/\{"greeting": "(\w+)"/g)].map((m) => m[1]);
    expect(greetings, pinnedRun).toEqual(["hello", "bonjour", "hello"]);
    expect(pinnedRun).toMatch(/x-fc-invocation-service-version: 1\n/);

    // examples/image, deployed as the README says, from a copy naming this test's registry.
    const example = join(walkDir, "image", "examples", "image");
    await mkdir(example, { recursive: true });
    await writeFile(join(example, "nimbus.yaml"), here(await readFile(join(ROOT, "examples", "image", "nimbus.yaml"), "utf8")));
    const fromYaml = (await sh("npx nimbus deploy examples/image\nnpx nimbus invoke containers/hello-yaml --event yaml\n")).stdout;
    expect(fromYaml).toContain('{"greeting": "hi", "to": "yaml", "path": "/invoke"}');
  }, 300_000);
});

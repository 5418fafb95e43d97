import { execFile } from "node:child_process";
import { realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { hostTestPlatform, OciLayout, parentDirs, type LayerEntry, type PushedImage, type PushTarget, type TestPlatform } from "./images.js";

const exec = promisify(execFile);

/** The port the test servers listen on unless FC_SERVER_PORT or PORT says otherwise (FC's caPort default). */
export const TEST_IMAGE_PORT = 9000;

/**
 * A Node.js web server for the Node image: answers every method and path with JSON saying who
 * answered (image, method, path, FC request id, body, uid, an env marker).
 */
export const NODE_SERVER_JS = `
const http = require("node:http");
const port = Number(process.env.FC_SERVER_PORT || process.env.PORT || ${TEST_IMAGE_PORT});
http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = JSON.stringify({
      image: "node", method: req.method, path: req.url, requestId: req.headers["x-fc-request-id"] ?? null,
      body: Buffer.concat(chunks).toString(), uid: process.getuid(), marker: process.env.IMAGE_MARKER ?? null,
    });
    res.writeHead(200, { "content-type": "application/json" }).end(body);
  });
}).listen(port, "0.0.0.0", () => console.log("node image listening on " + port));
`;

/** The same for the Python image, on `http.server`. */
export const PYTHON_SERVER_PY = `
import http.server, json, os

class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        out = json.dumps({"image": "python", "method": self.command, "path": self.path,
                          "requestId": self.headers.get("x-fc-request-id"), "body": body,
                          "uid": os.getuid(), "marker": os.environ.get("IMAGE_MARKER")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    do_GET = do_POST = do_PUT = do_DELETE = answer

def serve():
    port = int(os.environ.get("FC_SERVER_PORT") or os.environ.get("PORT") or ${TEST_IMAGE_PORT})
    server = http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler)
    print("python image listening on", port, flush=True)
    server.serve_forever()

if __name__ == "__main__":
    serve()
`;

/** What the layered test image holds once its layers are applied (and what must be gone). */
export const LAYERED_EXPECTED = {
  present: { "/data/keep.txt": "kept from the lower layer\n", "/data/replaced/new.txt": "only file after the opaque marker\n", "/data/changed.txt": "upper\n" },
  absent: ["/data/gone.txt", "/data/gone-dir", "/data/replaced/old-1.txt", "/data/replaced/old-2.txt", "/data/replaced/sub"],
};

/** Ways a layer can try to write outside the image's root. */
export type HostileKind = "dotdot" | "absolute" | "symlink-out" | "symlink-relative-out" | "hardlink-out" | "device";

const HOSTILE: Record<HostileKind, LayerEntry[]> = {
  dotdot: [{ path: "../../../../../../tmp/nimbus-escaped-dotdot", content: "escaped\n" }],
  absolute: [{ path: "/tmp/nimbus-escaped-absolute", content: "escaped\n" }],
  "symlink-out": [
    { path: "escape", symlink: "/tmp" },
    { path: "escape/nimbus-escaped-symlink", content: "escaped\n" },
  ],
  "symlink-relative-out": [
    { path: "up", symlink: "../../../../../../../../tmp" },
    { path: "up/nimbus-escaped-relative", content: "escaped\n" },
  ],
  "hardlink-out": [{ path: "passwd-link", hardlink: "../../../../../../etc/passwd" }],
  // /dev/mem, world-readable: unpacked as root on the host it would be readable by anyone.
  device: [{ path: "mem", device: { kind: "character-device", major: 1, minor: 1 }, mode: 0o666 }],
};

/**
 * Test images built once per layout directory (a test's temp dir) and pushed wherever a test
 * wants them: a Node.js web server (this host's `node` and exactly the libraries `ldd` lists), a
 * Python `http.server` (Debian's python3, its libraries and the part of the standard library the
 * server imports), a multi-layer image with whiteouts and an opaque directory, multi-platform
 * indexes, small marker images, and hostile layers.
 */
export class TestImages {
  private readonly building = new Map<string, Promise<void>>();

  private constructor(readonly layout: OciLayout) {}

  /** Opens (or creates) the layout under `dir`; images already built there are reused. */
  static async open(dir: string): Promise<TestImages> {
    return new TestImages(await OciLayout.open(join(dir, "layout")));
  }

  /** Pushes a built image (by its layout tag) to a registry. */
  async push(tag: string, target: PushTarget): Promise<PushedImage> {
    return this.layout.push(tag, target);
  }

  /** A tiny image whose only file is `/etc/marker` holding `text` (default: its platform). */
  async marker(tag: string, text?: string, platform: TestPlatform = hostTestPlatform()): Promise<string> {
    return this.once(tag, async () => {
      await this.layout.create(tag, platform);
      await this.layout.addLayer(tag, [{ path: "etc", dir: true }, { path: "etc/marker", content: `${text ?? formatTestPlatform(platform)}\n` }]);
      await this.layout.configure(tag, { cmd: ["/bin/true"] });
    });
  }

  /**
   * The Node.js web server image (tens of MB: it is this host's node binary). A `variant` is the same
   * server with its own IMAGE_MARKER: an image of its own (another digest) that no cache has yet;
   * `extraLayers` go on top of the server's (data to make a pull heavy, say).
   */
  async node(variant?: string, extraLayers: LayerEntry[][] = []): Promise<string> {
    const tag = variant ? `node-${variant}` : "node";
    return this.once(tag, async () => {
      const node = await realpath(process.execPath);
      const files = [{ path: "/usr/local/bin/node", from: node, mode: 0o755 }, ...(await sharedLibraries(node))];
      await this.layout.create(tag);
      await this.layout.addLayer(tag, withParents([...files, { path: "/app/server.js", content: NODE_SERVER_JS }]));
      for (const layer of extraLayers) await this.layout.addLayer(tag, layer);
      await this.layout.configure(tag, {
        entrypoint: ["/usr/local/bin/node", "/app/server.js"],
        env: ["PATH=/usr/local/bin:/usr/bin:/bin", `IMAGE_MARKER=${variant ?? "node-image"}`],
        workingDir: "/app",
        exposedPorts: [`${TEST_IMAGE_PORT}/tcp`],
      });
    });
  }

  /** The Python `http.server` image. */
  async python(): Promise<string> {
    return this.once("python", async () => {
      const python = await realpath("/usr/bin/python3");
      const probeDir = join(this.layout.dir, "..");
      const server = join(probeDir, "server.py");
      await writeFile(server, PYTHON_SERVER_PY);
      const modules = await stdlibFiles(python, server);
      const binaries = [python, ...modules.filter((f) => f.endsWith(".so"))];
      const libraries = new Map<string, LayerEntry>();
      for (const binary of binaries) for (const lib of await sharedLibraries(binary)) libraries.set(lib.path, lib);
      await this.layout.create("python");
      await this.layout.addLayer(
        "python",
        withParents([
          { path: "/usr/bin/python3", from: python, mode: 0o755 },
          ...libraries.values(),
          ...modules.map((f) => ({ path: f, from: f })),
          { path: "/app/server.py", from: server },
        ]),
      );
      await this.layout.configure("python", {
        entrypoint: ["/usr/bin/python3", "-S", "-u", "/app/server.py"],
        env: ["PATH=/usr/bin:/bin", "IMAGE_MARKER=python-image", "PYTHONDONTWRITEBYTECODE=1"],
        workingDir: "/app",
        exposedPorts: [`${TEST_IMAGE_PORT}/tcp`],
      });
    });
  }

  /**
   * Three layers: files; then (umoci repack style, written as a tar) a whiteout of a file and of a
   * directory and a changed file; then an opaque directory replacing everything below it. See
   * LAYERED_EXPECTED.
   */
  async layered(): Promise<string> {
    return this.once("layered", async () => {
      await this.layout.create("layered");
      await this.layout.addLayer("layered", [
        { path: "data", dir: true },
        { path: "data/keep.txt", content: LAYERED_EXPECTED.present["/data/keep.txt"] },
        { path: "data/gone.txt", content: "deleted by the upper layer\n" },
        { path: "data/changed.txt", content: "lower\n" },
        { path: "data/gone-dir", dir: true },
        { path: "data/gone-dir/inner.txt", content: "deleted with its directory\n" },
        { path: "data/replaced", dir: true },
        { path: "data/replaced/old-1.txt", content: "hidden by the opaque marker\n" },
        { path: "data/replaced/old-2.txt", content: "hidden by the opaque marker\n" },
        { path: "data/replaced/sub", dir: true },
        { path: "data/replaced/sub/deep.txt", content: "hidden by the opaque marker\n" },
      ]);
      await this.layout.addLayer("layered", [
        { path: "data/.wh.gone.txt", content: "" },
        { path: "data/.wh.gone-dir", content: "" },
        { path: "data/changed.txt", content: "upper\n" },
      ]);
      await this.layout.addLayer("layered", [
        { path: "data/replaced", dir: true },
        { path: "data/replaced/.wh..wh..opq", content: "" },
        { path: "data/replaced/new.txt", content: LAYERED_EXPECTED.present["/data/replaced/new.txt"] },
      ]);
    });
  }

  /** An index of linux/amd64 and linux/arm64/v8 marker images; `/etc/marker` says which one was unpacked. */
  async multiArch(): Promise<string> {
    return this.once("multi-arch", async () => {
      const platforms: TestPlatform[] = [
        { os: "linux", architecture: "amd64" },
        { os: "linux", architecture: "arm64", variant: "v8" },
      ];
      const images = [];
      for (const platform of platforms) images.push({ tag: await this.marker(`marker-${platform.architecture}`, undefined, platform), platform });
      await this.layout.index("multi-arch", images);
    });
  }

  /** An index offering only platforms this host is not (for NoMatchingPlatform). */
  async foreignOnly(): Promise<{ tag: string; platforms: TestPlatform[] }> {
    const host = hostTestPlatform().architecture;
    const platforms = ["s390x", "ppc64le", "riscv64"]
      .filter((a) => a !== host)
      .slice(0, 2)
      .map((architecture) => ({ os: "linux", architecture }));
    const tag = await this.once("foreign-only", async () => {
      const images = [];
      for (const platform of platforms) images.push({ tag: await this.marker(`marker-${platform.architecture}`, undefined, platform), platform });
      await this.layout.index("foreign-only", images);
    });
    return { tag, platforms };
  }

  /** A marker image with one more layer that tries to write outside the root in the given way. */
  async hostile(kind: HostileKind): Promise<string> {
    const tag = `hostile-${kind}`;
    return this.once(tag, async () => {
      await this.layout.create(tag);
      await this.layout.addLayer(tag, [{ path: "etc", dir: true }, { path: "etc/marker", content: "hostile\n" }]);
      await this.layout.addLayer(tag, HOSTILE[kind]);
    });
  }

  /** Any image from explicit layers (each a list of entries) and an optional run config. */
  async custom(tag: string, layers: LayerEntry[][], config?: Parameters<OciLayout["configure"]>[1]): Promise<string> {
    return this.once(tag, async () => {
      await this.layout.create(tag);
      for (const layer of layers) await this.layout.addLayer(tag, layer);
      if (config) await this.layout.configure(tag, config);
    });
  }

  /** Builds `tag` once per layout: a second call (also in a later test run on the same dir) reuses it. */
  private async once(tag: string, build: () => Promise<void>): Promise<string> {
    let pending = this.building.get(tag);
    if (!pending) {
      pending = this.layout.has(tag).then((has) => (has ? undefined : build()));
      this.building.set(tag, pending);
      pending.catch(() => this.building.delete(tag));
    }
    await pending;
    return tag;
  }
}

/** `linux/arm64/v8` */
export function formatTestPlatform(p: TestPlatform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

/** The shared libraries `ldd` lists for a binary (and its program interpreter), at the paths it lists them. */
async function sharedLibraries(binary: string): Promise<LayerEntry[]> {
  const { stdout } = await exec("ldd", [binary]);
  const paths = new Set<string>();
  for (const line of stdout.split("\n")) {
    const match = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (match?.[1]) paths.add(match[1]);
  }
  return [...paths].map((path) => ({ path, from: path, mode: 0o755 }));
}

/** The standard-library files (and extension modules) Python loads to import `script` without running it. */
async function stdlibFiles(python: string, script: string): Promise<string[]> {
  const probe = [
    "import json, runpy, sys",
    `runpy.run_path(${JSON.stringify(script)}, run_name="probe")`,
    // What serving loads lazily: binding resolves the host name (socket.getfqdn needs the idna codec).
    "import socket, encodings.idna; socket.getfqdn('0.0.0.0')",
    "print(json.dumps(sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, '__file__', None)})))",
  ].join("\n");
  const { stdout } = await exec(python, ["-S", "-c", probe]);
  const files = JSON.parse(stdout) as string[];
  return files.filter((f) => f.startsWith("/usr/lib/python3"));
}

/** Entries with absolute paths made relative, preceded by the directories they need. */
function withParents(entries: LayerEntry[]): LayerEntry[] {
  const relative = entries.map((e) => ({ ...e, path: e.path.replace(/^\/+/, "") }));
  return [...parentDirs(relative.map((e) => e.path)), ...relative];
}

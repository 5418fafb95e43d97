import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { requireBinary, type RegistryServer } from "@nimbus/embedded";
import { pack, type Header, type Pack } from "tar-stream";

type EntryHeader = Partial<Header> & Pick<Header, "name">;

const exec = promisify(execFile);

/**
 * One entry of a layer. Give exactly one of `content` (a regular file), `from` (a host file copied,
 * symlinks followed), `symlink`, `hardlink` or `dir`. Paths are taken verbatim, so hostile ones
 * (`../x`, `/abs`) can be written on purpose; ordinary ones are relative to the image root.
 */
export interface LayerEntry {
  path: string;
  content?: string | Buffer;
  from?: string;
  symlink?: string;
  hardlink?: string;
  dir?: true;
  /** A device node (hostile: images may not carry them). */
  device?: { kind: "character-device" | "block-device"; major: number; minor: number };
  mode?: number;
}

/** An OCI platform for a test image's config and index entry. */
export interface TestPlatform {
  os: string;
  architecture: string;
  variant?: string;
}

/** What `umoci config` sets on a test image. */
export interface TestImageConfig {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  exposedPorts?: string[];
}

/** Where to push: a test registry (its credentials are used when it has auth) or a plain host. */
export interface PushTarget {
  registry: RegistryServer | { host: string; credentials?: string };
  /** `team/app` */
  repository: string;
  tag: string;
  /** Push as Docker schema 2 (`v2s2`) instead of OCI. */
  format?: "oci" | "v2s2";
  /** Recompress the layers on the way (zstd layers: `application/vnd.oci.image.layer.v1.tar+zstd`). */
  compression?: "gzip" | "zstd";
}

/** A pushed image: its reference and the digest of the manifest or index the registry stored. */
export interface PushedImage {
  reference: string;
  digest: string;
}

const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const REF_NAME = "org.opencontainers.image.ref.name";

/**
 * An OCI image layout on disk, built with umoci (no Docker engine): images are tags in it, layers
 * are tars written here (tar-stream) and added with `umoci raw add-layer`, configs set with
 * `umoci config`, multi-platform indexes written as blobs, and pushes done with `skopeo copy`.
 */
export class OciLayout {
  private constructor(readonly dir: string) {}

  /** Creates (or opens) the layout at `dir`. */
  static async open(dir: string): Promise<OciLayout> {
    const exists = await stat(join(dir, "index.json")).then(() => true, () => false);
    if (!exists) {
      await mkdir(dirname(dir), { recursive: true });
      await umoci("init", "--layout", dir);
    }
    return new OciLayout(dir);
  }

  /** True when the layout already holds `tag` (builds are cached per layout). */
  async has(tag: string): Promise<boolean> {
    return (await this.readIndex()).manifests.some((m) => m.annotations?.[REF_NAME] === tag);
  }

  /** A new empty image `tag` for `platform` (default: this host's), replacing any earlier one. */
  async create(tag: string, platform: TestPlatform = hostTestPlatform()): Promise<void> {
    await umoci("new", "--image", this.ref(tag));
    await umoci("config", "--no-history", "--image", this.ref(tag), "--os", platform.os, "--architecture", platform.architecture);
  }

  /** Appends one layer holding `entries` to image `tag`. */
  async addLayer(tag: string, entries: LayerEntry[]): Promise<void> {
    const tarFile = join(this.dir, `..`, `layer-${process.pid}-${Date.now()}.tar`);
    try {
      await writeLayerTar(tarFile, entries);
      await umoci("raw", "add-layer", "--no-history", "--image", this.ref(tag), tarFile);
    } finally {
      await rm(tarFile, { force: true });
    }
  }

  /** Sets the run configuration of image `tag`. */
  async configure(tag: string, config: TestImageConfig): Promise<void> {
    const args = ["config", "--no-history", "--image", this.ref(tag)];
    if (config.entrypoint) args.push("--clear=config.entrypoint", ...config.entrypoint.flatMap((a) => ["--config.entrypoint", a]));
    if (config.cmd) args.push("--clear=config.cmd", ...config.cmd.flatMap((a) => ["--config.cmd", a]));
    for (const env of config.env ?? []) args.push("--config.env", env);
    if (config.workingDir) args.push("--config.workingdir", config.workingDir);
    if (config.user) args.push("--config.user", config.user);
    for (const port of config.exposedPorts ?? []) args.push("--config.exposedports", port);
    await umoci(...args);
  }

  /** Writes an image index `tag` over existing image tags, one entry per platform. */
  async index(tag: string, images: { tag: string; platform: TestPlatform }[]): Promise<void> {
    const layout = await this.readIndex();
    const manifests = images.map(({ tag: imageTag, platform }) => {
      const entry = layout.manifests.find((m) => m.annotations?.[REF_NAME] === imageTag);
      if (!entry) throw new Error(`no image '${imageTag}' in ${this.dir}`);
      return { mediaType: entry.mediaType, digest: entry.digest, size: entry.size, platform };
    });
    const blob = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
    const hex = createHash("sha256").update(blob).digest("hex");
    await writeFile(join(this.dir, "blobs", "sha256", hex), blob);
    layout.manifests = layout.manifests.filter((m) => m.annotations?.[REF_NAME] !== tag);
    layout.manifests.push({ mediaType: OCI_INDEX, digest: `sha256:${hex}`, size: blob.length, annotations: { [REF_NAME]: tag } });
    await writeFile(join(this.dir, "index.json"), JSON.stringify(layout));
  }

  /** Pushes image or index `tag` with `skopeo copy` (plain HTTP, the registry's credentials). */
  async push(tag: string, target: PushTarget): Promise<PushedImage> {
    const reference = `${target.registry.host}/${target.repository}:${target.tag}`;
    const digestFile = join(this.dir, "..", `digest-${process.pid}-${Date.now()}`);
    const creds = target.registry.credentials;
    const entry = (await this.readIndex()).manifests.find((m) => m.annotations?.[REF_NAME] === tag);
    const all = entry?.mediaType === OCI_INDEX ? ["--all"] : [];
    try {
      await exec(
        requireBinary("skopeo"),
        [
          "copy",
          ...all,
          "--dest-tls-verify=false",
          ...(creds ? ["--dest-creds", creds] : []),
          ...(target.format === "v2s2" ? ["--format", "v2s2"] : []),
          ...(target.compression ? ["--dest-compress-format", target.compression] : []),
          "--digestfile",
          digestFile,
          `oci:${this.dir}:${tag}`,
          `docker://${reference}`,
        ],
        { timeout: 120_000 },
      );
      return { reference, digest: (await readFile(digestFile, "utf8")).trim() };
    } finally {
      await rm(digestFile, { force: true });
    }
  }

  private ref(tag: string): string {
    return `${this.dir}:${tag}`;
  }

  private async readIndex(): Promise<LayoutIndex> {
    const index = JSON.parse(await readFile(join(this.dir, "index.json"), "utf8")) as LayoutIndex;
    index.manifests ??= []; // umoci init writes `null`
    return index;
  }
}

interface LayoutIndex {
  schemaVersion: number;
  manifests: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[];
}

/** This host's platform as OCI names it (`linux/amd64`, `linux/arm64/v8`). */
export function hostTestPlatform(): TestPlatform {
  const architecture = ({ x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386" } as Record<string, string>)[process.arch] ?? process.arch;
  return { os: "linux", architecture, ...(architecture === "arm64" ? { variant: "v8" } : {}) };
}

/** Writes `entries` as an uncompressed tar (the format `umoci raw add-layer` takes). */
export async function writeLayerTar(file: string, entries: LayerEntry[]): Promise<void> {
  const tar = pack();
  const written = pipeline(tar, createWriteStream(file));
  for (const entry of entries) await addEntry(tar, entry);
  tar.finalize();
  await written;
}

async function addEntry(tar: Pack, entry: LayerEntry): Promise<void> {
  const base: EntryHeader = { name: entry.path, mtime: new Date(0), uid: 0, gid: 0 };
  if (entry.dir) return add(tar, { ...base, type: "directory", mode: entry.mode ?? 0o755 });
  if (entry.symlink !== undefined) return add(tar, { ...base, type: "symlink", linkname: entry.symlink, mode: 0o777 });
  if (entry.hardlink !== undefined) return add(tar, { ...base, type: "link", linkname: entry.hardlink, mode: entry.mode ?? 0o644 });
  if (entry.device) return add(tar, { ...base, type: entry.device.kind, devmajor: entry.device.major, devminor: entry.device.minor, mode: entry.mode ?? 0o666 });
  if (entry.content !== undefined) {
    const content = typeof entry.content === "string" ? Buffer.from(entry.content) : entry.content;
    return add(tar, { ...base, type: "file", mode: entry.mode ?? 0o644, size: content.length }, content);
  }
  if (entry.from !== undefined) {
    const info = await stat(entry.from);
    const sink = tar.entry({ ...base, type: "file", mode: entry.mode ?? info.mode & 0o7777, size: info.size });
    await pipeline(createReadStream(entry.from), sink);
    return;
  }
  throw new Error(`layer entry ${entry.path} says neither what it is nor where its content comes from`);
}

function add(tar: Pack, header: EntryHeader, content: Buffer = Buffer.alloc(0)): Promise<void> {
  return new Promise((resolve, reject) => tar.entry(header, content, (err) => (err ? reject(err) : resolve())));
}

/** The directory entries a set of absolute image paths needs (`/a/b/c` → `a`, `a/b`), in order. */
export function parentDirs(paths: string[]): LayerEntry[] {
  const dirs = new Set<string>();
  for (const path of paths) {
    let dir = posix.dirname(path.replace(/^\/+/, ""));
    const chain: string[] = [];
    while (dir !== "." && dir !== "/" && !dirs.has(dir)) {
      chain.unshift(dir);
      dir = posix.dirname(dir);
    }
    for (const d of chain) dirs.add(d);
  }
  return [...dirs].map((path) => ({ path, dir: true as const }));
}

async function umoci(...args: string[]): Promise<void> {
  await exec(requireBinary("umoci"), args, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
}

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { posix } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { extract, type Header } from "tar-stream";
import { ImageError } from "./errors.js";

/** One layer tar on disk (plain, or gzip as the registry served it) and the digest its uncompressed content must have (the config's diff_id). */
export interface LayerFile {
  path: string;
  diffId: string;
  compression?: "gzip" | "none";
}

/** Gunzip in big chunks: with zlib's 16 KB default, decompressing was half the scan. */
const GUNZIP_CHUNK_BYTES = 1024 * 1024;

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";
const MAX_SYMLINK_HOPS = 40;

/**
 * Symlinks the layers applied so far define, to decide whether a later entry writes through one
 * that leads out of the root. umoci itself clamps such writes into the root (it does not refuse
 * them), so this check is what turns a hostile layer into an error instead of a quietly altered
 * image.
 */
class LinkTable {
  private readonly links = new Map<string, string>();

  set(path: string, target: string): void {
    this.links.set(path, target);
  }

  /** An entry now occupies `path`: it is no longer a symlink; a whiteout also drops what was below. */
  replace(path: string, withBelow: boolean): void {
    this.links.delete(path);
    if (withBelow) this.dropBelow(path);
  }

  dropBelow(dir: string): void {
    const prefix = dir === "" ? "" : `${dir}/`;
    for (const key of [...this.links.keys()]) if (key.startsWith(prefix) && key !== dir) this.links.delete(key);
  }

  /**
   * Follows `dir` (where an entry is written) through the symlinks known so far, as a chroot
   * would. Returns where it really is, or the first symlink on the way that leaves the root: an
   * absolute target, or a relative one climbing above it. Relative symlinks inside are followed.
   */
  resolve(dir: string): { at: string } | { escape: string } {
    const pending = dir === "" ? [] : dir.split("/");
    let resolved: string[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const part = pending.shift()!;
      const candidate = [...resolved, part].join("/");
      const target = this.links.get(candidate);
      if (target === undefined) {
        resolved.push(part);
        continue;
      }
      if (++hops > MAX_SYMLINK_HOPS) return { escape: `'${candidate}' (too many levels of symlinks)` };
      if (target.startsWith("/")) return { escape: `symlink '${candidate}' → '${target}'` };
      const joined = posix.normalize(posix.join(resolved.join("/"), target));
      if (joined === ".." || joined.startsWith("../")) return { escape: `symlink '${candidate}' → '${target}'` };
      pending.unshift(...joined.split("/").filter((p) => p !== "" && p !== ".")); // the target may itself go through links
      resolved = [];
    }
    return { at: resolved.join("/") };
  }
}

/**
 * A tar entry name as a root-relative path (`./a//b/` → `a/b`, `/` → the root), or the reason it may
 * not be one. A leading `/` means the image's root, as Docker and containerd read it (and as umoci
 * unpacks it); what may not be is a `..` that would climb out of it.
 */
function entryPath(name: string): { path: string } | { refused: string } {
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) return { refused: "a '..' component" };
  return { path: parts.join("/") };
}

function refuse(layer: number, name: string, why: string): ImageError {
  return new ImageError("InvalidImage", `layer ${layer + 1} has an entry '${name}' with ${why}, which would write outside the image's root`);
}

/** Where an entry lands once its directory is resolved through earlier symlinks (or why it may not). */
function place(layer: number, header: Header, name: string, links: LinkTable, what: string): { dir: string; base: string } {
  const parsed = entryPath(name);
  if ("refused" in parsed) throw refuse(layer, header.name, `${what}${parsed.refused}`);
  const dir = posix.dirname(parsed.path) === "." ? "" : posix.dirname(parsed.path);
  const resolved = links.resolve(dir);
  if ("escape" in resolved) throw refuse(layer, header.name, `${what}a path through ${resolved.escape}`);
  return { dir: resolved.at, base: posix.basename(parsed.path) };
}

/** Applies one entry's header to the link table, or throws why it is refused. */
function checkEntry(layer: number, header: Header, links: LinkTable): void {
  if (header.type === "character-device" || header.type === "block-device") {
    // Unpacked as root, a device node would be a door into this host's devices for anyone who can
    // reach the cache; an instance gets its own /dev anyway.
    throw new ImageError("InvalidImage", `layer ${layer + 1} has a device node '${header.name}'; images may not carry device nodes (the sandbox provides /dev)`);
  }
  const { dir, base } = place(layer, header, header.name, links, "");
  if (base === "" || base === ".") return; // the root itself
  const path = dir === "" ? base : `${dir}/${base}`;
  if (base === OPAQUE) return links.dropBelow(dir);
  if (base.startsWith(WHITEOUT)) return links.replace(posix.join(dir, base.slice(WHITEOUT.length)), true);
  if (header.type === "link") place(layer, header, header.linkname ?? "", links, "a hard link to ");
  if (header.type === "symlink") links.set(path, header.linkname ?? "");
  else links.replace(path, false);
}

/** Reads one layer tar: checks every entry and the digest of the whole file. */
async function checkLayer(layer: number, file: LayerFile, links: LinkTable): Promise<number> {
  const hash = createHash("sha256");
  let entries = 0;
  let inEntry = false;
  const raw = createReadStream(file.path, { highWaterMark: GUNZIP_CHUNK_BYTES });
  const input = file.compression === "gzip" ? raw.pipe(createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES })) : raw;
  raw.on("error", (err) => input.destroy(err));
  input.on("data", (chunk: Buffer) => {
    hash.update(chunk);
  });
  const tar = extract();
  tar.on("entry", (header, stream, next) => {
    stream.on("error", () => undefined); // the archive's own error, which the pipeline below reports
    inEntry = true;
    try {
      checkEntry(layer, header, links);
    } catch (err) {
      stream.resume();
      next(err as Error);
      return;
    }
    entries++;
    stream.on("end", () => {
      inEntry = false;
      next();
    });
    stream.resume();
  });
  try {
    await pipeline(input, tar);
  } catch (err) {
    if (err instanceof ImageError) throw err;
    // umoci 0.4's `insert` writes tars that end right after the last entry's data (no padding, no
    // end-of-archive blocks); Go's tar reader, and so umoci and Docker, take them. So do we, but
    // only when the archive stops between entries.
    const truncatedBetweenEntries = !inEntry && /unexpected end of data/i.test((err as Error).message);
    if (!truncatedBetweenEntries) {
      throw new ImageError("InvalidImage", `layer ${layer + 1} is not a valid tar archive: ${(err as Error).message}`, { cause: err });
    }
  }
  const digest = `sha256:${hash.digest("hex")}`;
  if (digest !== file.diffId) {
    throw new ImageError("InvalidImage", `layer ${layer + 1}'s content has digest ${digest}, but the image config says ${file.diffId}`);
  }
  return entries;
}

/**
 * Checks the uncompressed layers of an image, in order, before anything is unpacked: each one's
 * sha256 must be its diff_id from the (digest-checked) config, and no entry may have an absolute
 * name, a `..` component, a path through a symlink that leaves the root (defined in this layer or
 * a lower one, unless a whiteout removed it), or a hard link doing the same. Throws InvalidImage.
 */
export async function checkLayers(files: readonly LayerFile[]): Promise<{ entries: number }> {
  const links = new LinkTable();
  let entries = 0;
  for (const [i, file] of files.entries()) entries += await checkLayer(i, file, links);
  return { entries };
}

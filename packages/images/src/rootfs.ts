import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { chmod, lstat, mkdir, readdir, readlink, unlink, writeFile } from "node:fs/promises";
import { join, posix } from "node:path";
import { ImageError } from "./errors.js";

/** Directories a bubblewrap sandbox mounts over in an image's root (proc, devices, tmpfs, Nimbus's runtime). */
export const MOUNT_DIRS = ["proc", "dev", "tmp", "var/fc/runtime", "var/fc/host"] as const;
/** Files the sandbox binds over (name resolution, and accounts when it maps the image's user). */
export const MOUNT_FILES = ["etc/hosts", "etc/resolv.conf", "etc/passwd", "etc/group"] as const;

const MAX_SYMLINK_HOPS = 40;

/**
 * `rel` inside `rootfs` with every symlink on the way resolved as if `rootfs` were `/` (absolute
 * targets start at the root, `..` stops there), so the result never leaves it. The last component
 * is not followed.
 */
async function resolveInRoot(rootfs: string, rel: string): Promise<string> {
  const pending = rel.split("/").filter((p) => p !== "");
  const last = pending.pop() ?? "";
  let resolved: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    const candidate = [...resolved, part];
    const info = await lstat(join(rootfs, ...candidate)).catch(() => undefined);
    if (!info?.isSymbolicLink()) {
      resolved = candidate;
      continue;
    }
    if (++hops > MAX_SYMLINK_HOPS) throw new ImageError("InvalidImage", `/${candidate.join("/")}: too many levels of symlinks`);
    const target = await readlink(join(rootfs, ...candidate));
    const joined = posix.normalize(posix.join("/", target.startsWith("/") ? "" : resolved.join("/"), target));
    pending.unshift(...joined.split("/").filter((p) => p !== ""));
    resolved = [];
  }
  return join(rootfs, ...resolved, last);
}

/** Creates every missing directory of `path` below `rootfs` (which is already resolved), refusing non-directories. */
async function ensureDir(rootfs: string, path: string): Promise<void> {
  const rel = path.slice(rootfs.length + 1);
  let current = rootfs;
  for (const part of rel.split("/").filter((p) => p !== "")) {
    current = join(current, part);
    const info = await lstat(current).catch(() => undefined);
    if (!info) await mkdir(current, { mode: 0o755 });
    else if (!info.isDirectory()) throw new ImageError("InvalidImage", `${current.slice(rootfs.length)} is in the way of a sandbox mount point: it is not a directory`);
  }
}

/**
 * Creates a mount point (a directory or an empty file) unless the image has one. A symlink where
 * the mount point goes is replaced (the sandbox mounts over it anyway, and a link would send the
 * mount elsewhere); symlinks on the way are followed inside the root only.
 */
async function ensureMountPoint(rootfs: string, rel: string, kind: "dir" | "file"): Promise<void> {
  const target = await resolveInRoot(rootfs, rel);
  const parent = posix.dirname(target);
  if (parent !== rootfs) await ensureDir(rootfs, parent);
  let info = await lstat(target).catch(() => undefined);
  if (info?.isSymbolicLink()) {
    await unlink(target);
    info = undefined;
  }
  if (!info) {
    if (kind === "dir") await mkdir(target, { mode: 0o755 });
    else await writeFile(target, "", { mode: 0o644, flag: "wx" });
    return;
  }
  if (kind === "dir" ? !info.isDirectory() : !info.isFile()) {
    throw new ImageError("InvalidImage", `/${rel} in the image is not a ${kind === "dir" ? "directory" : "regular file"}; the sandbox needs to mount one there`);
  }
}

/**
 * Readies an unpacked root for the sandbox: the mount points bubblewrap binds over exist (created
 * when missing, never through a symlink out of the root), and the root directory itself can be
 * entered by the unprivileged uid instances run as (what is inside keeps the image's modes).
 */
export async function prepareRootfs(rootfs: string): Promise<void> {
  for (const dir of MOUNT_DIRS) await ensureMountPoint(rootfs, dir, "dir");
  for (const file of MOUNT_FILES) await ensureMountPoint(rootfs, file, "file");
  await dropPrivilegeBits(rootfs);
  const mode = (await lstat(rootfs)).mode & 0o7777;
  await chmod(rootfs, mode | 0o555);
}

/**
 * Clears setuid and setgid bits everywhere in an unpacked root. Inside the sandbox they mean
 * nothing (a user namespace where root is not mapped, nosuid mounts), but on this host a setuid-root
 * program of an image, unpacked as root, would hand root to any local user who can reach the cache.
 */
async function dropPrivilegeBits(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await dropPrivilegeBits(path);
    if (!entry.isFile() && !entry.isDirectory()) continue;
    const mode = (await lstat(path)).mode & 0o7777;
    if (mode & 0o6000) await chmod(path, mode & ~0o6000);
  }
}

/**
 * Bytes a directory tree takes on disk (allocated blocks; hard links counted once): coreutils' `du`
 * (an order of magnitude faster on a large image), else a walk of our own.
 */
export async function diskUsage(dir: string): Promise<number> {
  try {
    const { stdout } = await promisify(execFile)("du", ["-s", "-B1", dir], { timeout: 60_000 });
    const bytes = Number.parseInt(stdout, 10);
    if (Number.isFinite(bytes)) return bytes;
  } catch {
    // no du, or it failed: count ourselves
  }
  return walkUsage(dir);
}

async function walkUsage(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (path: string): Promise<void> => {
    const info = await lstat(path, { bigint: true });
    const key = `${info.dev}:${info.ino}`;
    if (!seen.has(key)) {
      seen.add(key);
      total += Number(info.blocks) * 512;
    }
    if (info.isDirectory()) for (const name of await readdir(path)) await walk(join(path, name));
  };
  await walk(dir);
  return total;
}

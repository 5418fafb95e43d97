import { execFile } from "node:child_process";
import { realpathSync } from "node:fs";
import { basename } from "node:path";
import { promisify } from "node:util";

/** Where the host's Node and the libraries it needs appear inside an image's sandbox. */
export const HOST_NODE_DIR = "/var/fc/host";

/**
 * The host's Node, as an image sandbox runs it: the binary and the shared libraries it links
 * against, bound under HOST_NODE_DIR, and started through the host's own dynamic loader with an
 * explicit library path. The image's libc (musl, an older glibc, none at all) never meets it, and
 * nothing of the host's leaks into what the image runs (the loader's path is an argument, not
 * LD_LIBRARY_PATH).
 */
export interface HostNode {
  /** Host path of the Node binary. */
  binary: string;
  /** The dynamic loader (host path); undefined for a statically linked Node. */
  loader: string | undefined;
  /** Shared libraries Node needs: their file names and host paths. */
  libraries: { name: string; path: string }[];
}

/** How Node is started inside an image sandbox (the argv before the script). */
export function hostNodeArgv(node: HostNode): string[] {
  const inside = `${HOST_NODE_DIR}/node`;
  if (!node.loader) return [inside];
  return [`${HOST_NODE_DIR}/lib/${basename(node.loader)}`, "--library-path", `${HOST_NODE_DIR}/lib`, inside];
}

/** bwrap arguments binding the host's Node into an image sandbox (HOST_NODE_DIR must exist in the image's root). */
export function hostNodeMounts(node: HostNode): string[] {
  const args = ["--tmpfs", HOST_NODE_DIR, "--ro-bind", node.binary, `${HOST_NODE_DIR}/node`];
  const files = node.loader ? [...node.libraries, { name: basename(node.loader), path: node.loader }] : node.libraries;
  for (const { name, path } of files) args.push("--ro-bind", path, `${HOST_NODE_DIR}/lib/${name}`);
  args.push("--remount-ro", HOST_NODE_DIR);
  return args;
}

/**
 * Reads what the host's Node links against from `ldd` (glibc's, on every glibc host). Lines are
 * `libname => /path (addr)`, `/lib64/ld-linux-x86-64.so.2 (addr)` for the loader, and
 * `linux-vdso.so.1 (addr)` for what the kernel provides; "not a dynamic executable" means static.
 */
export function parseLdd(output: string): { loader: string | undefined; libraries: { name: string; path: string }[] } {
  let loader: string | undefined;
  const libraries: { name: string; path: string }[] = [];
  for (const raw of output.split("\n")) {
    const line = raw.trim();
    const linked = /^(\S+) => (\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (linked) {
      libraries.push({ name: linked[1] as string, path: linked[2] as string });
      continue;
    }
    const direct = /^(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (direct) loader = direct[1];
    if (/=> not found/.test(line)) throw new Error(`the host's Node needs a library that is missing: ${line}`);
  }
  return { loader, libraries };
}

/** Finds the host's Node and what it needs, or says why image functions cannot run here. */
export async function detectHostNode(execPath = process.execPath): Promise<HostNode | { unavailable: string }> {
  const binary = realpathSync(execPath);
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)("ldd", [binary], { timeout: 10_000 }));
  } catch (err) {
    const text = `${(err as { stdout?: string }).stdout ?? ""}${(err as { stderr?: string }).stderr ?? ""}`;
    if (/not a dynamic executable|statically linked/.test(text)) return { binary, loader: undefined, libraries: [] };
    return { unavailable: `cannot tell which libraries Node needs (ldd: ${(err as Error).message.split("\n")[0]})` };
  }
  try {
    const { loader, libraries } = parseLdd(stdout);
    return { binary, loader: loader ? realpathSync(loader) : undefined, libraries: libraries.map((l) => ({ name: l.name, path: realpathSync(l.path) })) };
  } catch (err) {
    return { unavailable: (err as Error).message };
  }
}

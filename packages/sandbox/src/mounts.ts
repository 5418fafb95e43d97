import { existsSync, lstatSync, realpathSync } from "node:fs";
import { dirname } from "node:path";

/**
 * The parts of /usr an instance sees: programs and their libraries (Node, Python 3, shells,
 * coreutils, whatever else a custom runtime's bootstrap starts from /usr/bin). /usr/sbin,
 * /usr/include, /usr/src, /usr/games, /usr/local and the rest of /usr/share are not there.
 */
export const USR_DIRS = ["/usr/bin", "/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/libx32", "/usr/libexec"];

/**
 * What runtimes read from /usr/share, found by tracing Node, Python 3 and shell tools: time zones
 * (glibc, Python's zoneinfo, `date`), the certificates /etc/ssl/certs links to, glibc's locale
 * aliases and message catalogs, `file`'s magic, terminal descriptions, and Perl's modules (Debian
 * keeps them here, and /usr/bin/perl is half a Perl without them).
 */
export const USR_SHARE_DIRS = ["zoneinfo", "ca-certificates", "locale", "misc", "terminfo", "perl", "perl5"].map((dir) => `/usr/share/${dir}`);

/** Top-level directories that are (on merged-/usr hosts) links into /usr, or real directories elsewhere. */
const ROOT_DIRS = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/** Single files of /etc a runtime reads (TLS roots, time zone, name service switch, MIME types). */
const ETC_FILES = ["/etc/ssl", "/etc/ca-certificates", "/etc/localtime", "/etc/nsswitch.conf", "/etc/mime.types", "/etc/alternatives"];

/** The /usr and top-level paths that exist on this host and are bound into every instance. */
export function visibleSystemDirs(): string[] {
  return [...USR_DIRS, ...USR_SHARE_DIRS].filter((dir) => existsSync(dir));
}

/**
 * The host's system directories, read-only: the visible parts of /usr, the top-level directories
 * that lead into them (merged-/usr links stay links, as the host has them; /sbin, which leads to
 * the hidden /usr/sbin, is left out), and a few files of /etc.
 */
export function systemMounts(visible: readonly string[] = visibleSystemDirs()): string[] {
  const args: string[] = [];
  for (const dir of visible) args.push("--ro-bind", dir, dir);
  for (const dir of ROOT_DIRS) {
    if (!existsSync(dir)) continue;
    if (lstatSync(dir).isSymbolicLink()) {
      if (isUnder(realpathSync(dir), visible)) args.push("--symlink", realpathRelative(dir), dir);
    } else if (dir !== "/sbin") {
      args.push("--ro-bind", dir, dir);
    }
  }
  for (const file of ETC_FILES) args.push("--ro-bind-try", file, file);
  return args;
}

function realpathRelative(link: string): string {
  // /lib -> usr/lib on merged-/usr systems; keep the link relative as the host has it.
  const target = realpathSync(link);
  return target.startsWith("/") ? target.slice(1) : target;
}

/** `path` is `dir` or inside it, for one of `dirs`. */
export function isUnder(path: string, dirs: readonly string[]): boolean {
  return dirs.some((dir) => path === dir || path.startsWith(`${dir}/`));
}

/**
 * Node itself when the visible system directories do not hold it: from a hidden part of /usr
 * (/usr/local/bin/node, as Node's own images install it) only the binary, so the rest of /usr/local
 * stays hidden; from elsewhere (nvm, /opt/node…) its whole install prefix.
 */
export function nodeMount(visible: readonly string[], execPath = process.execPath, exec = realpathSync(execPath)): string[] {
  let bound: string;
  const args: string[] = [];
  if (isUnder(exec, ["/usr"])) {
    bound = exec;
    if (!isUnder(exec, visible)) args.push("--ro-bind", exec, exec);
  } else {
    bound = dirname(dirname(exec));
    args.push("--ro-bind", bound, bound);
  }
  // Started through a link (Node resolves its own path, so rarely): the link, not its directory.
  if (exec !== execPath && !isUnder(execPath, [...visible, bound])) args.push("--symlink", exec, execPath);
  return args;
}

/**
 * A program the operator installed outside the visible system directories (a Python built into
 * /opt/python3.12, a venv): its whole installation (`<prefix>/bin/<program>` → `<prefix>`), read-only,
 * where the host has it, and the installation of what it links to when that is elsewhere again.
 */
export function programMounts(visible: readonly string[], path: string, real = realpathSync(path)): string[] {
  const args: string[] = [];
  const bound: string[] = [];
  for (const file of [path, real]) {
    if (isUnder(file, [...visible, ...bound])) continue;
    const prefix = dirname(dirname(file));
    if (prefix === "/" || prefix === "/usr") {
      args.push("--ro-bind", file, file);
      bound.push(file);
    } else {
      args.push("--ro-bind", prefix, prefix);
      bound.push(prefix);
    }
  }
  return args;
}

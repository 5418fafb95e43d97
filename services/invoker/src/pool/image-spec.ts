import type { ImageRunConfig } from "@nimbus/images";

/** How an instance of a container image runs its command. */
export interface ImageRun {
  /** Entrypoint and Cmd, or FC's command and args in their place. */
  command: string[];
  cwd: string;
  env: Record<string, string>;
  uid: number;
  gid: number;
}

/** FC's customContainerConfig overrides of the image's Entrypoint and Cmd (undefined: the image's own). */
export interface ContainerOverrides {
  command?: readonly string[] | undefined;
  args?: readonly string[] | undefined;
}

/** What the image holds that resolving its user needs (its /etc/passwd and /etc/group, "" when absent). */
export interface ImageAccounts {
  passwd: string;
  group: string;
}

/** Docker's PATH for an image whose config sets none. */
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * The function's image cannot run, for a reason the function's configuration (or its registry's
 * content) must fix — not found, refused credentials, no build for this platform, too large, a
 * hostile layer, no command, an unknown user: the function fails to start, and says so in its log.
 */
export class ImageRejectedError extends Error {
  override readonly name: string = "ImageRejectedError";
}

/** A command the image's config and the function's overrides leave empty. */
export class NoCommandError extends ImageRejectedError {
  override readonly name = "NoCommandError";
}

/** The image's user is not one it knows. */
export class UnknownUserError extends ImageRejectedError {
  override readonly name = "UnknownUserError";
}

/**
 * How an image runs as a function: the command follows Kubernetes' rule for FC's overrides (a
 * `command` replaces the Entrypoint and drops the Cmd; `args` replace the Cmd), the environment is
 * the image's, then the function's variables, then FC's own, the working directory the image's
 * (else /), and the user the image's (Docker's: root when it says nothing) — resolved from the
 * image's own accounts, inside the sandbox's user namespace, where root holds no privilege.
 */
export function imageRun(config: ImageRunConfig, overrides: ContainerOverrides, env: { function: Record<string, string>; platform: Record<string, string> }, accounts: ImageAccounts): ImageRun {
  const { command, args } = overrides;
  const argv = command?.length ? [...command, ...(args ?? [])] : [...config.entrypoint, ...(args ?? config.cmd)];
  if (argv.length === 0) throw new NoCommandError("the image has no Entrypoint or Cmd, and the function sets no command");

  const { uid, gid, home } = resolveUser(config.user, accounts);
  const imageEnv: Record<string, string> = {};
  for (const entry of config.env) {
    const eq = entry.indexOf("=");
    if (eq > 0) imageEnv[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return {
    command: argv,
    cwd: config.workingDir || "/",
    env: { PATH: DEFAULT_PATH, HOME: home, ...imageEnv, ...env.function, ...env.platform },
    uid,
    gid,
  };
}

/** `user`, `uid`, `user:group`, `uid:gid` and mixes, as Docker reads an image's User. */
function resolveUser(user: string, accounts: ImageAccounts): { uid: number; gid: number; home: string } {
  const passwd = parseAccounts(accounts.passwd);
  const groups = parseAccounts(accounts.group);
  const [userPart = "", groupPart] = user.split(":", 2);
  let uid = 0;
  let gid = 0;
  let home = "/root";
  if (userPart !== "") {
    const entry = /^\d+$/.test(userPart) ? passwd.find((p) => p[2] === userPart) : passwd.find((p) => p[0] === userPart);
    if (entry) {
      uid = Number(entry[2]);
      gid = Number(entry[3]);
      home = entry[5] || "/";
    } else if (/^\d+$/.test(userPart)) {
      uid = Number(userPart);
      home = "/";
    } else {
      throw new UnknownUserError(`the image's user '${userPart}' is not in its /etc/passwd`);
    }
  } else {
    const root = passwd.find((p) => p[2] === "0");
    if (root?.[5]) home = root[5];
  }
  if (groupPart !== undefined && groupPart !== "") {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const entry = groups.find((g) => g[0] === groupPart);
      if (!entry) throw new UnknownUserError(`the image's group '${groupPart}' is not in its /etc/group`);
      gid = Number(entry[2]);
    }
  }
  if (!isId(uid) || !isId(gid)) throw new UnknownUserError(`the image's user '${user}' has an id out of range`);
  return { uid, gid, home };
}

function isId(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n < 2 ** 32 - 1;
}

function parseAccounts(text: string): string[][] {
  return text
    .split("\n")
    .filter((line) => line && !line.startsWith("#"))
    .map((line) => line.split(":"));
}

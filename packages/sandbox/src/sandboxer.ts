import { spawn } from "node:child_process";
import { accessSync, constants, lstatSync, realpathSync } from "node:fs";
import { mkdir, open, writeFile } from "node:fs/promises";
import { endianness } from "node:os";
import { delimiter, join } from "node:path";
import type { Readable } from "node:stream";
import { detectCgroups, type CgroupDriver } from "./cgroup.js";
import { SANDBOX_PATHS, type SandboxPaths } from "./layout.js";
import { detectHostNode, hostNodeArgv, hostNodeMounts, type HostNode } from "./host-node.js";
import { nodeMount, programMounts, systemMounts, visibleSystemDirs } from "./mounts.js";
import { startNetwork } from "./network.js";
import { seccompFilter } from "./seccomp.js";
import { SandboxedProcess } from "./sandboxed-process.js";

/** bwrap writes the sandbox's pid here (`--info-fd`), for an instance that gets a network. */
const INFO_FD = 4;
/** bwrap reads the seccomp program from here (`--seccomp`). */
const SECCOMP_FD = 5;

export interface SandboxerOptions {
  /** Host directory for generated files (passwd, group, hosts). */
  workDir: string;
  /** cgroup sub-path instance cgroups live under, e.g. `nimbus/<node>`. */
  cgroupGroup: string;
  /** The unprivileged uid/gid instances run as when the invoker is root. */
  uid: number;
  gid: number;
  /** Refuse to start without bubblewrap instead of falling back to plain processes. */
  requireBwrap?: boolean;
  /** Turn cgroup limits off even where they would work (tests of the fallback). */
  disableCgroups?: boolean;
  /** Size of each instance's private /tmp. */
  tmpBytes: number;
  /** Programs installed outside the system directories that instances run (configured interpreters): mounted with their installations. */
  programs?: string[];
}

/**
 * What an instance's filesystem is made of: the host's system directories with the function's code
 * at `paths.code` (and its layers at `paths.opt`), or a container image's root filesystem.
 */
export type SandboxRoot =
  | {
      kind: "code";
      /** Host directory with the unpacked code; read-only at `paths.code`. */
      codeDir: string;
      /** Host directories overlaid read-only at `paths.opt`, in order (layers). */
      optDirs?: string[];
    }
  | {
      kind: "image";
      /** The image's unpacked root filesystem (read-only `/`), with the sandbox's mount points in it. */
      rootfs: string;
      /** The user and group the image runs as, inside the sandbox's user namespace. */
      uid: number;
      gid: number;
    };

export interface SandboxSpec {
  /** Unique, filesystem-safe: names the instance's cgroup and hostname. */
  id: string;
  root: SandboxRoot;
  /** Host directory with the runtime; read-only at `paths.runtime`. */
  runtimeDir: string;
  /** Builds the command and environment from where things are inside the sandbox. */
  command: (paths: SandboxPaths) => string[];
  env: (paths: SandboxPaths) => Record<string, string>;
  memoryBytes: number;
  pidsMax: number;
  /** Node's own heap limit, used when there are no cgroups (MB). */
  heapLimitMb?: number;
  /**
   * Outbound network (FC's `internetAccess`): a user-mode stack (slirp4netns) that reaches what the
   * host reaches, except the host's own loopback. Without it, loopback only.
   */
  network?: boolean;
}

/**
 * Throws a clear error when a path is not reachable by "others" (the sandbox uid): every directory on
 * the way must be searchable, the target readable (and executable for `exec`).
 */
export function assertReachableByOthers(path: string, what: string, exec = false): void {
  const real = realpathSync(path);
  const parts = real.split("/").filter(Boolean);
  let dir = "/";
  for (const part of parts.slice(0, -1)) {
    dir = join(dir, part);
    if ((statMode(dir) & 0o001) === 0) {
      throw new Error(`${what} (${real}) is not reachable by the sandbox user: ${dir} is not searchable by others (chmod o+x, or move it)`);
    }
  }
  const mode = statMode(real);
  if ((mode & 0o004) === 0 || (exec && (mode & 0o001) === 0)) {
    throw new Error(`${what} (${real}) is not ${exec ? "executable" : "readable"} by the sandbox user`);
  }
}

function statMode(path: string): number {
  return lstatSync(path).mode;
}

function findBinary(name: string): string | undefined {
  const dirs = [...(process.env["PATH"] ?? "").split(delimiter), "/usr/bin", "/usr/sbin", "/bin", "/sbin"];
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

/**
 * Starts instances. Created once per invoker: it detects what the host allows (bubblewrap, cgroup
 * v1 or v2, dropping to an unprivileged uid) and says what it falls back to.
 */
export class Sandboxer {
  readonly warnings: string[] = [];
  /** What start-up did that is worth a log line (not a problem). */
  readonly notes: string[] = [];
  /** The parts of /usr (and /usr/share) instances see. */
  readonly visibleSystemDirs = visibleSystemDirs();
  /** The seccomp program, written once; each bwrap reads it from a descriptor of its own. */
  private seccomp: { file: string; arch: string; syscalls: number } | undefined;
  /** The host's Node as image sandboxes run it (or why they cannot). */
  private hostNode: HostNode | { unavailable: string } | undefined;

  private constructor(
    private readonly options: SandboxerOptions,
    readonly bwrap: string | undefined,
    readonly cgroups: CgroupDriver | undefined,
    private readonly setpriv: string | undefined,
    /** Gives instances with internet access their network (needs bwrap and root). */
    readonly slirp: string | undefined,
  ) {}

  static async create(options: SandboxerOptions): Promise<Sandboxer> {
    const bwrap = findBinary("bwrap");
    if (!bwrap && options.requireBwrap) throw new Error("bubblewrap (bwrap) is required but not installed: sudo apt-get install -y bubblewrap");
    const detected = options.disableCgroups ? { unavailable: "cgroups disabled by configuration" } : await detectCgroups(options.cgroupGroup);
    // Instance cgroups an earlier run of this node left behind (it was killed) go before any new one.
    const swept = "version" in detected ? await detected.sweep() : 0;
    const root = process.getuid?.() === 0;
    const setpriv = root ? findBinary("setpriv") : undefined;
    if (setpriv) assertReachableByOthers(process.execPath, "Node.js", true);
    const slirp = bwrap && root ? findBinary("slirp4netns") : undefined;
    const sandboxer = new Sandboxer(options, bwrap, "version" in detected ? detected : undefined, setpriv, slirp);
    if (!bwrap) {
      sandboxer.warnings.push(
        "bubblewrap (bwrap) is not installed: function instances run as PLAIN CHILD PROCESSES with a cleared environment, " +
          "sharing this machine's filesystem and network. Install it: sudo apt-get install -y bubblewrap",
      );
    }
    if (!("version" in detected)) {
      sandboxer.warnings.push(`no writable cgroups (${detected.unavailable}): memory is limited by Node's heap limit and an RSS watchdog, processes by RLIMIT_NPROC`);
    }
    if (swept > 0) sandboxer.notes.push(`removed ${swept} instance cgroups an earlier run of this node left behind`);
    if (!root) sandboxer.warnings.push("not running as root: instances run as this user (no separate unprivileged uid)");
    if (bwrap && !slirp) {
      sandboxer.warnings.push(
        root
          ? "slirp4netns is not installed: instances get loopback only, even with internetAccess. Install it: sudo apt-get install -y slirp4netns"
          : "not running as root: instances get loopback only, even with internetAccess (slirp4netns needs root here)",
      );
    }
    await mkdir(options.workDir, { recursive: true, mode: 0o755 });
    await writeFile(join(options.workDir, "passwd"), `root:x:0:0:root:/root:/bin/sh\nfc:x:${options.uid}:${options.gid}:fc:/tmp:/bin/sh\n`, { mode: 0o644 });
    await writeFile(join(options.workDir, "group"), `root:x:0:\nfc:x:${options.gid}:\n`, { mode: 0o644 });
    await writeFile(join(options.workDir, "hosts"), "127.0.0.1 localhost\n::1 localhost\n", { mode: 0o644 });
    // slirp4netns forwards DNS at 10.0.2.3 to the host's resolver.
    await writeFile(join(options.workDir, "resolv.conf"), "nameserver 10.0.2.3\n", { mode: 0o644 });
    // Instances run as another uid: the files they are given must be reachable by it.
    if (setpriv) assertReachableByOthers(join(options.workDir, "passwd"), "the invoker's work directory");
    if (bwrap) await sandboxer.writeSeccompFilter();
    if (bwrap) {
      sandboxer.hostNode = await detectHostNode();
      if ("unavailable" in sandboxer.hostNode) sandboxer.warnings.push(`custom-container functions cannot run on this node: ${sandboxer.hostNode.unavailable}`);
    }
    return sandboxer;
  }

  private async writeSeccompFilter(): Promise<void> {
    const filter = seccompFilter(process.arch, endianness());
    if ("unsupported" in filter) {
      this.warnings.push(`instances run without a seccomp filter: ${filter.unsupported}`);
      return;
    }
    const file = join(this.options.workDir, "seccomp.bpf");
    await writeFile(file, filter.program, { mode: 0o644 });
    this.seccomp = { file, arch: filter.arch, syscalls: filter.blocked.length };
  }

  /** One line for the startup log: what isolation instances get on this host. */
  describe(): string {
    const isolation = this.bwrap ? "bubblewrap (mount, pid, ipc, uts, net, user namespaces)" : "plain processes (NO isolation)";
    const limits = this.cgroups ? `cgroup ${this.cgroups.version} at ${this.cgroups.root}` : "V8 heap limit + RSS watchdog";
    const uid = this.setpriv ? `uid ${this.options.uid}` : `uid ${process.getuid?.() ?? "?"}`;
    const network = !this.bwrap ? "the host's" : this.slirp ? "slirp4netns with internetAccess (no host loopback), else loopback only" : "loopback only";
    if (!this.bwrap) return `${isolation}; limits: ${limits}; ${uid}; network: ${network}`;
    const seccomp = this.seccomp
      ? `seccomp (${this.seccomp.arch}): ${this.seccomp.syscalls} syscalls refused (io_uring, ptrace, keyrings, bpf, userfaultfd, perf, mounts, namespaces, modules…)`
      : "no seccomp filter";
    const usr = this.visibleSystemDirs.map((dir) => dir.slice("/usr/".length)).join(", ");
    return `${isolation}; ${seccomp}; /usr: only ${usr}; limits: ${limits}; ${uid}; network: ${network}`;
  }

  get paths(): SandboxPaths {
    return this.bwrap ? SANDBOX_PATHS : { code: "", runtime: "", opt: "/opt", tmp: "/tmp", node: [process.execPath] };
  }

  /** Where things are inside an instance with this root. */
  private pathsFor(root: SandboxRoot, runtimeDir: string): SandboxPaths {
    if (root.kind === "image") return { ...SANDBOX_PATHS, code: "/", node: hostNodeArgv(this.hostNode as HostNode) };
    if (this.bwrap) return SANDBOX_PATHS;
    return { code: root.codeDir, runtime: runtimeDir, opt: root.optDirs?.[0] ?? "/opt", tmp: "/tmp", node: [process.execPath] };
  }

  /** Why container images cannot run on this host, if they cannot. */
  get imagesUnavailable(): string | undefined {
    if (!this.bwrap) return "bubblewrap (bwrap) is not installed";
    if (!this.hostNode) return "the sandbox has not looked for Node yet";
    return "unavailable" in this.hostNode ? this.hostNode.unavailable : undefined;
  }

  /** Starts an instance and resolves once it is spawned (not once it is ready). */
  async spawn(spec: SandboxSpec): Promise<SandboxedProcess> {
    // Opened per instance: a shared descriptor would share its offset, and bwrap reads to the end.
    const seccomp = this.bwrap && this.seccomp ? await open(this.seccomp.file, "r") : undefined;
    try {
      return await this.start(spec, seccomp?.fd);
    } finally {
      await seccomp?.close();
    }
  }

  private async start(spec: SandboxSpec, seccompFd: number | undefined): Promise<SandboxedProcess> {
    if (spec.root.kind === "image" && this.imagesUnavailable) throw new Error(`container images cannot run on this node: ${this.imagesUnavailable}`);
    const paths = this.pathsFor(spec.root, spec.runtimeDir);
    const cgroup = this.cgroups ? await this.cgroups.create(spec.id, { memoryBytes: spec.memoryBytes, pidsMax: spec.pidsMax }) : undefined;
    let command = spec.command(paths);
    const env = spec.env(paths);
    const startsNode = paths.node.every((arg, i) => command[i] === arg);
    if (!cgroup && spec.heapLimitMb && startsNode) {
      command = [...paths.node, `--max-old-space-size=${spec.heapLimitMb}`, ...command.slice(paths.node.length)];
    }

    const network = Boolean(this.bwrap && this.slirp && spec.network);
    let argv: string[];
    if (this.bwrap) {
      argv = [this.bwrap, ...this.bwrapArgs(spec, env, network, seccompFd !== undefined), "--", ...command];
    } else {
      // RLIMIT_NPROC counts every process of the uid, so it is a shared ceiling, not a per-instance one.
      argv = [...(cgroup ? [] : this.prlimit(spec.pidsMax * 8)), ...command];
    }
    if (this.setpriv) {
      argv = [this.setpriv, `--reuid=${this.options.uid}`, `--regid=${this.options.gid}`, "--clear-groups", "--", ...argv];
    }
    if (cgroup) {
      // Join the cgroup before exec'ing the sandbox, so nothing it starts can escape the limits.
      const script = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 97; shift; n=$((n-1)); done; exec "$@"';
      argv = ["/bin/sh", "-c", script, "sh", String(cgroup.procsFiles.length), ...cgroup.procsFiles, ...argv];
    }
    const [file, ...args] = argv as [string, ...string[]];
    const child = spawn(file, args, {
      env: this.bwrap ? { PATH: "/usr/bin:/bin" } : env,
      cwd: this.bwrap || spec.root.kind !== "code" ? "/" : spec.root.codeDir,
      stdio: ["ignore", "pipe", "pipe", "pipe", network ? "pipe" : "ignore", ...(seccompFd !== undefined ? [seccompFd] : [])],
      detached: !this.bwrap,
    });
    const sandboxed = new SandboxedProcess(child, cgroup, this.bwrap ? "bwrap" : "process", spec.memoryBytes);
    if (network) sandboxed.withNetwork(() => startNetwork(this.slirp as string, child.stdio[INFO_FD] as Readable));
    return sandboxed;
  }

  private prlimit(nproc: number): string[] {
    const prlimit = findBinary("prlimit");
    return prlimit ? [prlimit, `--nproc=${nproc}`, "--core=0", "--"] : [];
  }

  private bwrapArgs(spec: SandboxSpec, env: Record<string, string>, network: boolean, seccomp: boolean): string[] {
    const root = spec.root;
    const args = [
      "--unshare-all",
      "--unshare-user",
      "--disable-userns",
      "--die-with-parent",
      "--new-session",
      "--cap-drop",
      "ALL",
      "--hostname",
      spec.id.slice(0, 63),
      ...(root.kind === "image" ? this.imageMounts(root) : this.hostMounts(root)),
      "--ro-bind",
      join(this.options.workDir, "hosts"),
      "/etc/hosts",
      ...(network ? ["--ro-bind", join(this.options.workDir, "resolv.conf"), "/etc/resolv.conf", "--info-fd", String(INFO_FD)] : []),
      // Loaded by bwrap right before it execs the command: the runtime and all it starts are filtered.
      ...(seccomp ? ["--seccomp", String(SECCOMP_FD)] : []),
      "--proc",
      "/proc",
      "--dev",
      "/dev",
      "--size",
      String(this.options.tmpBytes),
      "--tmpfs",
      "/tmp",
      "--ro-bind",
      spec.runtimeDir,
      SANDBOX_PATHS.runtime,
    ];
    if (root.kind === "code") {
      // The sandbox's own root (a tmpfs bwrap builds the mounts on) is read-only too; only /tmp is writable.
      args.push("--remount-ro", "/", "--chdir", SANDBOX_PATHS.code);
    } else {
      args.push("--uid", String(root.uid), "--gid", String(root.gid), "--chdir", "/");
    }
    args.push("--clearenv");
    for (const [key, value] of Object.entries(env)) args.push("--setenv", key, value);
    return args;
  }

  /** The host's system directories, Node, our passwd and group, the code and the layers. */
  private hostMounts(root: Extract<SandboxRoot, { kind: "code" }>): string[] {
    const args = [
      ...systemMounts(this.visibleSystemDirs),
      ...nodeMount(this.visibleSystemDirs),
      ...(this.options.programs ?? []).flatMap((program) => programMounts(this.visibleSystemDirs, program)),
      "--ro-bind",
      join(this.options.workDir, "passwd"),
      "/etc/passwd",
      "--ro-bind",
      join(this.options.workDir, "group"),
      "/etc/group",
      "--ro-bind",
      root.codeDir,
      SANDBOX_PATHS.code,
    ];
    for (const dir of root.optDirs ?? []) args.push("--ro-bind", dir, SANDBOX_PATHS.opt);
    return args;
  }

  /**
   * An image's root filesystem as `/`, read-only (with its own passwd and group: its users are its
   * own), and the host's Node for the runtime under HOST_NODE_DIR, run through the host's loader.
   */
  private imageMounts(root: Extract<SandboxRoot, { kind: "image" }>): string[] {
    return ["--ro-bind", root.rootfs, "/", ...hostNodeMounts(this.hostNode as HostNode)];
  }
}

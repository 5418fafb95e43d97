import { closeSync, existsSync, openSync, readSync } from "node:fs";
import { mkdir, readdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Limits one instance's cgroup enforces. */
export interface CgroupLimits {
  memoryBytes: number;
  pidsMax: number;
}

/** One instance's cgroup(s). */
export interface CgroupHandle {
  /** `cgroup.procs` files a process writes its pid into to join (before exec'ing the sandbox). */
  readonly procsFiles: string[];
  /** SIGKILLs every process in the cgroup. */
  killAll(): Promise<void>;
  /** True when the kernel's OOM killer acted in this cgroup. */
  oomKilled(): Promise<boolean>;
  /** Highest memory use seen, in bytes, when the kernel reports it. */
  peakBytes(): Promise<number | undefined>;
  /**
   * The same, read synchronously from an open file (cheap enough for every invocation): the
   * platform's memory figures come from here, never from the instance.
   */
  peakBytesNow(): number | undefined;
  /** Raises (or lowers) the memory limit of what already runs in the cgroup. */
  setMemoryLimit(bytes: number): Promise<void>;
  /** Removes the (empty) cgroup. */
  remove(): Promise<void>;
}

/** A cgroup hierarchy Nimbus can create instance cgroups in. */
export interface CgroupDriver {
  readonly version: "v1" | "v2";
  /** Where instance cgroups go, for the startup log. */
  readonly root: string;
  create(id: string, limits: CgroupLimits): Promise<CgroupHandle>;
  /**
   * Kills whatever is left in instance cgroups of an earlier run of this node (an invoker that was
   * SIGKILLed never removed them) and removes them; returns how many there were.
   */
  sweep(): Promise<number>;
}

async function readNumber(file: string): Promise<number | undefined> {
  try {
    const n = Number.parseInt((await readFile(file, "utf8")).trim(), 10);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** A number file (memory usage) read again and again through one open descriptor. */
class NumberFile {
  private fd: number | undefined;
  private readonly buffer = Buffer.alloc(32);

  constructor(private readonly path: string) {}

  read(): number | undefined {
    try {
      this.fd ??= openSync(this.path, "r");
      const n = readSync(this.fd, this.buffer, 0, this.buffer.length, 0);
      const value = Number.parseInt(this.buffer.toString("latin1", 0, n), 10);
      return Number.isFinite(value) ? value : undefined;
    } catch {
      return undefined;
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Kills the processes of every child cgroup of `dirs` (same names under each) and removes them. */
async function sweepChildren(dirs: string[]): Promise<number> {
  const names = new Set<string>();
  for (const dir of dirs) {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (entry.isDirectory()) names.add(entry.name);
  }
  for (const name of names) {
    for (const dir of dirs) await killProcs(join(dir, name, "cgroup.procs"));
    for (const dir of dirs) await removeDir(join(dir, name));
  }
  return names.size;
}

async function killProcs(procsFile: string): Promise<void> {
  for (let round = 0; round < 50; round++) {
    let pids: number[];
    try {
      pids = (await readFile(procsFile, "utf8")).split("\n").filter(Boolean).map(Number);
    } catch {
      return;
    }
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function removeDir(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY") return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** cgroup v1: separate `memory` and `pids` hierarchies. */
class CgroupV1 implements CgroupDriver {
  readonly version = "v1";
  constructor(
    private readonly memoryRoot: string,
    private readonly pidsRoot: string,
  ) {}

  get root(): string {
    return `${this.memoryRoot}, ${this.pidsRoot}`;
  }

  async create(id: string, limits: CgroupLimits): Promise<CgroupHandle> {
    const memory = join(this.memoryRoot, id);
    const pids = join(this.pidsRoot, id);
    await Promise.all([mkdir(memory, { recursive: true }), mkdir(pids, { recursive: true })]);
    await writeFile(join(memory, "memory.limit_in_bytes"), String(limits.memoryBytes));
    // Without swap accounting this file does not exist; with it, swap must not extend the limit.
    if (existsSync(join(memory, "memory.memsw.limit_in_bytes"))) {
      await writeFile(join(memory, "memory.memsw.limit_in_bytes"), String(limits.memoryBytes)).catch(() => undefined);
    }
    await writeFile(join(pids, "pids.max"), String(limits.pidsMax));
    const peak = new NumberFile(join(memory, "memory.max_usage_in_bytes"));
    return {
      procsFiles: [join(memory, "cgroup.procs"), join(pids, "cgroup.procs")],
      killAll: async () => {
        await killProcs(join(pids, "cgroup.procs"));
        await killProcs(join(memory, "cgroup.procs"));
      },
      oomKilled: async () => {
        const text = await readFile(join(memory, "memory.oom_control"), "utf8").catch(() => "");
        return /oom_kill [1-9]/.test(text);
      },
      peakBytes: () => readNumber(join(memory, "memory.max_usage_in_bytes")),
      peakBytesNow: () => peak.read(),
      setMemoryLimit: async (bytes) => {
        // memsw may never be below the limit: raising goes memsw first, lowering limit first.
        const memsw = join(memory, "memory.memsw.limit_in_bytes");
        const hasMemsw = existsSync(memsw);
        if (hasMemsw) await writeFile(memsw, String(bytes)).catch(() => undefined);
        await writeFile(join(memory, "memory.limit_in_bytes"), String(bytes));
        if (hasMemsw) await writeFile(memsw, String(bytes));
      },
      remove: async () => {
        peak.close();
        await Promise.all([removeDir(memory), removeDir(pids)]);
      },
    };
  }

  sweep(): Promise<number> {
    return sweepChildren([this.memoryRoot, this.pidsRoot]);
  }
}

/** cgroup v2: one unified hierarchy; memory and pids must be enabled in the parent's subtree_control. */
class CgroupV2 implements CgroupDriver {
  readonly version = "v2";
  constructor(readonly root: string) {}

  async create(id: string, limits: CgroupLimits): Promise<CgroupHandle> {
    const dir = join(this.root, id);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "memory.max"), String(limits.memoryBytes));
    if (existsSync(join(dir, "memory.swap.max"))) await writeFile(join(dir, "memory.swap.max"), "0").catch(() => undefined);
    await writeFile(join(dir, "pids.max"), String(limits.pidsMax));
    // memory.peak arrived in Linux 5.19; older kernels only say what is in use now.
    const peak = new NumberFile(join(dir, existsSync(join(dir, "memory.peak")) ? "memory.peak" : "memory.current"));
    return {
      procsFiles: [join(dir, "cgroup.procs")],
      killAll: async () => {
        if (existsSync(join(dir, "cgroup.kill"))) await writeFile(join(dir, "cgroup.kill"), "1").catch(() => undefined);
        await killProcs(join(dir, "cgroup.procs"));
      },
      oomKilled: async () => {
        const text = await readFile(join(dir, "memory.events"), "utf8").catch(() => "");
        return /oom_kill [1-9]/.test(text);
      },
      peakBytes: () => readNumber(join(dir, "memory.peak")),
      peakBytesNow: () => peak.read(),
      setMemoryLimit: async (bytes) => {
        await writeFile(join(dir, "memory.max"), String(bytes));
      },
      remove: async () => {
        peak.close();
        await removeDir(dir);
      },
    };
  }

  async sweep(): Promise<number> {
    // cgroup.kill (5.14+) takes a whole subtree at once; killProcs covers older kernels.
    for (const entry of await readdir(this.root, { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory()) await writeFile(join(this.root, entry.name, "cgroup.kill"), "1").catch(() => undefined);
    }
    return sweepChildren([this.root]);
  }
}

async function writable(dir: string): Promise<boolean> {
  const probe = join(dir, `probe-${process.pid}-${Date.now()}`);
  try {
    await mkdir(probe, { recursive: true });
    await rmdir(probe);
    return true;
  } catch {
    return false;
  }
}

async function enableControllers(dir: string): Promise<boolean> {
  try {
    const available = (await readFile(join(dir, "cgroup.controllers"), "utf8")).split(/\s+/);
    if (!available.includes("memory") || !available.includes("pids")) return false;
    await writeFile(join(dir, "cgroup.subtree_control"), "+memory +pids");
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds a cgroup hierarchy this process may create instance cgroups in: cgroup v2 when
 * /sys/fs/cgroup is unified, else the v1 `memory` and `pids` hierarchies. `group` is the
 * sub-path instance cgroups live under (e.g. `nimbus/<node>`). Returns undefined with the reason when
 * none is writable.
 */
export async function detectCgroups(group: string, mount = "/sys/fs/cgroup"): Promise<CgroupDriver | { unavailable: string }> {
  if (existsSync(join(mount, "cgroup.controllers"))) {
    // v2: every level between the mount and our group needs memory+pids delegated to its children.
    const parts = group.split("/").filter(Boolean);
    let dir = mount;
    for (const part of parts) {
      if (!(await enableControllers(dir))) return { unavailable: `cgroup v2: cannot enable memory and pids controllers in ${dir}` };
      dir = join(dir, part);
      try {
        await mkdir(dir, { recursive: true });
      } catch (err) {
        return { unavailable: `cgroup v2: cannot create ${dir} (${(err as Error).message})` };
      }
    }
    if (!(await enableControllers(dir))) return { unavailable: `cgroup v2: cannot enable memory and pids controllers in ${dir}` };
    return new CgroupV2(dir);
  }
  const memory = join(mount, "memory", group);
  const pids = join(mount, "pids", group);
  if (!existsSync(join(mount, "memory")) || !existsSync(join(mount, "pids"))) {
    return { unavailable: "no cgroup v2 hierarchy and no cgroup v1 memory/pids hierarchies are mounted" };
  }
  try {
    await mkdir(memory, { recursive: true });
    await mkdir(pids, { recursive: true });
  } catch (err) {
    return { unavailable: `cgroup v1: cannot create ${memory} (${(err as Error).message})` };
  }
  if (!(await writable(memory)) || !(await writable(pids))) return { unavailable: `cgroup v1: ${memory} is not writable` };
  return new CgroupV1(memory, pids);
}

import { execFileSync } from "node:child_process";
import { accessSync, constants, existsSync, readdirSync, realpathSync } from "node:fs";
import { cp } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { PYTHON_RUNTIMES } from "@nimbus/protocol";

/** An interpreter on this node. */
export interface Interpreter {
  path: string;
  /** `3.11` */
  version: string;
}

/** What a Python runtime name runs on here, as this node's heartbeat tells gateways. */
export interface RuntimeInterpreter {
  path: string;
  /** The interpreter's own `3.11.2`. */
  version: string;
  /** Set by the operator (NIMBUS_PYTHON_INTERPRETERS), not chosen by version. */
  configured?: true;
}

/**
 * The Python interpreters this node has, and which one runs each of FC's Python runtime names: the
 * one the operator configured for it (NIMBUS_PYTHON_INTERPRETERS), else its own version when
 * Debian's `/usr/bin/python3.N` is installed, else the oldest newer 3.x, else the newest older one,
 * else `python3`. The runtime says in the function's log when the version differs from the name's.
 */
export class Interpreters {
  private installed: Interpreter[] | undefined;
  private configured = new Map<string, string>();
  private readonly versions = new Map<string, string>();

  /** `bin`: where Debian installs its interpreters (tests point it elsewhere). */
  constructor(private readonly bin = "/usr/bin") {}

  /** Takes the operator's `runtime → interpreter path` choices; throws, saying which, when one cannot run. */
  configure(paths: Record<string, string>): void {
    for (const [runtime, path] of Object.entries(paths)) {
      if (!(PYTHON_RUNTIMES as readonly string[]).includes(runtime)) throw new Error(`NIMBUS_PYTHON_INTERPRETERS: ${runtime} is not a Python runtime name (${PYTHON_RUNTIMES.join(", ")})`);
      if (!isAbsolute(path)) throw new Error(`NIMBUS_PYTHON_INTERPRETERS: the interpreter for ${runtime} must be an absolute path, not ${path}`);
      if (path.startsWith("/tmp/")) throw new Error(`NIMBUS_PYTHON_INTERPRETERS: ${path} (for ${runtime}) is under /tmp, which every instance has a private one of; install it elsewhere`);
      try {
        accessSync(path, constants.X_OK);
      } catch {
        throw new Error(`NIMBUS_PYTHON_INTERPRETERS: ${path} (for ${runtime}) is not an executable file on this node`);
      }
    }
    this.configured = new Map(Object.entries(paths));
  }

  /** The configured interpreters' paths: the sandbox mounts their installations. */
  configuredPaths(): string[] {
    return [...new Set(this.configured.values())];
  }

  for(runtime: string): Interpreter {
    const configured = this.configured.get(runtime);
    if (configured) return { path: configured, version: this.versionOf(configured).split(".").slice(0, 2).join(".") };
    const all = (this.installed ??= scan(this.bin));
    const wanted = /^python3\.(\d+)$/.exec(runtime)?.[1];
    if (wanted === undefined || all.length === 0) return fallback(this.bin, all);
    // Its own version; else the oldest newer one (code runs forward: new syntax does not run back);
    // else, with nothing newer installed, the newest older one (the log and getFunction say so).
    const minor = Number(wanted);
    const newer = all.filter((i) => minorOf(i) >= minor).sort((a, b) => minorOf(a) - minorOf(b));
    const older = all.filter((i) => minorOf(i) < minor).sort((a, b) => minorOf(b) - minorOf(a));
    return (newer[0] ?? older[0]) as Interpreter;
  }

  /** What each of FC's Python runtime names runs on here. */
  describe(): Record<string, RuntimeInterpreter> {
    const out: Record<string, RuntimeInterpreter> = {};
    for (const runtime of PYTHON_RUNTIMES) {
      const { path } = this.for(runtime);
      out[runtime] = { path, version: this.versionOf(path), ...(this.configured.has(runtime) ? { configured: true as const } : {}) };
    }
    return out;
  }

  /** The interpreter's full version, asked of it once (`unknown` when it does not run). */
  private versionOf(path: string): string {
    let version = this.versions.get(path);
    if (version === undefined) {
      try {
        version = execFileSync(path, ["-S", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"], { encoding: "utf8", timeout: 10_000 }).trim();
      } catch {
        version = "unknown";
      }
      this.versions.set(path, version);
    }
    return version;
  }
}

function minorOf(interpreter: Interpreter): number {
  return Number(interpreter.version.split(".")[1]);
}

/** `python3` itself, named by the version it links to. */
function fallback(bin: string, all: Interpreter[]): Interpreter {
  try {
    const real = realpathSync(join(bin, "python3"));
    const version = /python(3\.\d+)$/.exec(real)?.[1];
    if (version) return { path: join(bin, "python3"), version };
  } catch {
    // no python3 at all: the start fails with the sandbox's own error, which says so
  }
  return all[0] ?? { path: join(bin, "python3"), version: "3" };
}

function scan(bin: string): Interpreter[] {
  let names: string[] = [];
  try {
    names = readdirSync(bin);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const m = /^python(3\.\d+)$/.exec(name);
    return m ? [{ path: join(bin, name), version: m[1] as string }] : [];
  });
}

/** Debian's python3-msgpack, which the Python runtime speaks to the invoker with. */
const DEBIAN_MSGPACK = "/usr/lib/python3/dist-packages/msgpack";

/**
 * Copies Debian's msgpack next to the Python runtime (`<runtime>/_vendor/msgpack`), for interpreters
 * that do not see Debian's packages (configured ones: a venv, a Python built elsewhere).
 */
export async function vendorMsgpack(runtimeDir: string): Promise<void> {
  if (!existsSync(DEBIAN_MSGPACK)) return; // the runtime's own import error says what to install
  await cp(DEBIAN_MSGPACK, join(runtimeDir, "_vendor", "msgpack"), { recursive: true, filter: (src) => !src.includes("__pycache__") });
}

/** This node's interpreters, looked up once. */
export const interpreters = new Interpreters();

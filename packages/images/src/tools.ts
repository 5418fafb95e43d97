import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { ImageError } from "./errors.js";

/** The external programs this package runs (Debian packages of the same names). */
export type Tool = "skopeo" | "umoci";

export interface RunOptions {
  /** The child is SIGKILLed when this passes (without progress, when `progress` is given). */
  timeoutMs: number;
  /**
   * Polled every 250 ms while the child runs; each change of the number it returns (e.g. bytes
   * written so far) restarts the timeout, so a long transfer that keeps moving is not cut off
   * while one that stalls is.
   */
  progress?: () => Promise<number>;
  /** stdout beyond this fails the run (manifests are small; nothing here reads big output). */
  maxStdoutBytes?: number;
  /** Kills the child when aborted (its work is not wanted any more). */
  signal?: AbortSignal;
}

export interface ToolResult {
  stdout: Buffer;
  /** The last 64 KB of stderr. */
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when we killed it because the timeout passed. */
  timedOut: boolean;
  ms: number;
}

const EXTRA_DIRS = ["/usr/local/bin", "/usr/bin", "/usr/sbin", "/bin", "/sbin"];
const STDERR_KEEP = 64 * 1024;
const PROGRESS_POLL_MS = 250;
const found = new Map<string, string | null>();

/** Absolute path of an executable on PATH (or the usual system directories), or undefined. */
export function findExecutable(name: string): string | undefined {
  if (!found.has(name)) {
    const dirs = [...(process.env["PATH"] ?? "").split(delimiter).filter(Boolean), ...EXTRA_DIRS];
    let path: string | null = null;
    for (const dir of dirs) {
      try {
        accessSync(join(dir, name), constants.X_OK);
        path = join(dir, name);
        break;
      } catch {
        // keep looking
      }
    }
    found.set(name, path);
  }
  return found.get(name) ?? undefined;
}

/**
 * Runs skopeo or umoci with a bounded wait: the child is SIGKILLed at the timeout (never a hang),
 * and dies with this process (util-linux `setpriv --pdeathsig`) so a killed invoker leaves no
 * pull running behind it. Resolves with whatever happened; callers map failures to ImageError.
 */
export async function runTool(tool: Tool, args: string[], options: RunOptions): Promise<ToolResult> {
  const binary = findExecutable(tool);
  if (!binary) {
    throw new ImageError("Unavailable", `${tool} is not installed on this node; install it with: sudo apt-get install -y ${tool}`);
  }
  const setpriv = findExecutable("setpriv");
  const [command, argv] = setpriv ? [setpriv, ["--pdeathsig", "SIGKILL", "--", binary, ...args]] : [binary, args];
  const started = Date.now();
  const child = spawn(command, argv, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LC_ALL: "C" } });
  const stdout: Buffer[] = [];
  let stdoutBytes = 0;
  let stderr = "";
  let timedOut = false;
  let overflow = false;

  child.stdout.on("data", (chunk: Buffer) => {
    stdoutBytes += chunk.length;
    if (options.maxStdoutBytes !== undefined && stdoutBytes > options.maxStdoutBytes) {
      overflow = true;
      child.kill("SIGKILL");
      return;
    }
    stdout.push(chunk);
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEEP);
  });

  const kill = (): void => {
    timedOut = true;
    child.kill("SIGKILL");
  };
  let timer = setTimeout(kill, options.timeoutMs);
  const abort = () => child.kill("SIGKILL");
  if (options.signal?.aborted) abort();
  options.signal?.addEventListener("abort", abort, { once: true });
  let poller: NodeJS.Timeout | undefined;
  if (options.progress) {
    let last = -1;
    let polling = false;
    poller = setInterval(() => {
      if (polling) return;
      polling = true;
      options
        .progress!()
        .then((now) => {
          if (now !== last && !timedOut) {
            last = now;
            clearTimeout(timer);
            timer = setTimeout(kill, options.timeoutMs);
          }
        })
        .catch(() => undefined) // a file vanishing between readdir and stat is no progress, not a failure
        .finally(() => (polling = false));
    }, PROGRESS_POLL_MS);
  }

  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("error", (err) => {
      stderr += `\n${err.message}`;
      resolve({ code: -1, signal: null });
    });
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  clearTimeout(timer);
  options.signal?.removeEventListener("abort", abort);
  if (poller) clearInterval(poller);
  if (overflow) stderr += `\n${tool} wrote more than ${options.maxStdoutBytes} bytes to stdout`;
  return { stdout: Buffer.concat(stdout), stderr, ...exit, timedOut, ms: Date.now() - started };
}

import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";

/** The pid file of the `nimbus up` that owns a NIMBUS_HOME (its servers, data and endpoints). */
export const UP_PID_FILE = "nimbus-up.pid";

/** Another live `nimbus up` owns this NIMBUS_HOME. */
export class HomeInUseError extends Error {
  override readonly name = "HomeInUseError";
  constructor(
    readonly home: string,
    readonly pid: number,
  ) {
    super(
      `${home} is in use by a running 'nimbus up' (pid ${pid}); stop that one first (Ctrl-C in its terminal, or kill ${pid}), or set NIMBUS_HOME to another folder`,
    );
  }
}

/** When a process started, in ms since the epoch, from /proc (Linux); undefined elsewhere or when it is gone. */
function startedAtMs(pid: number): number | undefined {
  try {
    // Field 22 of /proc/<pid>/stat is the start time in clock ticks after boot; the command name
    // (field 2) may hold spaces, so count from the closing parenthesis. USER_HZ is 100 on Linux.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const ticks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    const bootSeconds = Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1]);
    return Number.isFinite(ticks) && Number.isFinite(bootSeconds) ? bootSeconds * 1000 + ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The pid in a pid file when that process still runs; undefined when the file is missing or stale.
 * A process that started after the file was written only reuses the pid (after a reboot, say).
 */
function liveHolder(file: string): number | undefined {
  let pid: number;
  let writtenMs: number;
  try {
    pid = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
    writtenMs = statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return undefined;
  }
  const started = startedAtMs(pid);
  return started !== undefined && started > writtenMs + 1_000 ? undefined : pid;
}

/**
 * Claims NIMBUS_HOME for this process with a pid file created exclusively; refuses (HomeInUseError)
 * while the `nimbus up` that wrote it is alive, and takes over a file its dead owner left behind.
 * The file is removed by release() and when this process exits.
 */
export function claimHome(home: string): { release(): void } {
  const file = join(home, UP_PID_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      const release = (): void => {
        try {
          if (readFileSync(file, "utf8").trim() === String(process.pid)) unlinkSync(file);
        } catch {
          // already gone
        }
      };
      process.once("exit", release);
      return { release };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const holder = liveHolder(file);
    if (holder !== undefined) throw new HomeInUseError(home, holder);
    try {
      unlinkSync(file); // left by a launcher that died without cleaning up
    } catch {
      // another launcher removed it first; try again
    }
  }
  throw new Error(`could not create ${file}`);
}

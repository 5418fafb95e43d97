import { closeSync, readdirSync, readFileSync } from "node:fs";
import { CONTROL_FD } from "@nimbus/protocol/wire";

/** O_CLOEXEC as /proc/<pid>/fdinfo prints `flags` (octal). */
const O_CLOEXEC = 0o2000000;

/**
 * Closes descriptors this process inherited but was never meant to have: whatever the invoker's own
 * parents left open without close-on-exec reaches here through bwrap, and would reach the function
 * and every process it starts. What Node opened itself is close-on-exec (libuv opens everything so),
 * which is how the two are told apart; stdio and the control channel stay.
 */
export function closeInheritedFds(): number {
  let closed = 0;
  let fds: string[];
  try {
    fds = readdirSync("/proc/self/fd");
  } catch {
    return 0; // no /proc: nothing to tell apart
  }
  for (const name of fds) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd <= CONTROL_FD) continue;
    let flags: number;
    try {
      flags = Number.parseInt(/^flags:\s+([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))?.[1] ?? "", 8);
    } catch {
      continue; // the directory's own descriptor, gone by now
    }
    if (Number.isNaN(flags) || (flags & O_CLOEXEC) !== 0) continue;
    try {
      closeSync(fd);
      closed++;
    } catch {
      // already closed
    }
  }
  return closed;
}

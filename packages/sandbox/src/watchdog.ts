import { readdir, readFile } from "node:fs/promises";

/** Resident memory of a process and all its descendants, in bytes (Linux /proc). */
export async function treeRssBytes(root: number): Promise<number> {
  let total = 0;
  const stack = [root];
  const seen = new Set<number>();
  while (stack.length) {
    const pid = stack.pop() as number;
    if (seen.has(pid)) continue;
    seen.add(pid);
    try {
      const status = await readFile(`/proc/${pid}/status`, "utf8");
      const rss = /VmRSS:\s+(\d+) kB/.exec(status);
      if (rss) total += Number(rss[1]) * 1024;
      for (const tid of await readdir(`/proc/${pid}/task`)) {
        const children = await readFile(`/proc/${pid}/task/${tid}/children`, "utf8").catch(() => "");
        for (const child of children.split(" ").filter(Boolean)) stack.push(Number(child));
      }
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

/** A running memory watch: its highest reading so far, and how to stop it. */
export interface MemoryWatch {
  /** The highest tree RSS seen, in bytes (0 before the first reading). */
  peakBytes(): number;
  stop(): void;
}

/**
 * Without cgroups, polls a process tree's RSS and calls `onExceeded` once when it passes the limit
 * (V8's heap limit catches most Node leaks first; this catches native memory and child processes).
 */
export function watchMemory(root: number, limitBytes: number, onExceeded: () => void, intervalMs = 200): MemoryWatch {
  let stopped = false;
  let peak = 0;
  const timer = setInterval(() => {
    void treeRssBytes(root).then((rss) => {
      if (stopped) return;
      peak = Math.max(peak, rss);
      if (rss > limitBytes) {
        stopped = true;
        clearInterval(timer);
        onExceeded();
      }
    });
  }, intervalMs);
  timer.unref();
  return {
    peakBytes: () => peak,
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}

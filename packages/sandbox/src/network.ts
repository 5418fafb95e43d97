import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import type { Readable } from "node:stream";

/**
 * Gives a sandbox its network: slirp4netns on the sandbox's network namespace, with the host's
 * loopback out of reach (NATS, Redis and anything else listening there), in its own sandbox and
 * seccomp filter. `info` is bwrap's info fd (it names the sandbox's pid). Resolves once the
 * interface is up; slirp4netns exits when the invoker does (exit fd), or when killed.
 */
export async function startNetwork(slirp4netns: string, info: Readable): Promise<ChildProcess> {
  const pid = await sandboxPid(info);
  const slirp = spawn(
    slirp4netns,
    ["--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox", "--enable-seccomp", "--ready-fd=3", "--exit-fd=4", "--netns-type=path", `/proc/${pid}/ns/net`, "tap0"],
    { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] },
  );
  let stderr = "";
  slirp.stderr?.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2_000)));
  const ready = slirp.stdio[3] as Readable;
  const timer = setTimeout(() => slirp.kill("SIGKILL"), 10_000);
  try {
    const outcome = await Promise.race([once(ready, "data").then(() => "ready" as const), once(slirp, "exit").then(() => "exited" as const)]);
    if (outcome !== "ready") throw new Error(`slirp4netns could not set up the instance's network: ${stderr.trim().split("\n").at(-1) ?? "no output"}`);
  } finally {
    clearTimeout(timer);
    ready.destroy();
  }
  return slirp;
}

/**
 * The sandbox's pid, from bwrap's info fd. bwrap writes its info in several pieces, then closes the
 * fd: read to the end (closing our end early would kill bwrap with SIGPIPE on its next write).
 */
function sandboxPid(info: Readable): Promise<number> {
  let json = "";
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the sandbox did not report its pid within 10 s")), 10_000);
    info.setEncoding("utf8");
    info.on("data", (chunk: string) => (json += chunk));
    info.once("end", () => {
      clearTimeout(timer);
      const m = /"child-pid"\s*:\s*(\d+)/.exec(json);
      if (m) resolve(Number(m[1]));
      else reject(new Error(`the sandbox did not report its pid: ${json.slice(0, 200)}`));
    });
  });
}

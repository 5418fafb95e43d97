import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandboxer, type SandboxSpec } from "./sandboxer.js";

let dir: string;
let sandboxer: Sandboxer;
let hostServer: Server;
let hostPort: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nimbus-sandbox-"));
  await chmod(dir, 0o755); // the sandbox uid must reach what is mounted from here
  await mkdir(join(dir, "runtime"), { mode: 0o755 });
  sandboxer = await Sandboxer.create({ workDir: join(dir, "work"), cgroupGroup: `nimbus-test/${randomBytes(4).toString("hex")}`, uid: 65534, gid: 65534, tmpBytes: 64 * 1024 * 1024 });
  // Stands in for NATS/Redis: a service on the host's loopback that functions must not reach.
  hostServer = createServer((s) => s.end("platform secrets\n"));
  await new Promise<void>((r) => hostServer.listen(0, "127.0.0.1", r));
  hostPort = (hostServer.address() as { port: number }).port;
  process.env["NIMBUS_SECRET_FOR_TEST"] = "must-not-leak";
});

afterAll(async () => {
  hostServer?.close();
  await rm(dir, { recursive: true, force: true });
});

const python = "/usr/bin/python3";

/** Runs a Node script (or a Python one) in a fresh sandbox (code dir holds `script`) and collects its output. */
async function run(script: string, opts: { memoryMb?: number; pidsMax?: number; killAfterMs?: number; code?: Record<string, string>; python?: boolean } = {}) {
  const codeDir = join(dir, `code-${randomBytes(4).toString("hex")}`);
  await mkdir(codeDir, { recursive: true, mode: 0o755 });
  await writeFile(join(codeDir, "script"), script, { mode: 0o644 });
  for (const [name, content] of Object.entries(opts.code ?? {})) await writeFile(join(codeDir, name), content, { mode: 0o644 });
  const spec: SandboxSpec = {
    id: `t-${randomBytes(6).toString("hex")}`,
    root: { kind: "code", codeDir },
    runtimeDir: join(dir, "runtime"),
    command: (paths) => [opts.python ? python : process.execPath, join(paths.code, "script")],
    env: () => ({ FUNCTION_VAR: "mine", HOST_PORT: String(hostPort) }),
    memoryBytes: (opts.memoryMb ?? 128) * 1024 * 1024,
    pidsMax: opts.pidsMax ?? 64,
    heapLimitMb: Math.floor((opts.memoryMb ?? 128) * 0.8),
  };
  const proc = await sandboxer.spawn(spec);
  let out = "";
  proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const timer = opts.killAfterMs ? setTimeout(() => void proc.kill(), opts.killAfterMs) : undefined;
  const exit = await proc.exited;
  clearTimeout(timer);
  return { out, exit, codeDir, proc };
}

describe("the sandbox", () => {
  it("says what it runs with", () => {
    expect(sandboxer.describe()).toMatch(/bubblewrap/);
    expect(sandboxer.describe()).toMatch(/seccomp \((x86_64|aarch64)\): \d+ syscalls refused/);
    expect(sandboxer.describe()).toMatch(/\/usr: only bin, lib/);
  });

  // Python because it can make any syscall (ctypes); the numbers are the kernel's for this machine.
  it.skipIf(!existsSync(python) || !["x64", "arm64"].includes(process.arch))("refuses syscalls a function never needs, with EPERM (ENOSYS for io_uring)", async () => {
    const { out } = await run(
      `
import ctypes, errno, json, os
libc = ctypes.CDLL("libc.so.6", use_errno=True)
x86 = os.uname().machine == "x86_64"
numbers = {"ptrace": 101 if x86 else 117, "io_uring_setup": 425, "keyctl": 250 if x86 else 219, "bpf": 321 if x86 else 280, "unshare": 272 if x86 else 97, "getppid": 110 if x86 else 173}
def call(nr):
    ctypes.set_errno(0)
    # ptrace(PTRACE_ATTACH, pid 0) alone would fail with ESRCH: EPERM is the filter's answer.
    return "OK" if libc.syscall(nr, 16, 0, 0, 0) != -1 else errno.errorcode[ctypes.get_errno()]
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
print(json.dumps({**{name: call(nr) for name, nr in numbers.items()}, "seccomp": status["Seccomp"].strip(), "programFd": os.path.exists("/proc/self/fd/5")}))
`,
      { python: true },
    );
    const r = JSON.parse(out);
    expect(r).toMatchObject({ ptrace: "EPERM", io_uring_setup: "ENOSYS", keyctl: "EPERM", bpf: "EPERM", unshare: "EPERM", getppid: "OK", seccomp: "2" });
    expect(r.programFd).toBe(false); // bwrap closed the descriptor it read the program from
  });

  it("shows only the parts of /usr a runtime needs, with merged-/usr links intact", async () => {
    const { out } = await run(`
      const fs = require("fs");
      const exists = (p) => fs.existsSync(p);
      console.log(JSON.stringify({
        hidden: ["/usr/sbin", "/usr/include", "/usr/src", "/usr/local", "/usr/games", "/usr/share/doc", "/usr/share/man", "/sbin"].filter(exists),
        visible: ["/usr/bin/env", "/bin/sh", "/usr/share/zoneinfo/UTC", "/etc/ssl/certs"].filter(exists),
        shell: require("child_process").execFileSync("/bin/sh", ["-c", "echo $(date -u +%Y) | tr 0-9 a-j"]).toString().trim().length,
      }));
    `);
    const r = JSON.parse(out);
    expect(r.hidden).toEqual([]);
    expect(r.visible).toEqual(["/usr/bin/env", "/bin/sh", "/usr/share/zoneinfo/UTC", "/etc/ssl/certs"]);
    expect(r.shell).toBe(4);
  });

  it("gives the function only its own environment, no platform variables", async () => {
    const { out } = await run("console.log(JSON.stringify(process.env))");
    const env = JSON.parse(out);
    expect(env.FUNCTION_VAR).toBe("mine");
    expect(JSON.stringify(env)).not.toContain("must-not-leak");
    expect(Object.keys(env).some((k) => k.startsWith("NIMBUS_"))).toBe(false);
  });

  it("runs as an unprivileged user that cannot read secrets or other code", async () => {
    const other = join(dir, "other-function");
    await mkdir(other, { recursive: true });
    await writeFile(join(other, "secret.js"), "// another function's code");
    const { out } = await run(`
      const fs = require("fs");
      const tryRead = (p) => { try { fs.readFileSync(p); return "READ"; } catch (e) { return e.code; } };
      console.log(JSON.stringify({
        uid: process.getuid(),
        shadow: tryRead("/etc/shadow"),
        other: tryRead(${JSON.stringify(join(other, "secret.js"))}),
        init: tryRead("/proc/1/environ"),
        pid: process.pid,
        hostRoot: tryRead("/root/.bashrc"),
      }));
    `);
    const r = JSON.parse(out);
    expect(r.uid).not.toBe(0);
    expect(r.shadow).not.toBe("READ");
    expect(r.other).not.toBe("READ");
    expect(r.hostRoot).not.toBe("READ");
    expect(r.pid).toBeLessThan(10); // its own PID namespace
  });

  it("keeps code and system read-only, /tmp private and writable", async () => {
    const { out } = await run(`
      const fs = require("fs");
      const tryWrite = (p) => { try { fs.writeFileSync(p, "x"); return "WROTE"; } catch (e) { return e.code; } };
      console.log(JSON.stringify({ code: tryWrite("/code/x"), usr: tryWrite("/usr/x"), etc: tryWrite("/etc/x"), root: tryWrite("/x"), tmp: tryWrite("/tmp/x") }));
    `);
    const r = JSON.parse(out);
    expect(r).toMatchObject({ tmp: "WROTE" });
    for (const key of ["code", "usr", "etc", "root"]) expect(r[key]).not.toBe("WROTE");
    const second = await run(`console.log(require("fs").existsSync("/tmp/x") ? "LEAKED" : "clean")`);
    expect(second.out.trim()).toBe("clean");
  });

  it("cannot reach services on the host's loopback (NATS, Redis)", async () => {
    const { out } = await run(`
      require("net").connect(Number(process.env.HOST_PORT), "127.0.0.1")
        .on("data", () => console.log("REACHED"))
        .on("error", (e) => console.log(e.code));
    `);
    expect(out.trim()).not.toBe("REACHED");
    expect(out).toMatch(/ECONNREFUSED|ENETUNREACH/);
  });

  it("contains a memory bomb", async () => {
    const { exit } = await run(`const a = []; setInterval(() => a.push(Buffer.alloc(16e6, 1)), 5);`, { memoryMb: 128, killAfterMs: 20_000 });
    expect(exit.oomKilled).toBe(true);
  });

  it("contains a fork bomb", async () => {
    const { out, exit } = await run(
      `
      const { spawn } = require("child_process");
      let started = 0, failed = 0;
      for (let i = 0; i < 200; i++) {
        try { const c = spawn("/bin/sleep", ["30"]); c.on("error", () => failed++); started++; } catch { failed++; }
      }
      setTimeout(() => { console.log(JSON.stringify({ started, failed })); process.exit(0); }, 1500);
    `,
      { pidsMax: 32, killAfterMs: 20_000 },
    );
    expect(exit.code).toBe(0);
    expect(JSON.parse(out).failed).toBeGreaterThan(100);
  });

  it("contains a full /tmp", async () => {
    const { out } = await run(`
      const fs = require("fs");
      let written = 0;
      try { for (;;) { fs.writeFileSync("/tmp/f" + written, Buffer.alloc(4 << 20)); written++; } } catch (e) { console.log(e.code, written * 4); }
    `);
    expect(out).toMatch(/ENOSPC|ENOMEM/);
  });

  it("kills the whole tree, grandchildren that ignore SIGTERM included", async () => {
    const { proc } = await run(
      `
      const { spawn } = require("child_process");
      spawn("/bin/sh", ["-c", "trap '' TERM; sleep 300"], { stdio: "inherit", detached: true });
      setInterval(() => {}, 1000);
    `,
      { killAfterMs: 1_000 },
    );
    expect(proc.pid).toBeDefined();
    const { execFileSync } = await import("node:child_process");
    // Killed at once, but on a loaded machine the kernel may take a moment to take it off the table.
    const survivors = () => execFileSync("ps", ["-eo", "pid,user,stat,args"]).toString().split("\n").filter((l) => l.includes("sleep 300") && !/\sZ\S*\s/.test(l));
    const until = Date.now() + 5_000;
    while (survivors().length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(survivors()).toEqual([]);
  });
});

describe("an image's root filesystem as the sandbox's root", () => {
  /** A tiny image root: a shell and the libraries it needs, and the mount points the sandbox binds over. */
  async function miniRootfs(): Promise<string> {
    const { execFileSync } = await import("node:child_process");
    const { copyFile } = await import("node:fs/promises");
    const rootfs = join(dir, `rootfs-${randomBytes(4).toString("hex")}`);
    for (const d of ["bin", "etc", "proc", "dev", "tmp", "var/fc/runtime", "var/fc/host", "srv"]) await mkdir(join(rootfs, d), { recursive: true, mode: 0o755 });
    await copyFile("/bin/sh", join(rootfs, "bin/sh"));
    await chmod(join(rootfs, "bin/sh"), 0o755);
    for (const lib of execFileSync("ldd", ["/bin/sh"]).toString().match(/\/\S+/g) ?? []) {
      await mkdir(join(rootfs, lib, ".."), { recursive: true, mode: 0o755 });
      await copyFile(lib, join(rootfs, lib));
      await chmod(join(rootfs, lib), 0o755);
    }
    for (const f of ["etc/hosts", "etc/resolv.conf"]) await writeFile(join(rootfs, f), "", { mode: 0o644 });
    await writeFile(join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/srv:/bin/sh\n", { mode: 0o644 });
    await writeFile(join(rootfs, "etc/group"), "root:x:0:\napp:x:1000:\n", { mode: 0o644 });
    await writeFile(join(rootfs, "srv/marker"), "from the image\n", { mode: 0o644 });
    return rootfs;
  }

  it.skipIf(!sandboxerHasImages())("runs the host's Node inside the image, and the image's own programs from it, as the image's user", async () => {
    const rootfs = await miniRootfs();
    await writeFile(join(dir, "runtime", "probe.js"), `
      const fs = require("fs");
      const { execFileSync } = require("child_process");
      console.log(JSON.stringify({
        node: process.version,
        root: fs.readdirSync("/").sort(),
        marker: fs.readFileSync("/srv/marker", "utf8").trim(),
        shell: execFileSync("/bin/sh", ["-c", "echo $((6 * 7))"], { env: {} }).toString().trim(),
        uid: process.getuid(),
        writeRoot: (() => { try { fs.writeFileSync("/srv/x", "x"); return "written"; } catch (e) { return e.code; } })(),
        writeTmp: (() => { fs.writeFileSync("/tmp/x", "x"); return "written"; })(),
        usr: fs.existsSync("/usr"),
      }));
    `, { mode: 0o644 });
    const proc = await sandboxer.spawn({
      id: `t-${randomBytes(6).toString("hex")}`,
      root: { kind: "image", rootfs, uid: 1000, gid: 1000 },
      runtimeDir: join(dir, "runtime"),
      command: (paths) => [...paths.node, join(paths.runtime, "probe.js")],
      env: () => ({ PATH: "/bin" }),
      memoryBytes: 128 * 1024 * 1024,
      pidsMax: 64,
    });
    let out = "";
    proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
    proc.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exit = await proc.exited;
    expect(exit.code, out).toBe(0);
    const r = JSON.parse(out);
    expect(r).toMatchObject({ node: process.version, marker: "from the image", shell: "42", uid: 1000, writeTmp: "written", usr: false });
    expect(r.writeRoot).toMatch(/EROFS|EACCES/);
    expect(r.root).toEqual(expect.arrayContaining(["bin", "etc", "srv", "tmp", "var"]));
  });
});

function sandboxerHasImages(): boolean {
  return existsSync("/usr/bin/bwrap") && existsSync("/usr/bin/ldd");
}

import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { makeZip } from "@nimbus/testkit";
import { useCluster } from "../helpers/cluster.js";
import { deploy } from "../helpers/functions.js";

const ctx = useCluster({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });

// A custom runtime whose answer is what it could do: raw syscalls through ctypes, and a look at /usr.
const PYTHON_PROBE = `
import ctypes, datetime, errno, http.server, json, os, ssl, sys, zoneinfo

libc = ctypes.CDLL("libc.so.6", use_errno=True)
# The kernel's numbers: asm/unistd_64.h on x86_64, asm-generic/unistd.h on arm64.
NUMBERS = {
    "x86_64": {"ptrace": 101, "io_uring_setup": 425, "keyctl": 250, "bpf": 321, "userfaultfd": 323, "perf_event_open": 298, "mount": 165, "getppid": 110},
    "aarch64": {"ptrace": 117, "io_uring_setup": 425, "keyctl": 219, "bpf": 280, "userfaultfd": 282, "perf_event_open": 241, "mount": 40, "getppid": 173},
}[os.uname().machine]

def errno_of(nr):
    ctypes.set_errno(0)
    # Arguments the kernel itself refuses otherwise (ptrace(PTRACE_ATTACH, pid 0) is ESRCH,
    # io_uring_setup without params EFAULT): EPERM and ENOSYS here are the filter's answers.
    if libc.syscall(nr, 16, 0, 0, 0, 0) != -1:
        return "OK"
    return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))

def listing(path):
    try:
        return len(os.listdir(path))
    except OSError as e:
        return errno.errorcode[e.errno]

def probe():
    status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\\t" in line)
    instant = datetime.datetime(2024, 1, 1, 4, tzinfo=datetime.timezone.utc).astimezone(zoneinfo.ZoneInfo("Asia/Shanghai"))
    return {
        "errno": {name: errno_of(nr) for name, nr in NUMBERS.items()},
        "seccomp": status["Seccomp"].strip(),
        "listings": {path: listing(path) for path in ["/usr/sbin", "/usr/include", "/usr/src", "/usr/share/doc", "/usr/local", "/usr/games", "/usr/bin"]},
        "python": os.path.realpath(sys.executable).startswith("/usr/bin/python3"),
        "shanghaiHour": instant.hour,
        "certificates": ssl.create_default_context().cert_store_stats()["x509_ca"],
    }

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(probe()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("FC_CUSTOM_LISTEN_PORT", "9000"))), Handler).serve_forever()
`;

// A Node function that uses what Node functions use, under the filter and with the trimmed /usr.
const NODE_WORKOUT = `
const fs = require("fs");
const net = require("net");
const { execFileSync } = require("child_process");
const crypto = require("crypto");
const zlib = require("zlib");
const dns = require("dns").promises;
const { Worker } = require("worker_threads");

const echo = () => new Promise((resolve, reject) => {
  const server = net.createServer((socket) => socket.pipe(socket)).listen(0, "127.0.0.1", () => {
    let got = "";
    net.connect(server.address().port, "127.0.0.1", function () { this.end("ping"); })
      .on("data", (d) => (got += d))
      .on("end", () => { server.close(); resolve(got); })
      .on("error", reject);
  });
});
const worker = () => new Promise((resolve, reject) =>
  new Worker("require('worker_threads').parentPort.postMessage(6 * 7)", { eval: true }).once("message", resolve).once("error", reject));

exports.handler = async () => {
  await fs.promises.writeFile("/tmp/workout.txt", "written");
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  const signature = crypto.sign("sha256", Buffer.from("nimbus"), privateKey);
  const instant = Date.UTC(2024, 0, 1, 4);
  return {
    file: await fs.promises.readFile("/tmp/workout.txt", "utf8"),
    code: fs.readdirSync("/code"),
    echo: await echo(),
    shell: execFileSync("/bin/sh", ["-c", "echo $((6 * 7)) | cat"]).toString().trim(),
    sha256: crypto.createHash("sha256").update("nimbus").digest("hex").length,
    verified: crypto.verify("sha256", Buffer.from("nimbus"), publicKey, signature),
    zlib: zlib.gunzipSync(zlib.gzipSync("x".repeat(1000))).length,
    worker: await worker(),
    localhost: (await dns.lookup("localhost", { family: 4 })).address,
    shanghaiHour: new Intl.DateTimeFormat("en-US", { timeZone: "Asia/Shanghai", hour: "numeric", hourCycle: "h23" }).format(instant),
    tokyoHour: new Date(instant).getHours(), // TZ=Asia/Tokyo
    seccomp: /Seccomp:\\s*(\\d)/.exec(fs.readFileSync("/proc/self/status", "utf8"))[1],
    hidden: ["/usr/sbin", "/usr/include", "/usr/local", "/usr/share/doc"].filter((p) => fs.existsSync(p)),
  };
};`;

describe("sandbox depth", () => {
  it.skipIf(!existsSync("/usr/bin/python3") || !["x64", "arm64"].includes(process.arch))(
    "refuses syscalls a function never needs and hides what a runtime does not need of /usr, while a Python custom runtime works",
    async () => {
      const client = ctx.cluster.client();
      await client.createService("depth");
      const zipFile = (await makeZip({ bootstrap: { content: "#!/bin/sh\nexec /usr/bin/python3 /code/probe.py\n", mode: 0o100755 }, "probe.py": PYTHON_PROBE })).toString("base64");
      await client.createFunction("depth", { functionName: "py", runtime: "custom", handler: "index.handler", timeout: 10, code: { zipFile } });
      const res = await client.invokeFunction("depth", "py", "");
      const r = JSON.parse(res.data.toString());
      expect(r.errno).toEqual({ ptrace: "EPERM", io_uring_setup: "ENOSYS", keyctl: "EPERM", bpf: "EPERM", userfaultfd: "EPERM", perf_event_open: "EPERM", mount: "EPERM", getppid: "OK" });
      expect(r.seccomp).toBe("2"); // SECCOMP_MODE_FILTER
      expect(r.listings).toMatchObject({ "/usr/sbin": "ENOENT", "/usr/include": "ENOENT", "/usr/src": "ENOENT", "/usr/share/doc": "ENOENT", "/usr/local": "ENOENT", "/usr/games": "ENOENT" });
      expect(r.listings["/usr/bin"]).toBeGreaterThan(10);
      expect(r.python).toBe(true);
      expect(r.shanghaiHour).toBe(12);
      if (existsSync("/etc/ssl/certs/ca-certificates.crt")) expect(r.certificates).toBeGreaterThan(0);
    },
  );

  it("leaves a Node function everything it uses: fs, loopback sockets, /bin/sh, crypto, zlib, workers, DNS, Intl and TZ", async () => {
    // UV_USE_IO_URING asks libuv for io_uring: it must fall back to its thread pool when refused.
    await deploy(ctx.cluster, "depth", "node", { "index.js": NODE_WORKOUT }, { environmentVariables: { TZ: "Asia/Tokyo", UV_USE_IO_URING: "1" } });
    const res = await ctx.fc.invokeFunction("depth", "node", "");
    expect(res.headers["x-fc-error-type"], JSON.stringify(res.data)).toBeUndefined();
    expect(JSON.parse(res.data)).toEqual({
      file: "written",
      code: ["index.js"],
      echo: "ping",
      shell: "42",
      sha256: 64,
      verified: true,
      zlib: 1000,
      worker: 42,
      localhost: "127.0.0.1",
      shanghaiHour: "12",
      tokyoHour: 13,
      seccomp: "2",
      hidden: [],
    });
  });

  it("gives a function no descriptor it inherited by accident (only stdio and its own)", async () => {
    // Whatever the invoker's parents left open without close-on-exec must not reach the function.
    const probe = `
const fs = require("fs");
exports.handler = (event, context, callback) => {
  const open = fs.readdirSync("/proc/self/fd").map(Number).filter((fd) => fd > 3).flatMap((fd) => {
    try {
      const flags = parseInt(/^flags:\\s+([0-7]+)/m.exec(fs.readFileSync("/proc/self/fdinfo/" + fd, "utf8"))[1], 8);
      return (flags & 0o2000000) === 0 ? [fd + " -> " + fs.readlinkSync("/proc/self/fd/" + fd)] : [];
    } catch { return []; }
  });
  callback(null, JSON.stringify(open));
};`;
    await deploy(ctx.cluster, "depth", "fds", { "index.js": probe });
    const res = await ctx.fc.invokeFunction("depth", "fds", "");
    expect(JSON.parse(res.data.toString())).toEqual([]);
  });
});

import { describe, expect, it } from "vitest";
import { useCluster } from "../helpers/cluster.js";
import { deploy, eventually, processesMatching } from "../helpers/functions.js";

// Issue 14, bad input and faults: Python functions that break in every way a user's code does get
// FC's error type with a message the user can act on, through the official SDK, and the instance is
// replaced where it must be (its whole process tree gone).
const ctx = useCluster({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });

const python = (files: Record<string, string>, spec: Record<string, unknown> = {}) => ({ files, spec: { runtime: "python3", handler: "index.handler", ...spec } });
const tail = (res: { headers: Record<string, unknown> }) => Buffer.from(String(res.headers["x-fc-log-result"] ?? ""), "base64").toString();
const marker = () => `${Math.floor(Math.random() * 1e6)}.${Math.floor(Math.random() * 1e3) + 1}`;

async function deployPy(name: string, files: Record<string, string>, spec: Record<string, unknown> = {}): Promise<void> {
  const p = python(files, spec);
  await deploy(ctx.cluster, "pyfault", name, p.files, p.spec);
}

async function invoke(name: string, event = "", headers: Record<string, string> = {}) {
  return ctx.fc.invokeFunction("pyfault", name, event, headers);
}

describe("a Python function that cannot load", () => {
  it("answers a missing handler, a syntax error, a missing dependency and an initializer that raises or hangs with FC's errors", async () => {
    const cases: [string, Record<string, string>, Record<string, unknown>, string, RegExp][] = [
      ["nohandler", { "index.py": "def other(e, c):\n    return 1\n" }, {}, "HandlerNotFound", /^Handler 'handler' is missing on module 'index'$/],
      ["syntax", { "index.py": "def handler(e, c)\n    return 1\n" }, {}, "SyntaxError", /invalid syntax|expected ':'/],
      ["nodep", { "index.py": "import not_installed_anywhere\ndef handler(e, c):\n    return 1\n" }, {}, "ModuleNotFoundError", /No module named 'not_installed_anywhere'/],
      ["initraises", { "index.py": "def init(c):\n    raise KeyError('no config')\ndef handler(e, c):\n    return 1\n" }, { initializer: "index.init" }, "KeyError", /no config/],
    ];
    for (const [name, files, spec, type, message] of cases) {
      await deployPy(name, files, spec);
      const res = await invoke(name);
      expect(res.headers["x-fc-error-type"], name).toBe("UnhandledInvocationError");
      expect(res.data.errorType, name).toBe(type);
      expect(res.data.errorMessage, name).toMatch(message);
    }
    // Fixed code loads at once: nothing of the broken one is kept.
    await ctx.cluster.client().updateFunction("pyfault", "nohandler", { handler: "index.other" });
    expect((await invoke("nohandler")).data.toString()).toBe("1");
  });

  it("stops an initializer that hangs at initializationTimeout, and tries again on the next call", async () => {
    await deployPy("inithangs", { "index.py": "import time\ndef init(c):\n    time.sleep(600)\ndef handler(e, c):\n    return 1\n" }, { initializer: "index.init", initializationTimeout: 1 });
    for (let i = 0; i < 2; i++) {
      const res = await invoke("inithangs");
      expect(res.headers["x-fc-error-type"]).toBe("UnhandledInvocationError");
      expect(res.data.errorMessage).toMatch(/Function initialization timed out after 1 seconds/);
    }
  });
});

describe("a Python function that misbehaves while it runs", () => {
  it("answers a return value JSON cannot encode with the TypeError, and keeps the instance", async () => {
    await deployPy("unserialisable", { "index.py": "def handler(e, c):\n    return {'when': object()} if e == b'bad' else 'fine'\n" });
    const bad = await invoke("unserialisable", "bad");
    expect(bad.headers["x-fc-error-type"]).toBe("UnhandledInvocationError");
    expect(bad.data).toMatchObject({ errorType: "TypeError", errorMessage: "Object of type object is not JSON serializable" });
    const next = await invoke("unserialisable");
    expect(next.data.toString()).toBe("fine");
    expect(next.headers["x-fc-instance-id"]).toBe(bad.headers["x-fc-instance-id"]);
  });

  it("survives 50 MB written to stdout at once, and 50 MB in small writes, in a 128 MB function", async () => {
    const code = `
import sys
def handler(e, c):
    if e == b"once":
        sys.stdout.write("x" * (50 * 1024 * 1024))
    else:
        line = "y" * 1023
        for _ in range(50 * 1024):
            print(line)
    return "still here"
`;
    await deployPy("shouter", { "index.py": code }, { memorySize: 128, timeout: 60 });
    const once = await invoke("shouter", "once", { "x-fc-log-type": "Tail" });
    expect(once.headers["x-fc-error-type"]).toBeUndefined();
    expect(once.data.toString()).toBe("still here");
    expect(tail(once)).toMatch(/a single write of 52428800 characters was dropped: it exceeds the output limit/);
    const many = await invoke("shouter", "many", { "x-fc-log-type": "Tail" });
    expect(many.headers["x-fc-error-type"]).toBeUndefined();
    expect(many.data.toString()).toBe("still here");
    expect(many.headers["x-fc-instance-id"]).toBe(once.headers["x-fc-instance-id"]);
  });

  it("answers os._exit with 'Process exited unexpectedly' and serves the next call on a new instance", async () => {
    await deployPy("exits", { "index.py": "import os\ndef handler(e, c):\n    if e == b'exit':\n        print('leaving')\n        os._exit(3)\n    return 'alive'\n" });
    const first = await invoke("exits");
    const res = await invoke("exits", "exit", { "x-fc-log-type": "Tail" });
    expect(res.headers["x-fc-error-type"]).toBe("UnhandledInvocationError");
    expect(res.data.errorMessage).toMatch(/^Process exited unexpectedly before completing request/);
    expect(tail(res)).toContain("leaving");
    const next = await invoke("exits");
    expect(next.data.toString()).toBe("alive");
    expect(next.headers["x-fc-instance-id"]).not.toBe(first.headers["x-fc-instance-id"]);
  });

  it("lets forked children run without answering for the instance, and ends them with it", async () => {
    const mark = marker();
    const code = `
import os, subprocess, time
def handler(e, c):
    if e == b"fork":
        pid = os.fork()
        if pid == 0:
            print("child says hi")
            subprocess.Popen(["/bin/sleep", "${mark}"])
            time.sleep(0.2)
            return "from the child"
        time.sleep(0.5)
        return "from the parent %d" % os.getpid()
    if e == b"hang":
        time.sleep(600)
    return "fine"
`;
    await deployPy("forker", { "index.py": code }, { timeout: 2 });
    const res = await invoke("forker", "fork", { "x-fc-log-type": "Tail" });
    expect(res.headers["x-fc-error-type"]).toBeUndefined();
    expect(res.data.toString()).toMatch(/^from the parent \d+$/);
    expect((await invoke("forker")).data.toString()).toBe("fine");
    await eventually(async () => expect(await processesMatching(`sleep ${mark}`)).toHaveLength(1), "the child's sleep runs");
    // A timeout stops the instance: its whole process tree goes with it.
    const hung = await invoke("forker", "hang");
    expect(hung.data.errorMessage).toMatch(/^Function timed out after 2 seconds/);
    await eventually(async () => expect(await processesMatching(`sleep ${mark}`)).toEqual([]), "the instance's processes are gone");
    expect((await invoke("forker")).data.toString()).toBe("fine");
  });

  it("with instanceConcurrency 10, a thread blocked forever times out alone; the others answer, and the next call gets a new instance", async () => {
    const code = `
import threading, time
def handler(e, c):
    if e == b"block":
        threading.Event().wait()
    time.sleep(0.05)
    return e
`;
    await deployPy("blocker", { "index.py": code }, { instanceConcurrency: 10, timeout: 3 });
    const warm = await invoke("blocker", "warm");
    const blocked = invoke("blocker", "block");
    const others = await Promise.all(Array.from({ length: 8 }, (_, i) => invoke("blocker", `call ${i}`)));
    for (const [i, res] of others.entries()) {
      expect(res.data.toString()).toBe(`call ${i}`);
      expect(res.headers["x-fc-instance-id"]).toBe(warm.headers["x-fc-instance-id"]);
    }
    const res = await blocked;
    expect(res.headers["x-fc-error-type"]).toBe("UnhandledInvocationError");
    expect(res.data.errorMessage).toMatch(/^Function timed out after 3 seconds/);
    const next = await invoke("blocker", "after");
    expect(next.data.toString()).toBe("after");
    expect(next.headers["x-fc-instance-id"]).not.toBe(warm.headers["x-fc-instance-id"]);
  });

  it("ends a function that allocates past its memory limit with FC's message", async () => {
    await deployPy("hog", { "index.py": "def handler(e, c):\n    blocks = []\n    while True:\n        blocks.append(bytearray(16 * 1024 * 1024))\n" }, { memorySize: 128 });
    const res = await invoke("hog");
    expect(res.headers["x-fc-error-type"]).toBe("UnhandledInvocationError");
    expect(res.data.errorMessage).toMatch(/memory limit of 128 MB|Process exited unexpectedly|MemoryError/);
  });
});

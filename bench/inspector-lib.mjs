// The inspector side of `profile`: starts and stops the V8 sampling profiler of a running Node
// process. Run directly (`node --experimental-websocket inspector-lib.mjs <port> <out> <intervalUs>`)
// it is the client: it starts the profiler of the process listening on 127.0.0.1:<port>, says
// "started", stops on a line on stdin, writes the profile to <out> and says "done". The benchmark
// runs it under `nsenter -n` to reach an instance's inspector inside the instance's own network
// namespace; Node 20 has WebSocket only behind that flag, so no dependency is needed.
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(import.meta.url);

function lines(stream, onLine) {
  let buf = "";
  stream.on("data", (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf("\n")) !== -1) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
}

/**
 * Starts the V8 sampling profiler of a running Node process: SIGUSR1 opens its inspector (on
 * `port`, as its --inspect-port said, default 9229), then a client started here (inside the
 * process's network namespace when `netns`) starts the profiler. Resolves once it samples; its
 * `stop()` resolves with the profile. Nothing of this runs while CPU per call is measured.
 */
export async function startProfiler({ pid, port = 9229, netns = false, out, intervalUs }) {
  process.kill(pid, "SIGUSR1");
  const argv = [process.execPath, "--experimental-websocket", "--no-warnings", HERE, String(port), out, String(intervalUs)];
  const [file, ...args] = netns ? ["nsenter", "-t", String(pid), "-n", ...argv] : argv;
  const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const waiters = new Map();
  lines(child.stdout, (line) => waiters.get(line)?.());
  const said = (word) =>
    new Promise((resolve, reject) => {
      waiters.set(word, resolve);
      child.once("exit", (code) => reject(new Error(`profiler client for pid ${pid} exited (${code}) before '${word}': ${stderr.trim()}`)));
    });
  await said("started");
  return {
    async stop() {
      const done = said("done");
      child.stdin.end("stop\n");
      await done;
      return JSON.parse(await readFile(out, "utf8"));
    },
  };
}

async function client(port, out, intervalUs) {
  const until = Date.now() + 10_000;
  let url;
  while (!url) {
    try {
      const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
      url = list[0]?.webSocketDebuggerUrl;
    } catch {
      // the inspector is not listening yet
    }
    if (!url && Date.now() > until) throw new Error(`no inspector on 127.0.0.1:${port}`);
    if (!url) await new Promise((r) => setTimeout(r, 50));
  }
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
  });
  const replies = new Map();
  let next = 0;
  ws.onmessage = (e) => {
    const m = JSON.parse(String(e.data));
    replies.get(m.id)?.(m);
  };
  const call = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = ++next;
      replies.set(id, (m) => (m.error ? reject(new Error(`${method}: ${JSON.stringify(m.error)}`)) : resolve(m.result)));
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: Number(intervalUs) });
  await call("Profiler.start");
  process.stdout.write("started\n");
  await new Promise((resolve) => process.stdin.once("data", resolve));
  const { profile } = await call("Profiler.stop");
  await writeFile(out, JSON.stringify(profile));
  await call("Profiler.disable");
  ws.close();
  process.stdout.write("done\n");
}

if (process.argv[1] === HERE) {
  const [port, out, intervalUs] = process.argv.slice(2);
  await client(port, out, intervalUs);
  process.exit(0);
}

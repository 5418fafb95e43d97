import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { clientFor, loadConfig } from "./config.js";
import { parseTarget } from "./target.js";

const USAGE = `usage: nimbus invoke <service>[.<qualifier>]/<function> [--event <text> | --event @file | --event -] [--tail] [--async [--id <id>]]

Prints the function's response on stdout (its log tail on stderr with --tail). Exits 1 when the
function returns an error (x-fc-error-type), 2 when the call itself fails.

With --async the invocation is queued and its invocation id printed (the one given with --id, so a
retried command never runs it twice); 'nimbus async get <service>/<function> <id>' tells what
happened to it.
`;

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function invoke(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      event: { type: "string", short: "e" },
      tail: { type: "boolean" },
      async: { type: "boolean" },
      id: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const target = positionals[0];
  if (values.help || !target) {
    process.stdout.write(USAGE);
    if (!values.help) process.exitCode = 2; // no target
    return;
  }
  if (values.id && !values.async) throw new Error("--id names an asynchronous invocation: use it with --async");
  const { service, qualifier, fn } = parseTarget(target);
  const raw = values.event ?? "";
  const event = raw === "-" ? await readStdin() : raw.startsWith("@") ? await readFile(raw.slice(1)) : Buffer.from(raw);

  const client = clientFor(await loadConfig());
  const res = await client.invokeFunction(service, fn, event, {
    ...(qualifier ? { qualifier } : {}),
    ...(values.tail ? { logTail: true } : {}),
    ...(values.async ? { async: true } : {}),
    ...(values.id ? { headers: { "x-fc-stateful-async-invocation-id": values.id } } : {}),
  });
  if (values.async) {
    process.stdout.write(`${res.headers.get("x-fc-stateful-async-invocation-id") ?? res.requestId}\n`);
    return;
  }
  const tail = res.headers.get("x-fc-log-result");
  if (tail) process.stderr.write(Buffer.from(tail, "base64"));
  process.stdout.write(res.data);
  if (process.stdout.isTTY && !res.data.toString().endsWith("\n")) process.stdout.write("\n");
  const errorType = res.headers.get("x-fc-error-type");
  if (errorType) {
    process.stderr.write(`${errorType} (request ${res.requestId})\n`);
    process.exitCode = 1;
  }
}

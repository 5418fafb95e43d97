import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { clientFor, loadConfig } from "./config.js";

const USAGE = `usage: nimbus invoke <service>[.<qualifier>]/<function> [--event <text> | --event @file | --event -] [--tail] [--async]

Prints the function's response on stdout (its log tail on stderr with --tail). Exits 1 when the
function returns an error (x-fc-error-type), 2 when the call itself fails.
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
    options: { event: { type: "string", short: "e" }, tail: { type: "boolean" }, async: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  const target = positionals[0];
  if (values.help || !target) {
    process.stdout.write(USAGE);
    if (!target) process.exitCode = 2;
    return;
  }
  const slash = target.indexOf("/");
  if (slash <= 0) throw new Error(`name the function as <service>/<function>, got '${target}'`);
  const [service, qualifier] = target.slice(0, slash).split(".", 2) as [string, string | undefined];
  const fn = target.slice(slash + 1);
  const raw = values.event ?? "";
  const event = raw === "-" ? await readStdin() : raw.startsWith("@") ? await readFile(raw.slice(1)) : Buffer.from(raw);

  const client = clientFor(await loadConfig());
  const res = await client.invokeFunction(service, fn, event, {
    ...(qualifier ? { qualifier } : {}),
    ...(values.tail ? { logTail: true } : {}),
    ...(values.async ? { async: true } : {}),
  });
  if (values.async) {
    process.stderr.write(`accepted: ${res.requestId}\n`);
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

import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import type { NimbusClient } from "@nimbus/sdk";
import { clientFor, loadConfig } from "./config.js";
import { parseTarget } from "./target.js";

const USAGE = `usage: nimbus invoke <service>[.<qualifier>]/<function> [--event <text> | --event @file | --event -] [--tail] [--async [--id <id>]]

Prints the function's response on stdout (ending with a newline if it has none). On stderr, after
it: with --tail, the last 4 KB of the invocation's log; then the request id and the version of the
service that ran it (x-fc-request-id, x-fc-invocation-service-version: which version an alias sent
the call to). Exits 1 when the function returns an error (x-fc-error-type), 2 when the call itself
fails.

HTTP functions (handler(request, response, context)) are called through their HTTP trigger's URL
(curl), not with invoke.

With --async the invocation is queued and its invocation id printed (the one given with --id, so a
retried command never runs it twice); 'nimbus async get <service>/<function> <id>' tells what
happened to it.
`;

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** What an HTTP handler run as an event handler fails with: its `response` is FC's context. */
const HTTP_HANDLER_ERROR = /\b(setStatusCode|setHeader|deleteHeader|hasHeader|send) is not a function\b/;

/**
 * Why a function failed when it looks like an HTTP function called with invoke: the URLs of its HTTP
 * triggers, or how to give it one; undefined when it does not look like one.
 */
async function httpFunctionHint(client: NimbusClient, service: string, fn: string, errorBody: string): Promise<string | undefined> {
  const triggers = await client.listTriggers(service, fn).then(
    (res) => res.data.triggers.filter((t) => t["triggerType"] === "http"),
    () => [], // the hint is a courtesy: the error itself is printed anyway
  );
  const urls = triggers.map((t) => String(t["urlInternet"] ?? "")).filter(Boolean);
  if (urls.length > 0) return `${service}/${fn} is an HTTP function: call it through its HTTP trigger, e.g. curl ${urls.join(" or ")}`;
  if (HTTP_HANDLER_ERROR.test(errorBody)) {
    return `${service}/${fn} looks like an HTTP handler (request, response, context): give it an HTTP trigger (nimbus deploy <dir> --http anonymous) and call its URL`;
  }
  return undefined;
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
  // The answer first, as a line of its own; what else there is to say goes to stderr after it.
  process.stdout.write(res.data);
  if (res.data.length > 0 && res.data.at(-1) !== 0x0a) process.stdout.write("\n");
  const tail = res.headers.get("x-fc-log-result");
  if (tail) {
    const log = Buffer.from(tail, "base64").toString("utf8");
    process.stderr.write(log.endsWith("\n") ? log : `${log}\n`);
  }
  process.stderr.write(`x-fc-request-id: ${res.requestId}\nx-fc-invocation-service-version: ${res.headers.get("x-fc-invocation-service-version") ?? "?"}\n`);
  const errorType = res.headers.get("x-fc-error-type");
  if (errorType) {
    process.stderr.write(`${errorType} (request ${res.requestId})\n`);
    const hint = await httpFunctionHint(client, service, fn, res.data.toString("utf8"));
    if (hint) process.stderr.write(`nimbus: ${hint}\n`);
    process.exitCode = 1;
  }
}

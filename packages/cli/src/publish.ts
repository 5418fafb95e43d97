import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { connectPlatformNats } from "./nats.js";

const USAGE = `usage: nimbus publish <subject> [--data <text> | --data @file | --data -] [--header name=value]... [--request]

Publishes a message on the platform's NATS (NIMBUS_NATS_URL, or the one 'npm start' runs), e.g. to
fire NATS triggers or to fake an object-storage notification. --request waits for the reply (a
Sync trigger answers with its function's result) and prints it.
`;

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `nimbus publish`: one message (or request) on the platform's NATS. */
export async function publish(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { data: { type: "string", short: "d" }, header: { type: "string", multiple: true }, request: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  const subject = positionals[0];
  if (values.help || !subject) {
    process.stdout.write(USAGE);
    if (!values.help) process.exitCode = 2; // no subject
    return;
  }
  const raw = values.data ?? "";
  const data = raw === "-" ? await readStdin() : raw.startsWith("@") ? await readFile(raw.slice(1)) : Buffer.from(raw);
  const { nc } = await connectPlatformNats();
  try {
    const headers = natsHeaders();
    for (const h of values.header ?? []) {
      const eq = h.indexOf("=");
      if (eq <= 0) throw new Error(`--header takes name=value, got '${h}'`);
      headers.set(h.slice(0, eq), h.slice(eq + 1));
    }
    const opts = values.header?.length ? { headers } : {};
    if (values.request) {
      const reply = await nc.request(subject, data, { timeout: 60_000, ...opts });
      for (const [name, value] of reply.headers ?? []) process.stderr.write(`${name}: ${value.join(", ")}\n`);
      process.stdout.write(reply.data);
      if (process.stdout.isTTY) process.stdout.write("\n");
      if (reply.headers?.get("Nimbus-Error-Type") || reply.headers?.get("Nimbus-Error-Code")) process.exitCode = 1;
    } else {
      nc.publish(subject, data, opts);
      await nc.flush();
      process.stderr.write(`published ${data.length} bytes on ${subject}\n`);
    }
  } finally {
    await nc.close();
  }
}

import { parseArgs } from "node:util";
import { NoRespondersError, RequestError } from "@nats-io/transport-node";
import { decodeImageMessage, ImageListReply } from "@nimbus/protocol";
import { connectPlatformNats } from "./nats.js";
import { formatTable } from "./table.js";

const USAGE = `usage: nimbus images [--json] [--no-trunc] [--wait <ms>]

Lists the container images each invoker node holds in its cache — pulled for custom-container
functions, or pre-pulled when they were deployed with acceleration Default: the node, the image's
digest, its unpacked size, when an instance last started or stopped on it, how many live instances
use it now, and the references it was pulled as. A node keeps what fits NIMBUS_IMAGE_CACHE_BYTES and evicts the
least recently used images no instance uses.

Asks every node on the platform's NATS (NIMBUS_NATS_URL, or the one 'npm start' runs) and prints
the answers that arrive within --wait (default 1000 ms).

options:
  --json        the nodes' answers as JSON: [{node, images: [{digest, references, sizeBytes, lastUsed, inUse}]}]
  --no-trunc    full digests (the table shows sha256: and 12 hex digits, as docker images does)
  --wait <ms>   how long to collect answers (default 1000)
`;

const DEFAULT_WAIT_MS = 1_000;
const MAX_WAIT_MS = 60_000;

/** `nimbus images`: what every invoker node has cached, gathered over NATS. */
export async function images(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { json: { type: "boolean" }, "no-trunc": { type: "boolean" }, wait: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) return void process.stdout.write(USAGE);
  const waitMs = values.wait === undefined ? DEFAULT_WAIT_MS : Number(values.wait);
  if (!Number.isInteger(waitMs) || waitMs < 1 || waitMs > MAX_WAIT_MS) throw new Error(`--wait takes milliseconds from 1 to ${MAX_WAIT_MS}, got '${values.wait}'`);

  const replies = await askNodes(waitMs);
  if (values.json) return void process.stdout.write(`${JSON.stringify(replies, null, 2)}\n`);
  process.stdout.write(imagesTable(replies, values["no-trunc"] ?? false));
}

/** Every node's answer on `images.list` that arrives within `waitMs`, sorted by node. */
async function askNodes(waitMs: number): Promise<ImageListReply[]> {
  const { nc, naming } = await connectPlatformNats();
  const subject = naming.subjects.imagesList;
  const replies: ImageListReply[] = [];
  try {
    const answers = await nc.requestMany(subject, undefined, { strategy: "timer", maxWait: waitMs });
    for await (const msg of answers) {
      const reply = decodeImageMessage(ImageListReply, msg.data);
      if (reply) replies.push(reply);
      else process.stderr.write(`nimbus: ignored an answer on ${subject} that is not a node's image list\n`);
    }
  } catch (err) {
    // nats.js says so when nothing subscribes to the subject: no invoker runs (or another prefix).
    const noResponders = err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders());
    if (!noResponders) throw err;
    throw new Error(`no invoker node listens on ${subject}: is 'npm start' (or 'nimbus invoker') running, with this NIMBUS_PREFIX?`, { cause: err });
  } finally {
    await nc.drain();
  }
  if (replies.length === 0) throw new Error(`no invoker node answered on ${subject} within ${waitMs} ms (a longer --wait may help)`);
  return replies.sort((a, b) => a.node.localeCompare(b.node));
}

/** One row per cached image (most recently used first within a node); a node with none says so. */
export function imagesTable(replies: ImageListReply[], fullDigests: boolean): string {
  const rows = [["node", "digest", "size", "last used", "in use", "references"]];
  for (const reply of replies) {
    if (reply.images.length === 0) rows.push([reply.node, "(no images)", "", "", "", ""]);
    const byUse = [...reply.images].sort((a, b) => b.lastUsed.localeCompare(a.lastUsed));
    for (const image of byUse) {
      rows.push([
        reply.node,
        fullDigests ? image.digest : image.digest.slice(0, "sha256:".length + 12),
        formatBytes(image.sizeBytes),
        image.lastUsed.slice(0, 19).replace("T", " "),
        String(image.inUse),
        image.references.join(", "),
      ]);
    }
  }
  return formatTable(rows, ["left", "left", "right", "left", "right", "left"]);
}

/** 58.3 MB (units of 1024, as the README's limits). */
export function formatBytes(bytes: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

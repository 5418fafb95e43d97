import type { InvocationRecord } from "@nimbus/protocol";
import type { InvocationStore } from "./records.js";
import type { AsyncSubmitter } from "./submit.js";

/** Which failed invocations of a function to run again. */
export interface RedriveQuery {
  /** Failed, Expired, or both (undefined). */
  status?: "Failed" | "Expired" | undefined;
  /** Only those started at or after this time (epoch ms). */
  since?: number | undefined;
  /** Only these invocations (any other filter still applies). */
  invocationIds?: string[] | undefined;
  /** The most invocations one redrive queues. */
  limit: number;
}

export interface RedriveResult {
  redriven: { invocationId: string; newInvocationId: string }[];
  skipped: { invocationId: string; reason: string }[];
}

const REDRIVABLE = new Set(["Failed", "Expired"]);
const SUFFIX = /_redrive(\d+)$/;

/**
 * The id of the invocation that runs `id` again: the same every time (`…_redrive1`, then
 * `…_redrive2` for a redrive of that one), so repeating a redrive finds it queued already.
 */
export function redriveId(id: string): string {
  const match = SUFFIX.exec(id);
  const stem = match ? id.slice(0, match.index) : id;
  const suffix = `_redrive${match ? Number(match[1]) + 1 : 1}`;
  return `${stem.slice(0, 128 - suffix.length)}${suffix}`;
}

/**
 * Queues failed or expired stateful invocations again, with their original payload (and HTTP
 * request), under new ids linked both ways (`redriveOf`, `redrivenAs`). Each invocation is
 * redriven at most once: its new id is derived from its own, so a redrive repeated — or two at
 * once — finds that invocation queued already and runs nothing twice; one cut off between linking
 * and queueing is completed by the next.
 */
export async function redrive(records: InvocationStore, submitter: AsyncSubmitter, service: string, fn: string, query: RedriveQuery, requestId: string): Promise<RedriveResult> {
  const result: RedriveResult = { redriven: [], skipped: [] };
  for await (const record of candidates(records, service, fn, query)) {
    if (result.redriven.length >= query.limit) break;
    if (!REDRIVABLE.has(record.status)) {
      result.skipped.push({ invocationId: record.invocationId, reason: `it is ${record.status} (only Failed and Expired invocations are redriven)` });
      continue;
    }
    if (query.status && record.status !== query.status) continue;
    if (query.since !== undefined && record.startedTime < query.since) continue;
    const newId = redriveId(record.invocationId);
    await records.linkRedrive(service, fn, record.invocationId, newId);
    const { duplicate } = await submitter.submit({
      service,
      fn,
      qualifier: record.qualifier,
      requestId: `${requestId}-${result.redriven.length + result.skipped.length}`,
      invocationId: newId,
      payload: record.rawPayload ? Buffer.from(record.rawPayload, "base64") : Buffer.from(record.invocationPayload, "utf8"),
      http: record.http,
      redriveOf: record.invocationId,
      stateful: true,
    });
    if (duplicate) result.skipped.push({ invocationId: record.invocationId, reason: `already redriven as ${newId}` });
    else result.redriven.push({ invocationId: record.invocationId, newInvocationId: newId });
  }
  return result;
}

/** The records a query names, or the function's Failed/Expired ones in start order. */
async function* candidates(records: InvocationStore, service: string, fn: string, query: RedriveQuery): AsyncGenerator<InvocationRecord> {
  if (query.invocationIds) {
    for (const id of query.invocationIds) {
      const record = await records.get(service, fn, id);
      if (record) yield record;
    }
    return;
  }
  for (const status of query.status ? [query.status] : (["Failed", "Expired"] as const)) {
    let nextToken: string | undefined;
    do {
      const page = await records.list(service, fn, { status, startedTimeBegin: query.since, limit: 100, nextToken });
      yield* page.invocations;
      nextToken = page.nextToken;
    } while (nextToken);
  }
}

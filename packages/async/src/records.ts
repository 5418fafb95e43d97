import { isUtf8 } from "node:buffer";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { RedisClient } from "@nimbus/service-kit";
import { FINAL_STATUSES, type InvocationEvent, type InvocationRecord, type InvocationStatus, type Naming } from "@nimbus/protocol";
import type { HttpRequestInfo } from "@nimbus/protocol/wire";

const script = (name: string) => readFileSync(fileURLToPath(new URL(`./lua/${name}`, import.meta.url)), "utf8");
const SAVE = script("save-invocation-3.lua");
const CREATE = script("create-invocation-3.lua");

type RedisWithScripts = RedisClient & {
  saveInvocation(record: string, events: string, lock: string, token: string, mode: "write" | "destination", value: string, retentionMs: number, ...eventsAndFields: (string | number)[]): Promise<number>;
  createInvocation(record: string, events: string, index: string, id: string, startedTime: number, retentionMs: number, now: number, event: string, ...fields: string[]): Promise<number>;
};

export interface ListQuery {
  status?: InvocationStatus | undefined;
  startedTimeBegin?: number | undefined;
  startedTimeEnd?: number | undefined;
  invocationIdPrefix?: string | undefined;
  /** Only invocations made on this qualifier. */
  qualifier?: string | undefined;
  sortOrderByTime?: "asc" | "desc" | undefined;
  limit: number;
  nextToken?: string | undefined;
}

const PAGE = 200;

/** The fields of an invocation record to change: who it is, its status, and anything else. */
export type InvocationUpdate = Pick<InvocationRecord, "serviceName" | "functionName" | "invocationId" | "status"> & Partial<Omit<InvocationRecord, "events">>;

const NUMBERS = new Set(["startedTime", "endTime", "alreadyRetriedTimes", "durationMs", "depth"]);
/** Fields kept as JSON in the hash. */
const OBJECTS = new Set(["pendingDestination", "http"]);

/** A record's fields as the hash stores them (strings; the pending destination as JSON). */
function flatten(fields: Partial<InvocationRecord>): string[] {
  const flat: string[] = [];
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined || name === "events") continue;
    flat.push(name, typeof value === "string" ? value : typeof value === "number" ? String(value) : JSON.stringify(value));
  }
  return flat;
}

function unflatten(hash: Record<string, string>, events: string[]): InvocationRecord | undefined {
  if (!hash["status"]) return undefined;
  const record: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(hash)) {
    record[name] = NUMBERS.has(name) ? Number(value) : OBJECTS.has(name) ? JSON.parse(value) : value;
  }
  record["events"] = events.map((json, i) => ({ eventId: i + 1, ...(JSON.parse(json) as Omit<InvocationEvent, "eventId">) }));
  return record as unknown as InvocationRecord;
}

function eventJson(status: InvocationStatus, detail = "", timestamp = Date.now()): string {
  return JSON.stringify({ status, timestamp, eventDetail: detail });
}

/**
 * Every asynchronous invocation's record, kept for the retention period: what FC's
 * stateful-async-invocation API returns, and what tells a caller (or an operator) what happened.
 * A record is a Redis hash (updates touch only the fields they change; no JSON is rewritten in
 * Redis) with its state changes in a list beside it, and each function has an index by start time.
 */
export class InvocationStore {
  private readonly redis: RedisWithScripts;

  constructor(
    redis: RedisClient,
    private readonly naming: Naming,
    readonly retentionMs: number,
  ) {
    if (!("saveInvocation" in redis)) redis.defineCommand("saveInvocation", { numberOfKeys: 3, lua: SAVE });
    if (!("createInvocation" in redis)) redis.defineCommand("createInvocation", { numberOfKeys: 3, lua: CREATE });
    this.redis = redis as RedisWithScripts;
  }

  private keys(service: string, fn: string, id: string): [string, string] {
    return [this.naming.redis.invocation(service, fn, id), this.naming.redis.invocationEvents(service, fn, id)];
  }

  /** Records a new invocation; false when one with this id already exists. */
  async create(record: InvocationRecord): Promise<boolean> {
    const [key, events] = this.keys(record.serviceName, record.functionName, record.invocationId);
    const first = record.events[0];
    const created = await this.redis.createInvocation(
      key,
      events,
      this.naming.redis.invocationIndex(record.serviceName, record.functionName),
      record.invocationId,
      record.startedTime,
      this.retentionMs,
      Date.now(),
      eventJson(record.status, first?.eventDetail ?? "", first?.timestamp ?? record.startedTime),
      ...flatten(record),
    );
    return created === 1;
  }

  /** Removes a record that was created but whose job could not be queued. */
  async discard(record: InvocationRecord): Promise<void> {
    await this.redis
      .multi()
      .del(...this.keys(record.serviceName, record.functionName, record.invocationId))
      .zrem(this.naming.redis.invocationIndex(record.serviceName, record.functionName), record.invocationId)
      .exec();
  }

  async get(service: string, fn: string, id: string): Promise<InvocationRecord | undefined> {
    return (await this.getMany(service, fn, [id]))[0];
  }

  private async getMany(service: string, fn: string, ids: string[]): Promise<(InvocationRecord | undefined)[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) {
      const [key, events] = this.keys(service, fn, id);
      pipeline.hgetall(key).lrange(events, 0, -1);
    }
    const replies = (await pipeline.exec()) ?? [];
    return ids.map((_, i) => {
      const [hashErr, hash] = replies[2 * i] ?? [];
      const [eventsErr, events] = replies[2 * i + 1] ?? [];
      if (hashErr) throw hashErr;
      if (eventsErr) throw eventsErr;
      return unflatten((hash ?? {}) as Record<string, string>, (events ?? []) as string[]);
    });
  }

  /**
   * Changes the given fields of a record unless it is already final (or being stopped, for a
   * non-final state); with `lock`, only while that BullMQ lock is still held by `lock.token`. A
   * change of status is appended to the record's events (with `detail`). Returns what happened:
   * "refused" means the stored record is final or Stopping.
   */
  async save(
    update: InvocationUpdate,
    options: { lock?: { key: string; token: string } | undefined; detail?: string; ranSince?: { at: number; detail: string } | undefined } = {},
  ): Promise<"saved" | "refused" | "lost"> {
    const [key, events] = this.keys(update.serviceName, update.functionName, update.invocationId);
    const lock = options.lock;
    // A run not recorded when it started (it ended quickly) gets its Running event with its end.
    const appended = options.ranSince ? [eventJson("Running", options.ranSince.detail, options.ranSince.at), eventJson(update.status, options.detail)] : [eventJson(update.status, options.detail)];
    const result = await this.redis.saveInvocation(
      key,
      events,
      lock?.key ?? key,
      lock?.token ?? "",
      "write",
      update.status,
      this.retentionMs,
      appended.length,
      ...appended,
      ...flatten(update),
    );
    return result === 1 ? "saved" : result === 0 ? "refused" : "lost";
  }

  /** Records how delivering a final invocation's destination record went. */
  async setDestinationStatus(service: string, fn: string, id: string, status: string): Promise<void> {
    const [key, events] = this.keys(service, fn, id);
    await this.redis.saveInvocation(key, events, key, "", "destination", status, this.retentionMs, 0);
  }

  /** Marks an invocation as run again by another (a redrive; the new id is always the same). */
  async linkRedrive(service: string, fn: string, id: string, newId: string): Promise<void> {
    // Only on a record that still exists (a bare field would never expire).
    await this.redis.eval("if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'redrivenAs', ARGV[1]) end return 0", 1, this.keys(service, fn, id)[0], newId);
  }

  /** A page of a function's invocations, filtered as FC's ListStatefulAsyncInvocations does. */
  async list(service: string, fn: string, query: ListQuery): Promise<{ invocations: InvocationRecord[]; nextToken?: string }> {
    const index = this.naming.redis.invocationIndex(service, fn);
    const desc = query.sortOrderByTime === "desc";
    let offset = query.nextToken ? Number.parseInt(query.nextToken, 10) || 0 : 0;
    const min = query.startedTimeBegin ?? "-inf";
    const max = query.startedTimeEnd ?? "+inf";
    const found: InvocationRecord[] = [];
    for (;;) {
      const ids = desc
        ? await this.redis.zrevrangebyscore(index, max, min, "LIMIT", offset, PAGE)
        : await this.redis.zrangebyscore(index, min, max, "LIMIT", offset, PAGE);
      if (ids.length === 0) return { invocations: found };
      const wanted = ids.filter((id) => !query.invocationIdPrefix || id.startsWith(query.invocationIdPrefix));
      const records = new Map(wanted.map((id, i) => [id, i]));
      const loaded = await this.getMany(service, fn, wanted);
      for (const id of ids) {
        offset++;
        const at = records.get(id);
        const record = at === undefined ? undefined : loaded[at];
        if (!record) continue;
        if (query.status && record.status !== query.status) continue;
        if (query.qualifier && record.qualifier !== query.qualifier) continue;
        found.push(record);
        if (found.length === query.limit) return { invocations: found, nextToken: String(offset) };
      }
    }
  }
}

/**
 * A new invocation's record, `Enqueued` now, with what running it again needs (a redrive): its
 * request for an HTTP trigger, and its bytes when they are not text.
 */
export function newInvocationRecord(fields: {
  invocationId: string;
  requestId: string;
  service: string;
  fn: string;
  qualifier: string;
  enqueuedAt: number;
  payload: Buffer;
  http?: HttpRequestInfo | undefined;
  depth?: number | undefined;
  redriveOf?: string | undefined;
}): InvocationRecord {
  return {
    ...(fields.http ? { http: fields.http } : {}),
    ...(isUtf8(fields.payload) ? {} : { rawPayload: fields.payload.toString("base64") }),
    ...(fields.depth ? { depth: fields.depth } : {}),
    ...(fields.redriveOf ? { redriveOf: fields.redriveOf } : {}),
    invocationId: fields.invocationId,
    requestId: fields.requestId,
    status: "Enqueued",
    serviceName: fields.service,
    functionName: fields.fn,
    qualifier: fields.qualifier,
    startedTime: fields.enqueuedAt,
    alreadyRetriedTimes: 0,
    destinationStatus: "",
    invocationErrorMessage: "",
    invocationPayload: fields.payload.toString("utf8"),
    events: [{ eventId: 1, status: "Enqueued", timestamp: fields.enqueuedAt, eventDetail: "" }],
  };
}

/** A record as FC's API shows it (internal fields dropped; the payload only when asked for). */
export function invocationView(record: InvocationRecord, includePayload = true) {
  return {
    invocationId: record.invocationId,
    requestId: record.requestId,
    status: record.status,
    serviceName: record.serviceName,
    functionName: record.functionName,
    qualifier: record.qualifier,
    startedTime: record.startedTime,
    ...(record.endTime === undefined ? {} : { endTime: record.endTime }),
    alreadyRetriedTimes: record.alreadyRetriedTimes,
    destinationStatus: record.destinationStatus,
    invocationErrorMessage: record.invocationErrorMessage,
    ...(includePayload ? { invocationPayload: record.invocationPayload } : {}),
    ...(record.instanceId === undefined ? {} : { instanceId: record.instanceId }),
    ...(record.durationMs === undefined ? {} : { durationMs: record.durationMs }),
    ...(record.returnPayload === undefined ? {} : { returnPayload: record.returnPayload }),
    ...(record.redriveOf === undefined ? {} : { redriveOf: record.redriveOf }),
    ...(record.redrivenAs === undefined ? {} : { redrivenAs: record.redrivenAs }),
    events: record.events.map((e) => ({ eventId: e.eventId, status: e.status, timestamp: e.timestamp, eventDetail: e.eventDetail })),
  };
}

export function isFinal(status: InvocationStatus): boolean {
  return FINAL_STATUSES.has(status);
}

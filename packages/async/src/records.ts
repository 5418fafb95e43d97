import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Redis } from "ioredis";
import { FINAL_STATUSES, type InvocationRecord, type InvocationStatus, type Naming } from "@nimbus/protocol";

const script = (name: string) => readFileSync(fileURLToPath(new URL(`./lua/${name}`, import.meta.url)), "utf8");
const SAVE = script("save-invocation-2.lua");
const CREATE = script("create-invocation-2.lua");

type RedisWithScripts = Redis & {
  saveInvocation(record: string, lock: string, token: string, value: string, mode: "write" | "destination", now: number, detail: string, retentionMs: number): Promise<number>;
  createInvocation(record: string, index: string, json: string, id: string, startedTime: number, retentionMs: number, now: number): Promise<number>;
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

/**
 * Every asynchronous invocation's record, kept for the retention period: what FC's
 * stateful-async-invocation API returns, and what tells a caller (or an operator) what happened.
 */
export class InvocationStore {
  private readonly redis: RedisWithScripts;

  constructor(
    redis: Redis,
    private readonly naming: Naming,
    readonly retentionMs: number,
  ) {
    if (!("saveInvocation" in redis)) redis.defineCommand("saveInvocation", { numberOfKeys: 2, lua: SAVE });
    if (!("createInvocation" in redis)) redis.defineCommand("createInvocation", { numberOfKeys: 2, lua: CREATE });
    this.redis = redis as RedisWithScripts;
  }

  /** Records a new invocation; false when one with this id already exists. */
  async create(record: InvocationRecord): Promise<boolean> {
    const created = await this.redis.createInvocation(
      this.naming.redis.invocation(record.serviceName, record.functionName, record.invocationId),
      this.naming.redis.invocationIndex(record.serviceName, record.functionName),
      JSON.stringify(record),
      record.invocationId,
      record.startedTime,
      this.retentionMs,
      Date.now(),
    );
    return created === 1;
  }

  /** Removes a record that was created but whose job could not be queued. */
  async discard(record: InvocationRecord): Promise<void> {
    await this.redis.del(this.naming.redis.invocation(record.serviceName, record.functionName, record.invocationId));
    await this.redis.zrem(this.naming.redis.invocationIndex(record.serviceName, record.functionName), record.invocationId);
  }

  async get(service: string, fn: string, id: string): Promise<InvocationRecord | undefined> {
    const json = await this.redis.get(this.naming.redis.invocation(service, fn, id));
    return json ? (JSON.parse(json) as InvocationRecord) : undefined;
  }

  /**
   * Saves (merges) the given fields of a record unless it is already final (or being stopped, for a non-final state); with `lock`,
   * only while that BullMQ lock is still held by `lock.token`. A change of status is appended to the
   * record's events (with `detail`). Returns what happened: "refused" means the stored record is
   * final or Stopping.
   */
  async save(record: InvocationUpdate, options: { lock?: { key: string; token: string } | undefined; detail?: string } = {}): Promise<"saved" | "refused" | "lost"> {
    const key = this.naming.redis.invocation(record.serviceName, record.functionName, record.invocationId);
    const { events: _kept, ...fields } = record as Partial<InvocationRecord>;
    const lock = options.lock;
    const result = await this.redis.saveInvocation(key, lock?.key ?? key, lock?.token ?? "", JSON.stringify(fields), "write", Date.now(), options.detail ?? "", this.retentionMs);
    return result === 1 ? "saved" : result === 0 ? "refused" : "lost";
  }

  /** Records how delivering a final invocation's destination record went. */
  async setDestinationStatus(service: string, fn: string, id: string, status: string): Promise<void> {
    const key = this.naming.redis.invocation(service, fn, id);
    await this.redis.saveInvocation(key, key, "", status, "destination", Date.now(), "", this.retentionMs);
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
      const records = wanted.length ? await this.redis.mget(wanted.map((id) => this.naming.redis.invocation(service, fn, id))) : [];
      for (let i = 0; i < ids.length; i++) {
        offset++;
        const at = wanted.indexOf(ids[i] as string);
        const json = at === -1 ? null : records[at];
        if (!json) continue;
        const record = JSON.parse(json) as InvocationRecord;
        if (query.status && record.status !== query.status) continue;
        if (query.qualifier && record.qualifier !== query.qualifier) continue;
        found.push(record);
        if (found.length === query.limit) return { invocations: found, nextToken: String(offset) };
      }
    }
  }
}

/** A new invocation's record, `Enqueued` now. */
export function newInvocationRecord(fields: {
  invocationId: string;
  requestId: string;
  service: string;
  fn: string;
  qualifier: string;
  enqueuedAt: number;
  payload: Buffer;
}): InvocationRecord {
  return {
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
    events: (Array.isArray(record.events) ? record.events : []).map((e) => ({ eventId: e.eventId, status: e.status, timestamp: e.timestamp, eventDetail: e.eventDetail })),
  };
}

export function isFinal(status: InvocationStatus): boolean {
  return FINAL_STATUSES.has(status);
}

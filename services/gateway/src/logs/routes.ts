import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { NatsConnection } from "@nats-io/nats-core";
import type { RedisClient } from "@nimbus/service-kit";
import { z } from "zod";
import {
  assertName,
  bucketPercentile,
  DURATION_BUCKETS_MS,
  errors,
  intField,
  logLineView,
  NimbusError,
  parseOrThrow,
  QUALIFIER_PATTERN,
  type InvocationLogRecord,
  type InvocationRecordBatch,
  type LogBatch,
  type LogLine,
} from "@nimbus/protocol";
import type { GatewayContext } from "../context.js";
import type { FunctionCatalog } from "../functions/catalog.js";
import { LogReader } from "./reader.js";

interface Params {
  serviceName: string;
  functionName: string;
}

/** A point in time: ISO 8601 or epoch milliseconds. */
const instant = z.union([
  z.string().regex(/^\d{10,16}$/).transform(Number),
  z
    .string()
    .max(64)
    .transform((v, ctx) => {
      const t = Date.parse(v);
      if (Number.isNaN(t)) {
        ctx.addIssue({ code: "custom", message: "must be an ISO 8601 time or epoch milliseconds" });
        return z.NEVER;
      }
      return t;
    }),
]);

/** Page tokens: `<sequence>.<index>` (where to go on in the logs stream). */
const token = z.string().regex(/^\d{1,16}\.\d{1,9}$/, { error: "is not a token this API returned" });

const LogsQuery = z.object({
  qualifier: z.string().regex(QUALIFIER_PATTERN).optional(),
  requestId: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/).optional(),
  since: instant.optional(),
  until: instant.optional(),
  keyword: z.string().min(1).max(256).optional(),
  stream: z.enum(["stdout", "stderr"]).optional(),
  limit: intField(1, 1_000).default(100),
  nextToken: token.optional(),
  follow: z.enum(["true", "false"]).optional(),
});

const InvocationsQuery = z.object({
  qualifier: z.string().regex(QUALIFIER_PATTERN).optional(),
  requestId: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/).optional(),
  status: z.enum(["Succeeded", "Failed", "Throttled"]).optional(),
  since: instant.optional(),
  until: instant.optional(),
  limit: intField(1, 1_000).default(100),
  nextToken: token.optional(),
});

const MetricsQuery = z.object({
  /** Only the calls made on this alias or version (LATEST: every call, as without it). */
  qualifier: z.string().regex(QUALIFIER_PATTERN).optional(),
  since: instant.optional(),
  until: instant.optional(),
  step: intField(60, 86_400).default(60),
});

/** Without `since`, a search looks this far back. */
const DEFAULT_WINDOW_MS = 15 * 60_000;
/** One page reads at most this much of the stream before answering with a token. */
const SCAN = { maxMessages: 2_000, maxMs: 3_000 };
/** Followers one gateway serves at once. */
const MAX_FOLLOWERS = 256;

function parseToken(value: string | undefined): { seq: number; index: number } | undefined {
  if (!value) return undefined;
  const [seq, index] = value.split(".").map(Number);
  return { seq: seq as number, index: index as number };
}

/**
 * The logs API: a function's output lines (by request id — through the collector's index — or by
 * time, qualifier, stream and keyword; `follow=true` streams new lines as Server-Sent Events), its
 * invocation records, and per-function figures over time. All read the logs stream and the
 * collector's Redis indexes; none touches the invocation path.
 */
export function logRoutes(app: FastifyInstance, ctx: GatewayContext, functions: FunctionCatalog, nc: NatsConnection, redis: RedisClient): void {
  const reader = new LogReader(nc, ctx.naming, redis);
  let followers = 0;
  const target = (params: Params) => {
    const service = assertName("service", params.serviceName);
    const fn = assertName("function", params.functionName);
    functions.get(service, fn);
    return { service, fn };
  };

  app.get<{ Params: Params }>("/2016-08-15/services/:serviceName/functions/:functionName/logs", async (req, reply) => {
    const t = target(req.params);
    const q = parseOrThrow(LogsQuery, req.query);
    const keep = (line: LogLine) =>
      (!q.requestId || line.r === q.requestId) &&
      (!q.qualifier || line.q === q.qualifier || line.v === q.qualifier) &&
      (!q.stream || (q.stream === "stderr") === (line.s === 2)) &&
      (!q.keyword || line.m.includes(q.keyword)) &&
      (q.since === undefined || line.t >= q.since) &&
      (q.until === undefined || line.t <= q.until);

    if (q.follow === "true") return follow(req, reply, ctx.naming.subjects.logs(t.service, t.fn), keep);

    const page: LogLine[] = [];
    const from = parseToken(q.nextToken);
    let next: string | undefined;
    const take = (seq: number, lines: LogLine[], startIndex: number): boolean => {
      for (let i = startIndex; i < lines.length; i++) {
        const line = lines[i] as LogLine;
        if (!keep(line)) continue;
        if (page.length === q.limit) {
          next = `${seq}.${i}`;
          return false;
        }
        page.push(line);
      }
      return true;
    };

    const indexed = q.requestId ? await reader.requestSequences(t.service, t.fn, q.requestId) : [];
    if (q.requestId && indexed.length > 0) {
      // The collector knows where this request's lines are: read just those batches.
      for (const seq of indexed) {
        if (from && seq < from.seq) continue;
        const batch = await reader.get<LogBatch>(seq);
        if (batch && !take(seq, batch.body.lines, from && seq === from.seq ? from.index : 0)) break;
      }
    } else {
      const scan = reader.scan<LogBatch>(
        ctx.naming.subjects.logs(t.service, t.fn),
        from ? { seq: from.seq } : { time: q.since ?? Date.now() - DEFAULT_WINDOW_MS },
        q.until,
        SCAN,
      );
      for (;;) {
        const step = await scan.next();
        if (step.done) {
          if (step.value.next !== undefined && next === undefined) next = `${step.value.next}.0`;
          break;
        }
        const { seq, body } = step.value;
        if (!take(seq, body.lines, from && seq === from.seq ? from.index : 0)) {
          await scan.return({});
          break;
        }
      }
    }
    return { logs: page.map(logLineView), ...(next ? { nextToken: next } : {}) };
  });

  app.get<{ Params: Params }>("/2016-08-15/services/:serviceName/functions/:functionName/invocations-log", async (req) => {
    const t = target(req.params);
    const q = parseOrThrow(InvocationsQuery, req.query);
    const from = parseToken(q.nextToken);
    const page: InvocationLogRecord[] = [];
    let next: string | undefined;
    const scan = reader.scan<InvocationRecordBatch>(
      ctx.naming.subjects.invocationRecords(t.service, t.fn),
      from ? { seq: from.seq } : { time: q.since ?? Date.now() - DEFAULT_WINDOW_MS },
      q.until,
      SCAN,
    );
    outer: for (;;) {
      const step = await scan.next();
      if (step.done) {
        if (step.value.next !== undefined) next = `${step.value.next}.0`;
        break;
      }
      const { seq, body } = step.value;
      for (let i = from && seq === from.seq ? from.index : 0; i < body.records.length; i++) {
        const r = body.records[i] as InvocationLogRecord;
        if (q.requestId && r.requestId !== q.requestId) continue;
        if (q.qualifier && r.qualifier !== q.qualifier && r.versionId !== q.qualifier) continue;
        if (q.status && r.status !== q.status) continue;
        if ((q.since !== undefined && r.startTime < q.since) || (q.until !== undefined && r.startTime > q.until)) continue;
        if (page.length === q.limit) {
          next = `${seq}.${i}`;
          await scan.return({});
          break outer;
        }
        page.push(r);
      }
    }
    return {
      invocations: page.map((r) => ({ ...r, startTime: new Date(r.startTime).toISOString() })),
      ...(next ? { nextToken: next } : {}),
    };
  });

  app.get<{ Params: Params }>("/2016-08-15/services/:serviceName/functions/:functionName/metrics", async (req) => {
    const t = target(req.params);
    const q = parseOrThrow(MetricsQuery, req.query);
    if (q.step % 60 !== 0) throw errors.invalidArgument("step must be a whole number of minutes (60, 120, … seconds)");
    const until = q.until ?? Date.now();
    const since = q.since ?? until - 3_600_000;
    if (since > until) throw errors.invalidArgument("since must not be after until");
    const firstMinute = Math.floor(since / 60_000);
    const lastMinute = Math.floor(until / 60_000);
    if (lastMinute - firstMinute > 7 * 24 * 60) throw errors.invalidArgument("a range covers at most 7 days");
    const minutes = Array.from({ length: lastMinute - firstMinute + 1 }, (_, i) => firstMinute + i);
    const pipeline = redis.pipeline();
    const on = q.qualifier && q.qualifier !== "LATEST" ? q.qualifier : undefined;
    for (const m of minutes) pipeline.hgetall(on ? ctx.naming.redis.qualifierMinute(t.service, t.fn, on, m) : ctx.naming.redis.functionMinute(t.service, t.fn, m));
    const results = (await pipeline.exec().catch((err: unknown) => {
      throw errors.unavailable("the metrics store (Redis) is unreachable; retry", err);
    })) ?? [];
    const perStep = q.step / 60;
    const points = [];
    for (let i = 0; i < minutes.length; i += perStep) {
      const sum = { invocations: 0, errors: 0, throttles: 0, timeouts: 0, coldStarts: 0, durationSumMs: 0 };
      const buckets = new Array<number>(DURATION_BUCKETS_MS.length + 1).fill(0);
      let min = Number.POSITIVE_INFINITY;
      let max = Number.NEGATIVE_INFINITY;
      for (let j = i; j < Math.min(i + perStep, minutes.length); j++) {
        const hash = ((results[j] ?? [])[1] ?? {}) as Record<string, string>;
        for (const key of Object.keys(sum) as (keyof typeof sum)[]) sum[key] += Number(hash[key] ?? 0);
        for (let b = 0; b < buckets.length; b++) buckets[b] = (buckets[b] as number) + Number(hash[`b${b}`] ?? 0);
        if (hash["durationMinMs"] !== undefined) min = Math.min(min, Number(hash["durationMinMs"]));
        if (hash["durationMaxMs"] !== undefined) max = Math.max(max, Number(hash["durationMaxMs"]));
      }
      // Percentiles are interpolated within histogram buckets, then kept within what was seen.
      const p = (x: number) => {
        const v = bucketPercentile(buckets, x);
        if (v === undefined) return null;
        const seen = Number.isFinite(max) ? Math.min(max, Math.max(min, v)) : v;
        return Math.round(seen * 100) / 100;
      };
      points.push({
        timestamp: new Date((minutes[i] as number) * 60_000).toISOString(),
        invocations: sum.invocations,
        errors: sum.errors,
        throttles: sum.throttles,
        timeouts: sum.timeouts,
        coldStarts: sum.coldStarts,
        durationAvgMs: sum.invocations ? Math.round((sum.durationSumMs / sum.invocations) * 100) / 100 : null,
        durationP50Ms: p(0.5),
        durationP90Ms: p(0.9),
        durationP99Ms: p(0.99),
        durationMaxMs: Number.isFinite(max) ? max : null,
      });
    }
    return { service: t.service, function: t.fn, ...(on ? { qualifier: on } : {}), step: q.step, points };
  });

  /** New lines as Server-Sent Events (`event: log`), until the client leaves. */
  async function follow(req: FastifyRequest, reply: FastifyReply, subject: string, keep: (line: LogLine) => boolean): Promise<FastifyReply> {
    if (followers >= MAX_FOLLOWERS) throw new NimbusError("ResourceExhausted", `this gateway already streams ${MAX_FOLLOWERS} followers; retry later`);
    followers++;
    const res = reply.raw;
    let open = true;
    const sub = nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err || !open) return;
        let batch: LogBatch;
        try {
          batch = msg.json<LogBatch>();
        } catch {
          return;
        }
        const out = batch.lines.filter(keep).map((line) => `event: log\ndata: ${JSON.stringify(logLineView(line))}\n\n`);
        if (out.length) res.write(out.join(""));
      },
    });
    let heartbeat: NodeJS.Timeout | undefined;
    const end = () => {
      if (!open) return;
      open = false;
      clearInterval(heartbeat);
      sub.unsubscribe();
      followers--;
    };
    try {
      // Once NATS has the subscription, every line published from here on reaches this client:
      // only then does the client hear it is following.
      await nc.flush();
    } catch (err) {
      end();
      throw errors.unavailable("the message bus (NATS) is unreachable; retry", err);
    }
    reply.hijack();
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-accel-buffering": "no",
      "x-fc-request-id": req.id,
    });
    res.write(": following\n\n");
    heartbeat = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
    res.once("close", end);
    if (res.destroyed) end();
    return reply;
  }
}

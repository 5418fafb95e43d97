import { randomUUID } from "node:crypto";
import type { MsgHdrs } from "@nats-io/nats-core";
import type { OssTriggerConfig } from "@nimbus/protocol";

/** FC's timer event. `triggerTime` is the tick the event is for (UTC, seconds). */
export function timerEvent(triggerName: string, tickMs: number, payload: string): Buffer {
  return Buffer.from(JSON.stringify({ triggerTime: new Date(tickMs).toISOString().replace(/\.\d{3}Z$/, "Z"), triggerName, payload }));
}

/** A CloudEvent in structured mode (the JSON a function receives). */
export interface CloudEvent {
  specversion: string;
  id: string;
  source: string;
  type: string;
  subject?: string;
  time?: string;
  datacontenttype?: string;
  data?: unknown;
  data_base64?: string;
  [extension: string]: unknown;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

function parseJson(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  if (bytes.length === 0) return { ok: false };
  try {
    return { ok: true, value: JSON.parse(decoder.decode(bytes)) };
  } catch {
    return { ok: false };
  }
}

/** True for a structured-mode CloudEvent (the four required attributes, as strings). */
function isStructured(value: unknown): value is CloudEvent {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  return typeof v["specversion"] === "string" && typeof v["id"] === "string" && typeof v["source"] === "string" && typeof v["type"] === "string";
}

/** `data` for a JSON payload, else `data_base64`. */
function dataOf(payload: Uint8Array, contentType: string | undefined): Pick<CloudEvent, "datacontenttype" | "data" | "data_base64"> {
  const json = contentType === undefined || /json/i.test(contentType) ? parseJson(payload) : { ok: false as const };
  if (json.ok) return { datacontenttype: contentType ?? "application/json", data: json.value };
  if (contentType && /^text\//i.test(contentType)) {
    try {
      return { datacontenttype: contentType, data: decoder.decode(payload) };
    } catch {
      // not UTF-8 after all: base64 below
    }
  }
  return { datacontenttype: contentType ?? "application/octet-stream", data_base64: Buffer.from(payload).toString("base64") };
}

/**
 * The CloudEvents 1.0 event (structured JSON) a function receives for a NATS message. A message
 * that already is a CloudEvent — structured JSON, or binary mode with `ce-*` headers — is passed
 * through (binary mode turned into structured).
 */
export function natsCloudEvent(msg: { subject: string; data: Uint8Array; headers?: MsgHdrs | undefined }, server: string, id?: string): CloudEvent {
  const payload = msg.data;
  const headers = msg.headers;
  const structured = parseJson(payload);
  if (structured.ok && isStructured(structured.value)) return structured.value;
  if (headers?.has("ce-specversion") && headers.has("ce-id") && headers.has("ce-source") && headers.has("ce-type")) {
    const event: Record<string, unknown> = {};
    for (const [name, values] of headers) {
      const lower = name.toLowerCase();
      if (lower.startsWith("ce-") && lower.length > 3) event[lower.slice(3)] = values[0];
    }
    return { ...(event as unknown as CloudEvent), ...dataOf(payload, headers.get("content-type") || undefined) };
  }
  return {
    specversion: "1.0",
    id: id ?? (headers?.get("Nats-Msg-Id") || randomUUID()),
    source: `nats://${server}/${msg.subject}`,
    type: "nimbus.nats.message",
    subject: msg.subject,
    time: new Date().toISOString(),
    ...dataOf(payload, headers?.get("content-type") || undefined),
  };
}

/** One record of an S3-format bucket notification (MinIO, Ceph RGW, Garage publish these). */
export interface S3Record {
  eventName: string;
  eventTime?: string;
  awsRegion?: string;
  s3: { bucket: { name: string; arn?: string }; object: { key: string; size?: number; eTag?: string; sequencer?: string } };
  requestParameters?: { sourceIPAddress?: string };
  responseElements?: Record<string, string>;
  userIdentity?: { principalId?: string };
}

/** The records of an S3-format notification (`{EventName, Key, Records: […]}`); [] when it is not one. */
export function s3Records(body: Uint8Array): S3Record[] {
  const parsed = parseJson(body);
  if (!parsed.ok || typeof parsed.value !== "object" || parsed.value === null) return [];
  const records = (parsed.value as { Records?: unknown }).Records;
  if (!Array.isArray(records)) return [];
  return records.filter(
    (r): r is S3Record =>
      typeof r === "object" &&
      r !== null &&
      typeof (r as S3Record).eventName === "string" &&
      typeof (r as S3Record).s3?.bucket?.name === "string" &&
      typeof (r as S3Record).s3?.object?.key === "string",
  );
}

/** S3 event names and the FC (OSS) names they are. */
const S3_TO_OSS: Record<string, string> = {
  "s3:ObjectCreated:Put": "oss:ObjectCreated:PutObject",
  "s3:ObjectCreated:Post": "oss:ObjectCreated:PostObject",
  "s3:ObjectCreated:Copy": "oss:ObjectCreated:CopyObject",
  "s3:ObjectCreated:CompleteMultipartUpload": "oss:ObjectCreated:CompleteMultipartUpload",
  "s3:ObjectCreated:PutRetention": "oss:ObjectModified:UpdateObjectMeta",
  "s3:ObjectCreated:PutLegalHold": "oss:ObjectModified:UpdateObjectMeta",
  "s3:ObjectCreated:PutTagging": "oss:ObjectModified:UpdateObjectMeta",
  "s3:ObjectRemoved:Delete": "oss:ObjectRemoved:DeleteObject",
  "s3:ObjectRemoved:DeleteMarkerCreated": "oss:ObjectRemoved:DeleteObject",
  "s3:ObjectRemoved:NoOP": "oss:ObjectRemoved:DeleteObject",
};

/** The FC name of an S3 event (undefined for events FC has no name for). */
export function ossEventName(s3EventName: string): string | undefined {
  return S3_TO_OSS[s3EventName];
}

/** Object keys in S3 notifications are URL-encoded, with '+' for spaces. */
export function objectKey(encoded: string): string {
  try {
    return decodeURIComponent(encoded.replace(/\+/g, "%20"));
  } catch {
    return encoded;
  }
}

/** True when an OSS trigger's config takes this event for this key. */
export function ossMatches(config: OssTriggerConfig, eventName: string, key: string): boolean {
  const wanted = config.events.some((e) => e === eventName || (e.endsWith(":*") && eventName.startsWith(e.slice(0, -1))));
  return wanted && key.startsWith(config.filter.key.prefix) && key.endsWith(config.filter.key.suffix);
}

/** FC's OSS event for one record. */
export function ossEvent(record: S3Record, eventName: string, key: string, region: string): Buffer {
  const fcName = eventName.replace(/^oss:/, "");
  return Buffer.from(
    JSON.stringify({
      events: [
        {
          eventName: fcName,
          eventSource: "acs:oss",
          eventTime: record.eventTime ?? new Date().toISOString(),
          eventVersion: "1.0",
          region,
          oss: {
            bucket: { name: record.s3.bucket.name, arn: `acs:oss:${region}::${record.s3.bucket.name}` },
            object: { key, size: record.s3.object.size ?? 0, eTag: record.s3.object.eTag ?? "" },
            ossSchemaVersion: "1.0",
          },
          requestParameters: { sourceIPAddress: record.requestParameters?.sourceIPAddress ?? "" },
          responseElements: { requestId: record.responseElements?.["x-amz-request-id"] ?? "" },
          userIdentity: { principalId: record.userIdentity?.principalId ?? "" },
        },
      ],
    }),
  );
}

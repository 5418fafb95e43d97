import type { WireError } from "../errors.js";
import type { ErrorType, HttpRequestInfo, HttpResponseInfo } from "./frames.js";

/** How a call reached the function: the `trigger` label of metrics and invocation records. */
export type TriggerKind = "api" | "http" | "async" | "timer" | "nats" | "oss";

/**
 * gateway (or async-queue, trigger-router) → invoker, msgpack over NATS (the request id and
 * `traceparent` in NATS headers, never in a subject) or in a `call` frame on a direct link.
 */
export interface InvokeRequest {
  service: string;
  function: string;
  /** As the caller wrote it (`LATEST`, a version id, an alias). */
  qualifier: string;
  /** The concrete version that must run; absent for LATEST. */
  versionId?: string;
  /** The instance class the caller resolved (see instanceClass): invokers refuse to run another one. */
  cls: string;
  kind: "event" | "http";
  trigger: TriggerKind;
  /** The payload inline, or… */
  body?: Uint8Array;
  /** …the name of an object in the payload store (payloads over the server's max_payload). */
  bodyRef?: string;
  http?: HttpRequestInfo;
  /** FC's OpenTracing baggage the caller sent, for the function's context. */
  baggage?: Record<string, string>;
  /** Return the last 4 KB of the invocation's log. */
  logTail: boolean;
  /** Epoch ms after which the caller has given up. */
  deadline: number;
  /** A bigger function result is replaced by an error saying so. */
  maxResponseBytes: number;
  /** How many times this request was already redirected or retried (bounded). */
  hops: number;
  /** Every other invoker answered busy: wait for a slot on this one instead of answering busy. */
  lastResort?: boolean;
  /**
   * At the function's instance limit, answer ResourceExhausted at once rather than wait for a slot
   * to free up (an asynchronous call: it waits in its queue instead).
   */
  noQueueWait?: boolean;
}

/** What an invocation produced (the function ran, successfully or not). */
export interface InvocationOutcome {
  body?: Uint8Array;
  bodyRef?: string;
  errorType?: ErrorType;
  http?: HttpResponseInfo;
  durationMs: number;
  maxMemoryMb: number;
  instanceId: string;
  versionId: string;
  coldStart: boolean;
  initDurationMs?: number;
  logTail?: Uint8Array;
}

/** invoker → caller. A request may get an `accepted` first, then exactly one final answer. */
export type InvokeReply =
  /** The invoker took the request and is working on it (sent when it takes a while). */
  | { s: "accepted"; node: string }
  | ({ s: "done" } & InvocationOutcome)
  /** No free slot here and no room to start one: try another invoker. */
  | { s: "busy"; node: string }
  /** A warm instance with a free slot exists on that node: send it there. */
  | { s: "redirect"; node: string }
  /** The function changed since the caller resolved it: resolve again and retry. */
  | { s: "stale" }
  /** A platform error (throttled, invalid, internal): no function code ran. */
  | { s: "failed"; error: WireError };

/** NATS header names on invocation messages. */
export const InvokeHeaders = {
  requestId: "Nimbus-Request-Id",
  traceparent: "traceparent",
  /** How many invocations came before in the chain this message continues (loop protection). */
  chainDepth: "Nimbus-Chain-Depth",
} as const;

/**
 * Where an invoker takes calls directly (its heartbeat says): a TCP address, and the token a caller
 * must present first. The token travels only on the message bus, so whoever may publish invocations
 * there may also call directly, and nobody else.
 */
export interface DirectAdvert {
  address: string;
  token: string;
}

/**
 * caller → invoker on a direct link: length-prefixed msgpack frames (see FrameReader) on a
 * persistent TCP connection. `hello` first, within a few seconds, or the invoker hangs up.
 */
export type ToInvoker =
  | { t: "hello"; token: string; caller: string }
  | { t: "call"; id: number; requestId: string; traceparent?: string; req: InvokeRequest };

/**
 * invoker → caller on a direct link: `welcome` (with the classes it holds instances of) once the
 * caller is known, then changes to those classes, replies, and `draining` when it stops taking calls.
 */
export type FromInvoker =
  | { t: "welcome"; node: string; classes: string[] }
  | { t: "classes"; add: string[]; remove: string[] }
  | { t: "reply"; id: number; reply: InvokeReply }
  | { t: "draining" };

/** The largest hello a direct link accepts from a caller not yet known. */
export const MAX_HELLO_BYTES = 4 * 1024;

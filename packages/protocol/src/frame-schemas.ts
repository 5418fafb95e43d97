import { z } from "zod";
import type { FromInstance } from "./wire/frames.js";

/**
 * What an instance may send its invoker, checked on arrival. The function's own code runs in the
 * instance and can write to its control channel, so nothing it sends is trusted: a frame that does
 * not match is a protocol error that stops the instance. (The types live in `wire/frames.ts`, which
 * the runtime imports without zod.)
 */
const id = z.number().int().min(-1).max(Number.MAX_SAFE_INTEGER);
const bytes = z.instanceof(Uint8Array);
const headerValue = z.union([z.string(), z.array(z.string())]);

const FunctionErrorSchema = z.object({
  errorType: z.enum(["HandledInvocationError", "UnhandledInvocationError"]),
  errorMessage: z.string(),
  body: bytes,
});

const HttpResponseSchema = z.object({
  status: z.number().int(),
  headers: z.record(z.string(), headerValue),
});

export const FromInstanceSchema = z.discriminatedUnion("t", [
  z.object({ t: z.literal("hello"), pid: z.number().int() }),
  z.object({ t: z.literal("loaded"), error: FunctionErrorSchema.optional() }),
  z.object({ t: z.literal("initialized"), id, error: FunctionErrorSchema.optional() }),
  z.object({ t: z.literal("result"), id, body: bytes, http: HttpResponseSchema.optional() }),
  z.object({ t: z.literal("error"), id, error: FunctionErrorSchema }),
  z.object({ t: z.literal("log"), id, stream: z.union([z.literal(1), z.literal(2)]), data: bytes }),
  z.object({ t: z.literal("pong"), id }),
  z.object({ t: z.literal("preStopped"), id, error: FunctionErrorSchema.optional() }),
  z.object({ t: z.literal("fatal"), message: z.string() }),
]) satisfies z.ZodType<FromInstance>;

/** Checks a decoded frame from an instance; throws a ZodError naming what is wrong. */
export function parseFromInstance(value: unknown): FromInstance {
  return FromInstanceSchema.parse(value) as FromInstance;
}

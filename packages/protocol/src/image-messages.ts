import { z } from "zod";
import { Limits } from "./limits.js";

/**
 * The messages gateways and invokers exchange about custom-container images, on the subjects
 * `naming.subjects.imagesPrepull`, `imagesPulled` and `imagesList`. JSON, validated on receipt.
 */

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const digest = z.string().regex(DIGEST, { error: "must be sha256:<64 hex digits>" });
const node = z.string().min(1).max(128);

/** `imagesPrepull`: pull this image now, so the function's first call does not wait for it. */
export const ImagePrepull = z.object({
  /** `registry/repository@sha256:…`, as the function record holds it. */
  pinned: z.string().min(1).max(Limits.containerImageChars),
  digest,
});
export type ImagePrepull = z.output<typeof ImagePrepull>;

/** `imagesPulled`: a node's cache holds this image now (after a pre-pull or a pull for an instance). */
export const ImagePulled = z.object({ digest, node });
export type ImagePulled = z.output<typeof ImagePulled>;

/** One image in a node's cache (the shape of @nimbus/images' CachedImage). */
export const CachedImageInfo = z.object({
  digest,
  references: z.array(z.string().max(Limits.containerImageChars)).max(1000),
  sizeBytes: z.number().int().min(0),
  lastUsed: z.string(),
  inUse: z.number().int().min(0),
});
export type CachedImageInfo = z.output<typeof CachedImageInfo>;

/** A node's answer on `imagesList`. */
export const ImageListReply = z.object({ node, images: z.array(CachedImageInfo).max(100_000) });
export type ImageListReply = z.output<typeof ImageListReply>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes an image message (JSON). */
export function encodeImageMessage(message: ImagePrepull | ImagePulled | ImageListReply): Uint8Array {
  return encoder.encode(JSON.stringify(message));
}

/** Decodes and validates an image message; undefined when it is not one. */
export function decodeImageMessage<S extends z.ZodType>(schema: S, data: Uint8Array): z.output<S> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

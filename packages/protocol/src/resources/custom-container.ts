import { z } from "zod";
import { errors } from "../errors.js";
import { Limits } from "../limits.js";
import { boolField } from "../validation.js";

/** FC's `accelerationType`: `Default` pre-pulls the image on invoker nodes when it is set; `None` pulls at first use. */
export const ACCELERATION_TYPES = ["Default", "None"] as const;
export type AccelerationType = (typeof ACCELERATION_TYPES)[number];

/** FC's `accelerationInfo.status`: `Ready` once an invoker node holds the image, `Preparing` until then. */
export type AccelerationStatus = "Preparing" | "Ready";

/**
 * The characters an image reference may have (the distribution grammar's alphabet, IPv6 hosts
 * included). A cheap shape check; the gateway parses the reference itself before resolving it.
 */
const IMAGE_SHAPE = /^[A-Za-z0-9][A-Za-z0-9._\-/:@[\]]*$/;

const image = z
  .string({ error: "must be a string" })
  .min(1, { error: "is required" })
  .max(Limits.containerImageChars, { error: `must be at most ${Limits.containerImageChars} characters` })
  .regex(IMAGE_SHAPE, { error: "must be an image reference such as registry.example.com/team/app:v1 or …/app@sha256:<digest>" });

const EXAMPLE = `e.g. "[\\"/code/myserver\\", \\"--port\\", \\"9000\\"]"`;

/**
 * Reads FC's `command`/`args`: a string holding a JSON array of strings. "" means unset. Returns the
 * array, or a message saying what is wrong with the text.
 */
export function readJsonStringArray(text: string): string[] | undefined | { error: string } {
  if (text.trim() === "") return undefined;
  if (text.length > Limits.containerCommandChars) return { error: `must be at most ${Limits.containerCommandChars} characters` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { error: `must be a JSON array of strings, ${EXAMPLE}; '${text.slice(0, 64)}' is not JSON` };
  }
  if (!Array.isArray(value)) return { error: `must be a JSON array of strings, ${EXAMPLE}` };
  if (value.length > Limits.containerCommandEntries) return { error: `must have at most ${Limits.containerCommandEntries} entries` };
  for (const [i, entry] of value.entries()) {
    if (typeof entry !== "string") return { error: `must be a JSON array of strings; entry ${i} is ${entry === null ? "null" : typeof entry}` };
    if (entry.length > Limits.containerCommandEntryChars) return { error: `entry ${i} is longer than ${Limits.containerCommandEntryChars} characters` };
    if (entry.includes("\0")) return { error: `entry ${i} contains a NUL character` };
  }
  return value as string[];
}

/** FC's string-typed `command`/`args`, validated as a JSON array of strings and kept as the text given. */
const jsonStringArray = z.string({ error: `must be a string holding a JSON array of strings, ${EXAMPLE}` }).superRefine((text, ctx) => {
  const read = readJsonStringArray(text);
  if (read !== undefined && !Array.isArray(read)) ctx.addIssue({ code: "custom", message: read.error });
});

/**
 * `customContainerConfig` as a request carries it; every field optional (an update changes only the
 * fields it sends; a create must name the image — see CreateFunctionBody).
 */
export const CustomContainerConfigFields = z.object({
  image: image.optional(),
  command: jsonStringArray.optional(),
  args: jsonStringArray.optional(),
  accelerationType: z
    .enum(ACCELERATION_TYPES, {
      error: (issue) => `is set to an invalid value ${JSON.stringify(issue.input)}; valid values: ${ACCELERATION_TYPES.join(", ")}`,
    })
    .optional(),
  /** ACR Enterprise instance id: stored and reported; Nimbus reaches registries directly. */
  instanceID: z.string({ error: "must be a string" }).max(128, { error: "must be at most 128 characters" }).optional(),
  webServerMode: boolField().optional(),
});
export type CustomContainerConfigFields = z.output<typeof CustomContainerConfigFields>;

/** `customContainerConfig` as stored: the image as given, FC's defaults applied at create. */
export const CustomContainerConfigRecord = CustomContainerConfigFields.required({ image: true, accelerationType: true, webServerMode: true });
export type CustomContainerConfigRecord = z.output<typeof CustomContainerConfigRecord>;

/** What the image reference resolved to when it was last set: every node runs `pinned`, never the tag. */
export const ResolvedImageRecord = z.object({
  /** The reference as the registry resolved it, normalized (`registry/repository:tag`). */
  reference: z.string(),
  /** `sha256:…` of the manifest or index the reference named then. */
  digest: z.string(),
  /** `registry/repository@sha256:…` */
  pinned: z.string(),
});
export type ResolvedImageRecord = z.output<typeof ResolvedImageRecord>;

/** FC's defaults for a new function's customContainerConfig. */
export function containerConfigWithDefaults(fields: CustomContainerConfigFields & { image: string }): CustomContainerConfigRecord {
  return { accelerationType: "Default", webServerMode: true, ...fields };
}

/** An update's fields over the stored config: only the fields sent change. */
export function mergeContainerConfig(current: CustomContainerConfigRecord, patch: CustomContainerConfigFields): CustomContainerConfigRecord {
  const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
  return { ...current, ...defined };
}

/** How an image instance starts: the stored config's command and args as argv arrays (undefined: the image's own). */
export function containerArgv(config: CustomContainerConfigRecord): { command: string[] | undefined; args: string[] | undefined } {
  return { command: storedArray(config.command), args: storedArray(config.args) };
}

function storedArray(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const read = readJsonStringArray(text);
  // Stored configs were validated on the way in; one that no longer reads is a bug, not user input.
  if (read !== undefined && !Array.isArray(read)) throw errors.internal(`a stored customContainerConfig does not read: ${read.error}`);
  return read;
}

/** FC's CustomContainerConfigInfo, plus the digest-pinned reference it runs (FC 3.0's `resolvedImageUri`). */
export function customContainerView(config: CustomContainerConfigRecord, resolved: ResolvedImageRecord | undefined, status: AccelerationStatus) {
  return {
    image: config.image,
    command: config.command ?? "",
    args: config.args ?? "",
    accelerationType: config.accelerationType,
    accelerationInfo: { status },
    instanceID: config.instanceID ?? "",
    webServerMode: config.webServerMode,
    ...(resolved ? { resolvedImageUri: resolved.pinned } : {}),
  };
}

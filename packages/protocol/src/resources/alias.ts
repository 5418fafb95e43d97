import { z } from "zod";
import { Limits } from "../limits.js";
import { LATEST, NAME_PATTERN, VERSION_ID_PATTERN } from "../names.js";

/** Alias names: FC's name pattern, and never something a qualifier would read as a version or LATEST. */
const aliasName = z
  .string({ error: "is required" })
  .regex(NAME_PATTERN, { error: "is not a valid alias name" })
  .refine((name) => name !== LATEST && !VERSION_ID_PATTERN.test(name), { error: "cannot be LATEST or a version id" });

const versionId = z.preprocess(
  (v) => (typeof v === "number" && Number.isInteger(v) ? String(v) : v),
  z.string({ error: "is required" }).regex(VERSION_ID_PATTERN, { error: "must be a version id" }),
);

/** `{ "<versionId>": weight }`, weights between 0 and 1. */
const weights = z
  .record(
    z.string().regex(VERSION_ID_PATTERN, { error: "keys must be version ids" }),
    z.number({ error: "weights must be numbers" }).min(0, { error: "weights must be between 0 and 1" }).max(1, { error: "weights must be between 0 and 1" }),
  )
  .refine((w) => Object.keys(w).length <= 1, { error: "at most one additional version can take traffic" });

const description = z.string().max(Limits.descriptionChars, { error: `must be at most ${Limits.descriptionChars} characters` });

/** Body of `POST /services/{svc}/aliases`. */
export const CreateAliasBody = z.object({
  aliasName,
  versionId,
  description: description.optional(),
  additionalVersionWeight: weights.optional(),
  resolvePolicy: z.enum(["Random"]).optional(),
});
export type CreateAliasBody = z.output<typeof CreateAliasBody>;

/** Body of `PUT /services/{svc}/aliases/{alias}`: only the fields sent change. */
export const UpdateAliasBody = z.object({
  versionId: versionId.optional(),
  description: description.optional(),
  additionalVersionWeight: weights.optional(),
  resolvePolicy: z.enum(["Random"]).optional(),
});
export type UpdateAliasBody = z.output<typeof UpdateAliasBody>;

/** An alias as stored in KV. */
export const AliasRecord = z.object({
  serviceName: z.string(),
  aliasName: z.string(),
  versionId: z.string(),
  description: z.string(),
  additionalVersionWeight: z.record(z.string(), z.number()),
  createdTime: z.string(),
  lastModifiedTime: z.string(),
});
export type AliasRecord = z.output<typeof AliasRecord>;

export function aliasView(record: AliasRecord) {
  return {
    aliasName: record.aliasName,
    versionId: record.versionId,
    description: record.description,
    additionalVersionWeight: record.additionalVersionWeight,
    resolvePolicy: "Random",
    createdTime: record.createdTime,
    lastModifiedTime: record.lastModifiedTime,
  };
}

/** Every version an alias sends traffic to. */
export function aliasVersions(record: AliasRecord): string[] {
  return [record.versionId, ...Object.keys(record.additionalVersionWeight)];
}

/**
 * The version one call through an alias runs: the additional version with its weight's
 * probability, else the alias's own. `random` is in [0, 1).
 */
export function pickAliasVersion(record: AliasRecord, random: number): string {
  let threshold = 0;
  for (const [version, weight] of Object.entries(record.additionalVersionWeight)) {
    threshold += weight;
    if (random < threshold) return version;
  }
  return record.versionId;
}

import { z } from "zod";
import { Limits } from "../limits.js";

const tagKey = z
  .string()
  .min(1, { error: "tag keys must not be empty" })
  .max(Limits.tagKeyChars, { error: `tag keys are at most ${Limits.tagKeyChars} characters` })
  .refine((k) => !/^(aliyun|acs:)/i.test(k), { error: "tag keys must not start with 'aliyun' or 'acs:'" })
  .refine((k) => !/https?:\/\//i.test(k), { error: "tag keys must not contain 'http://' or 'https://'" })
  .refine((k) => !["__proto__", "constructor", "prototype"].includes(k), { error: "tag key is reserved" });

const tagValue = z
  .string({ error: "tag values must be strings" })
  .max(Limits.tagValueChars, { error: `tag values are at most ${Limits.tagValueChars} characters` })
  .refine((v) => !/https?:\/\//i.test(v), { error: "tag values must not contain 'http://' or 'https://'" });

/** Body of `POST /tag`. */
export const TagResourceBody = z.object({
  resourceArn: z.string({ error: "is required" }).min(1).max(512),
  tags: z
    .record(tagKey, tagValue)
    .refine((t) => Object.keys(t).length >= 1, { error: "at least one tag is required" })
    .refine((t) => Object.keys(t).length <= Limits.tagsPerResource, {
      error: `at most ${Limits.tagsPerResource} tags are allowed`,
    }),
});

/** Body of `DELETE /tag`. */
export const UntagResourceBody = z
  .object({
    resourceArn: z.string({ error: "is required" }).min(1).max(512),
    tagKeys: z.array(z.string().max(Limits.tagKeyChars)).max(Limits.tagsPerResource).optional(),
    all: z.boolean().optional(),
  })
  .refine((b) => b.all === true || (b.tagKeys?.length ?? 0) > 0, { error: "tagKeys must name at least one key unless all is true" });

import { z } from "zod";
import { Defaults, intField, Limits } from "@nimbus/protocol";

/** FC's list query: `limit`, `prefix`, `startKey`, `nextToken`. */
export const ListQuery = z.object({
  limit: intField(1, Limits.listLimitMax).default(Defaults.listLimit),
  prefix: z.string().max(128).optional(),
  startKey: z.string().max(128).optional(),
  nextToken: z.string().max(128).optional(),
});
export type ListQuery = z.output<typeof ListQuery>;

/**
 * One page of a listing the way FC pages: sorted by name, `prefix` filters, `startKey` is the
 * first name to include, `nextToken` (the name of the next item) takes precedence over `startKey`.
 */
export function paginate<T>(items: readonly T[], nameOf: (item: T) => string, query: ListQuery): { page: T[]; nextToken?: string } {
  const start = query.nextToken ?? query.startKey;
  const sorted = items
    .filter((item) => {
      const name = nameOf(item);
      return (query.prefix === undefined || name.startsWith(query.prefix)) && (start === undefined || name >= start);
    })
    .sort((a, b) => (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0));
  const page = sorted.slice(0, query.limit);
  const next = sorted[query.limit];
  return next === undefined ? { page } : { page, nextToken: nameOf(next) };
}

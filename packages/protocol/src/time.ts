/** Formats a time the way FC's API returns `createdTime` / `lastModifiedTime`: `2018-06-04T06:38:07Z`. */
export function fcTimestamp(date: Date = new Date()): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

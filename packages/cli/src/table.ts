/** How a column is padded: text on the right ("left"-aligned), figures on the left ("right"). */
export type Align = "left" | "right";

/**
 * Rows as aligned columns, two spaces apart, trailing spaces trimmed. `align` gives each column's
 * alignment; by default the first column is text and the others figures.
 */
export function formatTable(rows: string[][], align: Align[] = ["left"]): string {
  const columns = Math.max(0, ...rows.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  const alignOf = (c: number): Align => align[c] ?? (c === 0 ? "left" : "right");
  return rows
    .map((r) => `${r.map((cell, c) => (alignOf(c) === "left" ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join("  ").trimEnd()}\n`)
    .join("");
}

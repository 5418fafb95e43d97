/** Turns a service's JSON log line into a short console line, or undefined to leave it in the log file. */
export function consoleLine(service: string, line: string, verbose: boolean): string | undefined {
  if (!line.startsWith("{")) return line.trim() ? `[${service}] ${line}` : undefined;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `[${service}] ${line}`;
  }
  const level = String(entry["level"] ?? "info");
  const important = level === "warn" || level === "error" || level === "fatal";
  if (!verbose && !important) return undefined;
  const { level: _l, time: _t, service: _s, node: _n, msg, pid: _p, hostname: _h, ...fields } = entry;
  const extra = Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : "";
  return `[${service}] ${level.toUpperCase()} ${String(msg ?? "")}${extra}`;
}

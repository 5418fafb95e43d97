import { ImageError, type ImageErrorCode } from "./errors.js";
import { runTool, type RunOptions, type ToolResult } from "./tools.js";
import type { RegistryAccess } from "./types.js";

/** `127.0.0.1:5000` → `127.0.0.1`, `[::1]:5000` → `::1`, `r.io` → `r.io` */
function hostOf(registry: string): string {
  if (registry.startsWith("[")) return registry.slice(1, registry.indexOf("]"));
  const colon = registry.lastIndexOf(":");
  return colon < 0 ? registry : registry.slice(0, colon);
}

/** localhost, 127.0.0.0/8 and ::1: registries Docker lets speak plain HTTP without being told. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = hostOf(registry).toLowerCase();
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * May this registry be reached over plain HTTP (and TLS without verification)? Yes when it is on
 * loopback, or listed in `insecureRegistries` as `host:port`, or as a bare `host` (any port).
 */
export function isInsecureRegistry(registry: string, access: RegistryAccess): boolean {
  if (isLoopbackRegistry(registry)) return true;
  return access.insecureRegistries.some((entry) => entry === registry || (!entry.includes(":") && entry === hostOf(registry)));
}

/**
 * skopeo's flags for reaching `registry`: TLS verification off only for insecure ones (skopeo then
 * falls back to plain HTTP), credentials from the auth file, or explicitly none (so a node never
 * sends whatever a `~/.docker/config.json` of its user holds). `src` for `skopeo copy`'s source side.
 */
export function skopeoAccessFlags(registry: string, access: RegistryAccess, side: "inspect" | "src"): string[] {
  const prefix = side === "src" ? "--src-" : "--";
  return [
    ...(isInsecureRegistry(registry, access) ? [`${prefix}tls-verify=false`] : []),
    ...(access.authFile ? [`${prefix}authfile`, access.authFile] : [`${prefix}no-creds`]),
  ];
}

const RULES: { code: ImageErrorCode; pattern: RegExp }[] = [
  { code: "Unauthorized", pattern: /unauthorized|authentication required|\b401\b|\b403\b|requested access to the resource is denied|\bdenied:|forbidden|invalid username\/password|incorrect username or password/i },
  { code: "NotFound", pattern: /manifest unknown|name unknown|repository name not known|not found|\b404\b/i },
  {
    code: "Unavailable",
    pattern: /connection refused|connection reset|timeout|timed out|no such host|\beof\b|broken pipe|no route to host|network is unreachable|tls|x509|\b5\d\d\b|server gave http response/i,
  },
];

/** What skopeo said, without logrus's framing and the `Error parsing image name "…": ` preamble. */
export function skopeoMessage(stderr: string): string {
  const lines = stderr.split("\n").filter((l) => l.trim() !== "");
  const fatal = [...lines].reverse().find((l) => /level=(fatal|error)/.test(l)) ?? lines.at(-1) ?? "";
  const quoted = /msg="((?:[^"\\]|\\.)*)"/.exec(fatal)?.[1];
  const message = quoted === undefined ? fatal.trim() : quoted.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c === "t" ? " " : c));
  // A registry's error list comes as `errors:\n<code>: <message>\n…` (token auth's refusals do): one line.
  const oneLine = message
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .reduce((line, part) => (line === "" ? part : `${line}${line.endsWith(":") ? " " : "; "}${part}`), "");
  return oneLine.replace(/^(?:Error parsing image name|initializing source) "?docker:\/\/\S*?"?: /, "");
}

/** The ImageError for a failed skopeo run on `what` (e.g. `image r.io/a:v1`), keeping the registry's words. */
export function skopeoError(result: ToolResult, what: string, timeoutMs: number): ImageError {
  if (result.timedOut) {
    return new ImageError("Unavailable", `${what}: the registry did not answer within ${timeoutMs} ms (skopeo was stopped)`);
  }
  const said = skopeoMessage(result.stderr);
  if (result.signal) return new ImageError("Unavailable", `${what}: skopeo was killed by ${result.signal}${said ? ` (${said})` : ""}`);
  const rule = RULES.find((r) => r.pattern.test(said));
  const code = rule?.code ?? "Unavailable";
  const lead: Record<ImageErrorCode, string> = {
    Unauthorized: "the registry refused access",
    NotFound: "not found in the registry",
    Unavailable: "the registry is unavailable",
    InvalidReference: "invalid reference",
    NoMatchingPlatform: "no matching platform",
    TooLarge: "too large",
    CacheFull: "cache full",
    InvalidImage: "invalid image",
  };
  const hint = /server gave http response/i.test(said) ? " (a plain-HTTP registry must be listed in NIMBUS_INSECURE_REGISTRIES)" : "";
  return new ImageError(code, `${what}: ${lead[code]}: ${said || `skopeo exited with ${result.code}`}${hint}`);
}

/** Runs skopeo and returns its stdout, or throws the ImageError its failure means. */
export async function skopeo(args: string[], what: string, options: RunOptions): Promise<Buffer> {
  const result = await runTool("skopeo", args, options);
  if (result.code === 0 && !result.timedOut) return result.stdout;
  throw skopeoError(result, what, options.timeoutMs);
}

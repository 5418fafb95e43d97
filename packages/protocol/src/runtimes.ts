/**
 * Every Node.js runtime name Function Compute has accepted; all of them run on the host's Node.js.
 * Anything else but the custom runtimes is rejected the way FC rejects it.
 */
export const NODE_RUNTIMES = [
  "nodejs4.4",
  "nodejs6",
  "nodejs8",
  "nodejs10",
  "nodejs12",
  "nodejs14",
  "nodejs16",
  "nodejs18",
  "nodejs20",
] as const;

/** Custom runtimes: an executable `bootstrap` serving HTTP on caPort. */
export const CUSTOM_RUNTIMES = ["custom", "custom.debian10"] as const;

export type NodeRuntime = (typeof NODE_RUNTIMES)[number];
export type CustomRuntime = (typeof CUSTOM_RUNTIMES)[number];
export type Runtime = NodeRuntime | CustomRuntime;

const ALL: ReadonlySet<string> = new Set([...NODE_RUNTIMES, ...CUSTOM_RUNTIMES]);

/** True for a runtime Nimbus can run. */
export function isSupportedRuntime(value: string): value is Runtime {
  return ALL.has(value);
}

/** True for the custom runtimes (bootstrap + HTTP server). */
export function isCustomRuntime(value: string): value is CustomRuntime {
  return (CUSTOM_RUNTIMES as readonly string[]).includes(value);
}

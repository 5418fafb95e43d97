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

/**
 * FC's Python 3 runtime names. Each runs on the node's interpreter of that version when it has one,
 * else on its default `python3` (the invoker says which in the function's log at a cold start).
 */
export const PYTHON_RUNTIMES = ["python3", "python3.9", "python3.10", "python3.12"] as const;

/** Custom runtimes: an executable `bootstrap` serving HTTP on caPort. */
export const CUSTOM_RUNTIMES = ["custom", "custom.debian10"] as const;

/** FC's custom container: an OCI image (`customContainerConfig`) serving HTTP on caPort; no code package. */
export const CUSTOM_CONTAINER_RUNTIME = "custom-container";

export type NodeRuntime = (typeof NODE_RUNTIMES)[number];
export type PythonRuntime = (typeof PYTHON_RUNTIMES)[number];
export type CustomRuntime = (typeof CUSTOM_RUNTIMES)[number];
export type CustomContainerRuntime = typeof CUSTOM_CONTAINER_RUNTIME;
export type Runtime = NodeRuntime | PythonRuntime | CustomRuntime | CustomContainerRuntime;

/** Every runtime name the API accepts, in the order error messages list them. */
export const RUNTIMES: readonly Runtime[] = [...NODE_RUNTIMES, ...PYTHON_RUNTIMES, ...CUSTOM_RUNTIMES, CUSTOM_CONTAINER_RUNTIME];

const ALL: ReadonlySet<string> = new Set(RUNTIMES);

/** True for a runtime Nimbus can run. */
export function isSupportedRuntime(value: string): value is Runtime {
  return ALL.has(value);
}

/** True for FC's Node.js runtimes. */
export function isNodeRuntime(value: string): value is NodeRuntime {
  return (NODE_RUNTIMES as readonly string[]).includes(value);
}

/** True for FC's Python 3 runtimes. */
export function isPythonRuntime(value: string): value is PythonRuntime {
  return (PYTHON_RUNTIMES as readonly string[]).includes(value);
}

/** True for the custom runtimes (bootstrap + HTTP server). */
export function isCustomRuntime(value: string): value is CustomRuntime {
  return (CUSTOM_RUNTIMES as readonly string[]).includes(value);
}

/** True for FC's `custom-container` runtime (an image, not a code package). */
export function isCustomContainer(value: string): value is CustomContainerRuntime {
  return value === CUSTOM_CONTAINER_RUNTIME;
}

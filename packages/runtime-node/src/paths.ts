import { fileURLToPath } from "node:url";

/**
 * Where the bundled runtime lives on the host; the sandbox mounts this directory read-only and runs
 * `node <dir>/runtime.cjs`. It also holds `preinstalled/node_modules`: the modules FC preinstalls
 * for Node.js handlers (raw-body).
 */
export const RUNTIME_DIR = fileURLToPath(new URL(".", import.meta.url));
export const RUNTIME_ENTRY = "runtime.cjs";
export const PREINSTALLED_MODULES = "preinstalled/node_modules";
export { WARMUP_MODULE, WARMUP_VARIABLE } from "./names.js";

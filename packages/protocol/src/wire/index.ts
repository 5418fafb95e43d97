/**
 * The invocation wire protocol, importable without the rest of the protocol package (no zod), so
 * the runtime inside an instance stays small and starts fast.
 */
export * from "./codec.js";
export * from "./frames.js";
export * from "./invoke.js";

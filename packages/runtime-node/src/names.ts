// Names shared by the runtime (bundled, where paths.ts's import.meta cannot go) and the invoker.

/** A no-op handler module beside the runtime, which a pre-started runtime loads and calls once to warm up. */
export const WARMUP_MODULE = "warmup-handler.cjs";
/** Set in a pre-started sandbox's boot environment (and gone once its function's replaces it): warm up while waiting. */
export const WARMUP_VARIABLE = "NIMBUS_RUNTIME_WARMUP";

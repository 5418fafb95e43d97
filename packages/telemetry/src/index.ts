export * from "./logger.js";
export * from "./metrics.js";
export * from "./tracing.js";
export * from "./faas-metrics.js";
export * from "./attributes.js";

export * from "./env.js";
export * from "./nats.js";
export * from "./lifecycle.js";
export * from "./presence.js";
export * from "./redis.js";
export * from "./batch.js";
export * from "./metrics-server.js";
export * from "./trace-services.js";

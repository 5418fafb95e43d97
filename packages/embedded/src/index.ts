export * from "./binaries.js";
export * from "./ports.js";
export * from "./process.js";
export * from "./handle.js";
export * from "./server-process.js";
export * from "./nats-server.js";
export * from "./redis-server.js";
export * from "./nimbus-service.js";

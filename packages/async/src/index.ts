export * from "./records.js";
export * from "./queues.js";

export * from "./records.js";
export * from "./queues.js";
export * from "./submit.js";
export * from "./redrive.js";
export * from "./clock.js";

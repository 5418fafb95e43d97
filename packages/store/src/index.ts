export * from "./repository.js";
export * from "./mirror.js";
export * from "./code-store.js";
export * from "./control-plane.js";
export * from "./payload-store.js";
export * from "./mirror-set.js";
export * from "./log-stream.js";

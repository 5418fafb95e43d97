export * from "./cgroup.js";
export * from "./host-node.js";
export * from "./layout.js";
export * from "./sandboxed-process.js";
export * from "./sandboxer.js";
export * from "./watchdog.js";

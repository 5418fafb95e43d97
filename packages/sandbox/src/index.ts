export * from "./cgroup.js";
export * from "./host-node.js";
export * from "./layout.js";
export * from "./sandboxer.js";
export * from "./watchdog.js";

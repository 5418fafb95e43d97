export * from "./dispatcher.js";
export * from "./resolver.js";
export * from "./caller.js";

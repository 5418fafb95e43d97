export * from "./dispatcher.js";
export * from "./resolver.js";

export * from "./dispatcher.js";
export * from "./resolver.js";
export * from "./request.js";

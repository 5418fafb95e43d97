export * from "./signer.js";
export * from "./client.js";
export * from "./types.js";

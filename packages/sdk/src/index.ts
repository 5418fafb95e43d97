export * from "./signer.js";
export * from "./client.js";

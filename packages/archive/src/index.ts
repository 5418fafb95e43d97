export * from "./crc64.js";
export * from "./digest.js";
export * from "./zip.js";

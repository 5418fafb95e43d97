export * from "./errors.js";
export * from "./types.js";
export * from "./reference.js";
export * from "./platform.js";
export { isInsecureRegistry, isLoopbackRegistry } from "./registry.js";
export { resolveImage } from "./resolve.js";
export { ImageCache, type ImageCacheOptions } from "./cache.js";
export { MOUNT_DIRS, MOUNT_FILES } from "./rootfs.js";

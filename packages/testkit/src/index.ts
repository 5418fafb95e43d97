export * from "./cluster.js";
export * from "./zip.js";
export * from "./images.js";
export * from "./test-images.js";
export { NatsServer, RedisServer, RegistryServer, TokenServer, NimbusServiceProcess, freePort } from "@nimbus/embedded";
export type { TokenAccount, TokenRequest } from "@nimbus/embedded";
export * from "./ha.js";
export * from "./proxy.js";

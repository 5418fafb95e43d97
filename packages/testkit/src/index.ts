export * from "./cluster.js";
export * from "./zip.js";
export * from "./images.js";
export * from "./test-images.js";
export { NatsServer, RedisServer, RegistryServer, NimbusServiceProcess, freePort } from "@nimbus/embedded";

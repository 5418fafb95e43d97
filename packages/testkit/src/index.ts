export * from "./cluster.js";
export * from "./zip.js";
export { NatsServer, RedisServer, NimbusServiceProcess, freePort } from "@nimbus/embedded";

export * from "./cluster.js";
export { NatsServer, RedisServer, NimbusServiceProcess, freePort } from "@nimbus/embedded";

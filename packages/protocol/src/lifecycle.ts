/** IPC message a service sends its supervisor (npm start, testkit) once it is ready to serve. */
export interface ReadyMessage {
  type: "nimbus:ready";
  service: string;
  node: string;
  /** Where the service listens, when it listens on a port (gateway, health endpoints). */
  port?: number;
  /** Where it serves `/metrics`, when it does on a port of its own. */
  metricsPort?: number;
}

export const READY_MESSAGE_TYPE = "nimbus:ready";

/** True for a ReadyMessage received over IPC. */
export function isReadyMessage(value: unknown): value is ReadyMessage {
  return typeof value === "object" && value !== null && (value as { type?: unknown }).type === READY_MESSAGE_TYPE;
}

/** Every Nimbus service, in start order. */
export const SERVICE_NAMES = ["gateway", "invoker", "async-queue", "trigger-router", "log-collector"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

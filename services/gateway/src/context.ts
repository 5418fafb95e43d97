import type { ArnContext, Naming } from "@nimbus/protocol";
import type { ControlPlane, MirrorSet } from "@nimbus/store";
import type { Logger } from "@nimbus/telemetry";
import type { GatewayEnv } from "./env.js";

/** The buckets every gateway keeps a watched copy of. */
export const GATEWAY_MIRRORS = [
  "services",
  "functions",
  "triggers",
  "onDemandConfigs",
  "asyncConfigs",
  "versions",
  "versionFunctions",
  "aliases",
  "layers",
  "provisionConfigs",
  "customDomains",
] as const;

/** What the gateway's feature modules share. */
export interface GatewayContext {
  env: GatewayEnv;
  logger: Logger;
  naming: Naming;
  arn: ArnContext;
  store: ControlPlane;
  /** Watched copies of the control plane: reads never go to the network. */
  mirrors: MirrorSet<(typeof GATEWAY_MIRRORS)[number]>;
}
/** How many times a compare-and-set loop re-reads and retries before reporting a conflict. */
export const CAS_ATTEMPTS = 8;

/** Conditions on a write: an If-Match check, and whether a concurrent change fails instead of retrying. */
export interface WriteGuard<T> {
  /** Checked against the current record before writing; throws to refuse. */
  check?: (current: T) => void;
  /** When true, a concurrent change is reported (PreconditionFailed), not retried over. */
  strict?: boolean;
}

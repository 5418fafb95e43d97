/**
 * Every NATS subject, KV bucket, KV key, object-store bucket and Redis key Nimbus uses is built here
 * and nowhere else. Subjects are lowercase dot tokens, broad to narrow, under one prefix; unbounded
 * ids (request ids) never appear in a subject — they travel in headers.
 */

const PREFIX_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

/** The default prefix of every subject, bucket and key. */
export const DEFAULT_PREFIX = "nimbus";

/** Builds the names for one Nimbus installation (one prefix). */
export function createNaming(prefix: string = DEFAULT_PREFIX) {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new Error(`invalid Nimbus prefix '${prefix}': lowercase letters, digits and '-', starting with a letter`);
  }
  const bucket = (kind: string) => `${prefix}_${kind}`;
  return {
    prefix,
    buckets: {
      services: bucket("services"),
      functions: bucket("functions"),
    },
    objectStores: {
      code: bucket("code"),
    },
    kvKeys: {
      service: (service: string) => service,
      function: (service: string, fn: string) => `${service}.${fn}`,
      /** KV key filter matching every function of a service. */
      functionsOf: (service: string) => `${service}.*`,
    },
    objects: {
      /** Code packages are content-addressed by their SHA-256 (hex). */
      code: (sha256: string) => `sha256-${sha256}`,
    },
    subjects: {
      /** Every service publishes its heartbeat here. */
      presence: `${prefix}.presence.beat`,
      /** A request on this subject makes every service publish its heartbeat at once. */
      presenceProbe: `${prefix}.presence.probe`,
    },
  } as const;
}

export type Naming = ReturnType<typeof createNaming>;

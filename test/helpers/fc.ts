import FC from "@alicloud/fc2";
import { expect } from "vitest";
import type { TestCluster } from "@nimbus/testkit";

/** The official FC SDK, unmodified, pointed at a test cluster's gateway. */
export function fcClient(cluster: TestCluster, n = 0, timeoutMs = 60_000): FC {
  return new FC(cluster.credentials.accountId, {
    accessKeyID: cluster.credentials.accessKeyId,
    accessKeySecret: cluster.credentials.accessKeySecret,
    region: cluster.credentials.region,
    endpoint: cluster.endpoint(n),
    timeout: timeoutMs,
  });
}

/** Awaits an SDK call that must fail with FC error `code` (the SDK names it `FC<code>Error`). */
export async function expectFcError(call: Promise<unknown>, code: string, messagePart?: string): Promise<Error & { code: string }> {
  const err = await call.then(
    () => {
      throw new Error(`expected ${code}, but the call succeeded`);
    },
    (e: unknown) => e as Error & { code: string },
  );
  expect(err.name, err.message).toBe(`FC${code}Error`);
  expect(err.code).toBe(code);
  expect(err.message).toMatch(/requestid: [0-9a-f-]{36}/);
  if (messagePart) expect(err.message).toContain(messagePart);
  return err;
}

/** A unique name per call, so suites sharing a cluster never collide. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
}

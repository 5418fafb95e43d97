import type { NimbusClient } from "@nimbus/sdk";
import { listAll } from "./async.js";
import { eventually } from "./functions.js";

/**
 * Steady async (and sync) load on one function while `fault` runs: invocations are queued under
 * ids of their own and a refused one is retried under the same id, as a client would, so each runs
 * once. Returns what was accepted, and how the sync calls fared.
 */
export async function underLoad(client: NimbusClient, svc: string, fault: () => Promise<void>) {
  const accepted = new Set<string>();
  let refused = 0;
  let syncOk = 0;
  let syncFailed = 0;
  let stop = false;
  const asyncLoad = Promise.all(
    Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const id = `w${w}-${i}`;
        for (;;) {
          const res = await client.invokeFunction(svc, "fn", id, { async: true, headers: { "x-fc-stateful-async-invocation-id": id } }).catch((e: { code?: string }) => e);
          if ("status" in res && res.status === 202) break;
          if ((res as { code?: string }).code === "StatefulAsyncInvocationAlreadyExists") break; // an earlier try got through
          refused++;
          await new Promise((r) => setTimeout(r, 100));
        }
        accepted.add(id);
        await new Promise((r) => setTimeout(r, 20));
      }
    }),
  );
  const syncLoad = (async () => {
    while (!stop) {
      const ok = await client.invokeFunction(svc, "fn", "sync").then(
        () => true,
        () => false,
      );
      if (ok) syncOk++;
      else syncFailed++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await new Promise((r) => setTimeout(r, 2_000));
  await fault();
  await new Promise((r) => setTimeout(r, 2_000));
  stop = true;
  await Promise.all([asyncLoad, syncLoad]);
  return { accepted, refused, syncOk, syncFailed };
}

export async function allRan(client: NimbusClient, svc: string, accepted: Set<string>): Promise<void> {
  await eventually(
    async () => {
      const done = (await listAll(client, svc, "fn")).filter((i) => i.status === "Succeeded").map((i) => i.invocationId);
      const missing = [...accepted].filter((id) => !done.includes(id));
      if (missing.length) throw new Error(`${missing.length} of ${accepted.size} not Succeeded yet: ${missing.slice(0, 5).join(", ")}`);
    },
    "every accepted invocation ran",
    90_000,
  );
}

/** How long until `probe` succeeds, polling. */
export async function recovery(probe: () => Promise<unknown>): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      await probe();
      return Date.now() - started;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * The heartbeat thread of a service (see PresencePublisher): it publishes the service's heartbeat
 * from its own event loop and its own NATS connection, so a main thread busy for seconds (an
 * invoker starting two hundred sandboxes) is not taken for a dead one. It reads how the main thread
 * is doing from shared memory: when its event loop last ran (reported as `lagMs`), and whether it
 * is ready. A main thread stalled past `stallMs` gets no more heartbeats: it is presumed dead.
 */
import { parentPort, workerData } from "node:worker_threads";
import { createNaming } from "@nimbus/protocol";
import { connectNats, type NatsConnection, type NatsLogger } from "./nats.js";
import type { Subscription } from "@nats-io/transport-node";
import { mainThreadState, type Heartbeat, type PresenceThreadData } from "./presence.js";

const data = workerData as PresenceThreadData;
const state = mainThreadState(data.shared);
const naming = createNaming(data.prefix);
const encoder = new TextEncoder();

/** Log lines go to the main thread's logger (this thread has none of its own). */
const logger: NatsLogger = {
  info: (obj: unknown, msg?: string) => parentPort?.postMessage({ level: "info", obj, msg }),
  warn: (obj: unknown, msg?: string) => parentPort?.postMessage({ level: "warn", obj, msg }),
  error: (obj: unknown, msg?: string) => parentPort?.postMessage({ level: "error", obj: { err: String((obj as { err?: unknown })?.err ?? obj) }, msg }),
} as NatsLogger;

let stopped = false;
let timer: NodeJS.Timeout | undefined;
let probes: Subscription | undefined;
parentPort?.on("message", (message: unknown) => {
  if (message !== "stop") return;
  stopped = true;
  clearInterval(timer);
  probes?.unsubscribe();
  void (nc?.close() ?? Promise.resolve()).finally(() => parentPort?.close());
});

const nc: NatsConnection | undefined = await connectNats({ url: data.natsUrl, name: `${data.identity.service}/${data.identity.node}/presence`, logger });

function beat(): void {
  if (stopped || !nc || nc.isClosed()) return;
  const lagMs = state.lagMs();
  // Stalled this long, the node is as good as dead: stop vouching for it.
  if (lagMs > data.stallMs) return;
  const heartbeat: Heartbeat = {
    ...data.identity,
    ...data.about,
    ready: state.ready(),
    startedAt: data.startedAt,
    pid: process.pid,
    intervalMs: data.intervalMs,
    lagMs,
  };
  nc.publish(naming.subjects.presence, encoder.encode(JSON.stringify(heartbeat)));
}

if (stopped) {
  await nc.close();
} else {
  beat();
  timer = setInterval(beat, data.intervalMs);
  probes = nc.subscribe(naming.subjects.presenceProbe, { callback: () => beat() });
  // The service says it is ready once its first heartbeat is on its way.
  await nc.flush();
  parentPort?.postMessage("beating");
}

import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { decode, encode, type FunctionInfo, type ToInstance } from "@nimbus/protocol/wire";
import { buildContext } from "./context.js";
import { runEvent } from "./event.js";
import { WARMUP_MODULE } from "./names.js";

const INFO: FunctionInfo = {
  name: "warmup",
  handler: "warmup-handler.handler",
  memory: 128,
  timeout: 3,
  initializer: "",
  initializationTimeout: 3,
  service: { name: "warmup", logProject: "", logStore: "", qualifier: "LATEST", versionId: "" },
  region: "",
  accountId: "",
  kind: "node",
  caPort: 9000,
  command: [],
  maxOutputBytes: 0,
};

/**
 * Takes the paths a function's load and first call will take — the frame codec, the CommonJS
 * loader on a file from disk, building FC's context, calling an event handler and serializing its
 * result — once, on the runtime's own no-op module, while a pre-started sandbox waits: its first
 * function then does not pay for compiling them (a load took 4–8 ms cold, a first call 2–3). It
 * prints nothing, sends nothing, and leaves nothing a function can see but that module in the
 * require cache.
 */
export async function warmUp(): Promise<void> {
  const ctx = { requestId: "warmup", qualifier: "LATEST", versionId: "", credentials: { accessKeyId: "", accessKeySecret: "", securityToken: "" }, deadline: Date.now() + 3_000 };
  const frame = decode<ToInstance>(encode({ t: "invoke", id: 0, kind: "event", ctx, body: Buffer.from("{}") } satisfies ToInstance));
  const file = join(dirname(process.argv[1] ?? "."), WARMUP_MODULE);
  const mod = createRequire(file)(file) as { handler: (...args: unknown[]) => unknown };
  if (frame.t !== "invoke") return;
  const body = Buffer.from(frame.body.buffer, frame.body.byteOffset, frame.body.byteLength);
  await runEvent(mod.handler, body, buildContext(INFO, frame.ctx));
}

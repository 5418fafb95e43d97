// The README's example function, run with every event shape the walkthrough sends it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./launch.js";

type Handler = (event: Buffer, context: { requestId: string }, callback: (err: Error | null, result?: string) => void) => void;
/** Loaded as FC loads it: CommonJS (here the repository's package.json would make a .js file ESM). */
function load(file: string): { handler: Handler } {
  const module = { exports: {} as { handler: Handler } };
  new Function("module", "exports", readFileSync(file, "utf8"))(module, module.exports);
  return module.exports;
}
const { handler } = load(join(ROOT, "examples", "hello", "index.js"));

/** Runs the handler as FC would; returns whom it greeted and what it logged. */
function hello(event: unknown): { greeted: string; logged: string[] } {
  const logged: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => void logged.push(args.join(" "));
  try {
    let result: string | undefined;
    handler(Buffer.from(event === undefined ? "" : JSON.stringify(event)), { requestId: "r-1" }, (err, res) => {
      if (err) throw err;
      result = res;
    });
    return { greeted: (JSON.parse(result ?? "{}") as { hello: string }).hello, logged };
  } finally {
    console.log = log;
  }
}

describe("examples/hello", () => {
  it("greets the name of a direct call, or the world", () => {
    expect(hello({ name: "Nimbus" })).toEqual({ greeted: "Nimbus", logged: ["saying hello to Nimbus"] });
    expect(hello(undefined).greeted).toBe("world");
  });

  it("greets something sensible for timer, NATS and object-storage events, never undefined", () => {
    // The shapes the trigger-router sends (services/trigger-router/src/events.ts).
    const timer = { triggerTime: "2026-11-21T08:00:00Z", triggerName: "every-minute", payload: '{"name":"timer"}' };
    expect(hello(timer).greeted).toBe("timer");
    expect(hello({ ...timer, payload: "" }).greeted).toBe("timer every-minute at 2026-11-21T08:00:00Z");

    const message = { specversion: "1.0", id: "1", source: "nats://127.0.0.1:14222/orders.42.created", type: "nimbus.nats.message", subject: "orders.42.created" };
    expect(hello({ ...message, data: { name: "order 42" } }).greeted).toBe("order 42");
    expect(hello({ ...message, data_base64: "AAEC" }).greeted).toBe("a message on orders.42.created");

    const upload = { events: [{ eventName: "ObjectCreated:PutObject", eventSource: "acs:oss", oss: { bucket: { name: "uploads" }, object: { key: "img/a.png", size: 1024 } } }] };
    expect(hello(upload).greeted).toBe("uploads/img/a.png (ObjectCreated:PutObject)");

    for (const event of [timer, message, upload]) expect(hello(event).logged.join("\n")).not.toContain("undefined");
  });
});

import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { FrameReader, FrameWriter, type FromInvoker, type InvokeRequest, type ToInvoker } from "@nimbus/protocol/wire";
import type { Heartbeat } from "@nimbus/service-kit";
import { createLogger } from "@nimbus/telemetry";
import { InvokerLinks, type Answer } from "./links.js";

/** An invoker's direct side, as far as a caller can tell: it welcomes with classes and answers calls when told. */
class FakeInvoker {
  readonly calls: { id: number; requestId: string; socket: Socket }[] = [];
  readonly hellos: { token: string; caller: string }[] = [];
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly node: string,
    readonly advert: { address: string; token: string },
    private readonly classes: string[],
    private readonly claimedNode: string,
  ) {}

  static async start(node: string, classes: string[], claimedNode = node): Promise<FakeInvoker> {
    let fake: FakeInvoker | undefined;
    const server = createServer((socket) => fake?.accept(socket));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    fake = new FakeInvoker(server, node, { address: `127.0.0.1:${port}`, token: "secret" }, classes, claimedNode);
    return fake;
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    const writer = new FrameWriter<FromInvoker>(socket);
    const reader = new FrameReader<ToInvoker>((m) => {
      if (m.t === "hello") {
        this.hellos.push({ token: m.token, caller: m.caller });
        writer.send({ t: "welcome", node: this.claimedNode, classes: this.classes });
      } else this.calls.push({ id: m.id, requestId: m.requestId, socket });
    }, 1 << 20);
    socket.on("data", (chunk: Buffer) => reader.push(chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => this.sockets.delete(socket));
  }

  /** Sends a frame to every connected caller. */
  tell(message: FromInvoker): void {
    for (const socket of this.sockets) new FrameWriter<FromInvoker>(socket).send(message, true);
  }

  reply(index: number): void {
    const call = this.calls[index];
    if (!call) throw new Error(`no call #${index}`);
    new FrameWriter<FromInvoker>(call.socket).send({ t: "reply", id: call.id, reply: { s: "stale" } }, true);
  }

  /** Hangs up on every caller (as a killed process would). */
  drop(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  get connections(): number {
    return this.sockets.size;
  }

  beat(): Heartbeat {
    return { service: "invoker", node: this.node, ready: true, startedAt: "", pid: 1, intervalMs: 1_000, direct: this.advert };
  }

  stop(): Promise<void> {
    this.drop();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const REQUEST = { service: "s", function: "f", qualifier: "LATEST", cls: "c1", kind: "event", trigger: "api", logTail: false, deadline: 0, hops: 0, maxResponseBytes: 1 } as InvokeRequest;

async function until<T>(what: string, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("InvokerLinks", () => {
  const fakes: FakeInvoker[] = [];
  let links: InvokerLinks | undefined;
  const logger = createLogger({ service: "test", level: "silent" });
  afterEach(async () => {
    links?.stop();
    await Promise.all(fakes.splice(0).map((f) => f.stop()));
  });

  it("opens a link per invoker heartbeat, says hello with its token, and picks only invokers holding the class", async () => {
    const a = await FakeInvoker.start("a", ["c1"]);
    fakes.push(a);
    links = new InvokerLinks("gateway/test", logger);
    links.observe(a.beat());
    links.observe(a.beat()); // the same advert again: still one link
    const link = await until("the link to open", () => links?.pick("c1"));
    expect(link.node).toBe("a");
    expect(a.hellos).toEqual([{ token: "secret", caller: "gateway/test" }]);
    expect(a.connections).toBe(1);
    expect(links.pick("c2")).toBeUndefined();
    // Classes change as the invoker says.
    a.tell({ t: "classes", add: ["c2"], remove: ["c1"] });
    await until("c2 to be held", () => links?.pick("c2"));
    expect(links.pick("c1")).toBeUndefined();
    // A heartbeat from another service, or without an address, opens nothing.
    links.observe({ ...a.beat(), service: "gateway", node: "g" });
    links.observe({ ...a.beat(), node: "b", direct: undefined } as Heartbeat);
    expect(links.open).toBe(1);
  });

  it("sends each call to the invoker with the fewest outstanding", async () => {
    const a = await FakeInvoker.start("a", ["c1"]);
    const b = await FakeInvoker.start("b", ["c1"]);
    fakes.push(a, b);
    links = new InvokerLinks("gateway/test", logger);
    links.observe(a.beat());
    links.observe(b.beat());
    await until("both links", () => links?.open === 2);
    const answers: Answer[] = [];
    for (let i = 0; i < 6; i++) {
      const link = links.pick("c1");
      link?.call(`r${i}`, undefined, REQUEST, (answer) => answers.push(answer));
    }
    await until("six calls to arrive", () => a.calls.length + b.calls.length === 6);
    expect([a.calls.length, b.calls.length]).toEqual([3, 3]);
    // a answers two of its calls: the next two go to a.
    a.reply(0);
    a.reply(1);
    await until("two answers", () => answers.length === 2);
    expect(answers).toEqual([{ s: "stale" }, { s: "stale" }]);
    for (let i = 0; i < 2; i++) links.pick("c1")?.call(`s${i}`, undefined, REQUEST, () => undefined);
    await until("two more calls", () => a.calls.length === 5);
    expect(b.calls.length).toBe(3);
  });

  it("stops picking an invoker that drains, and fails its calls at once when the link closes", async () => {
    const a = await FakeInvoker.start("a", ["c1"]);
    fakes.push(a);
    links = new InvokerLinks("gateway/test", logger);
    links.observe(a.beat());
    const link = await until("the link", () => links?.pick("c1"));
    const answers: Answer[] = [];
    link.call("r1", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", REQUEST, (answer) => answers.push(answer));
    await until("the call", () => a.calls.length === 1);
    a.tell({ t: "draining" });
    await until("the drain to be heard", () => links?.pick("c1") === undefined || undefined);
    expect(links.forNode("a")).toBeUndefined();
    a.drop();
    await until("the call to fail", () => answers.length === 1);
    expect(answers[0]).toMatchObject({ s: "lost", reason: expect.stringMatching(/invoker node running the function \(a\) stopped or cannot be reached/) });
    // A call on a closed link fails at once, never silently.
    const late: Answer[] = [];
    link.call("r2", undefined, REQUEST, (answer) => late.push(answer));
    expect(late[0]).toMatchObject({ s: "lost" });
    // The next heartbeat opens it again.
    links.observe(a.beat());
    await until("the link to reopen", () => links?.pick("c1"));
  });

  it("hangs up on an invoker that claims to be another node", async () => {
    const impostor = await FakeInvoker.start("a", ["c1"], "b");
    fakes.push(impostor);
    links = new InvokerLinks("gateway/test", logger);
    links.observe(impostor.beat());
    await until("the link to be closed", () => impostor.hellos.length === 1 && impostor.connections === 0);
    expect(links.pick("c1")).toBeUndefined();
    expect(links.open).toBe(0);
  });
});

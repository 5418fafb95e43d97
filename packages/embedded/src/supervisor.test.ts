import { describe, expect, it } from "vitest";
import { ProcessHandle } from "./handle.js";
import { ManagedProcess } from "./process.js";
import { restartDelayMs, RESTART_DELAYS_MS, Supervisor, type SupervisorEvent } from "./supervisor.js";

/** A real child that says "ready" once it runs; `failNext` makes the next start exit at once. */
class Child extends ProcessHandle {
  failNext = 0;
  private onLine: ((line: string) => void) | undefined;
  readonly process = new ManagedProcess({
    name: "child",
    command: process.execPath,
    args: ["-e", "if (process.env.FAIL) process.exit(3); console.log('ready'); setInterval(() => {}, 1000)"],
    onLine: (line) => this.onLine?.(line),
  });

  override async restart(): Promise<void> {
    const fail = this.failNext > 0;
    if (fail) this.failNext--;
    this.process.options.env = { ...process.env, ...(fail ? { FAIL: "1" } : {}) };
    this.process.start();
    // Output arrives on later ticks, so listening right after the spawn misses nothing.
    await new Promise<void>((resolve, reject) => {
      this.onLine = (line) => line === "ready" && resolve();
      void this.process.exited().then(() => reject(new Error("exited before it was ready")));
    });
  }
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("restart delays", () => {
  it("restart at once a few times, then back off to 30 s at most", () => {
    expect([0, 1, 2, 3, 4].map(restartDelayMs)).toEqual([100, 100, 100, 100, 100]);
    expect([5, 6, 7, 8].map(restartDelayMs)).toEqual([1_000, 2_000, 5_000, 10_000]);
    expect(restartDelayMs(RESTART_DELAYS_MS.length + 10)).toBe(30_000);
  });
});

describe("Supervisor", () => {
  it("handles each death of its child once, however many restarts came before", async () => {
    const child = new Child();
    await child.restart();
    const events: SupervisorEvent[] = [];
    const supervisor = new Supervisor({ child, onEvent: (e) => events.push(e) });
    try {
      for (let kill = 1; kill <= 4; kill++) {
        const pid = child.process.pid;
        await child.kill();
        await until(() => events.filter((e) => e.kind === "restarted").length === kill, `restart ${kill}`);
        expect(child.process.pid).not.toBe(pid);
        expect(child.process.running).toBe(true);
      }
      expect(events.map((e) => e.kind)).toEqual(Array(4).fill(["exited", "restarted"]).flat());
      expect(events.filter((e) => e.kind === "exited").map((e) => e.restartInMs)).toEqual([100, 100, 100, 100]);
    } finally {
      supervisor.stop();
      await child.process.stop();
      await supervisor.finished();
    }
  });

  it("backs off while the child keeps failing, and starts counting again once it stayed up", async () => {
    const child = new Child();
    await child.restart();
    const events: SupervisorEvent[] = [];
    let clockOffsetMs = 0;
    const now = () => Date.now() + clockOffsetMs;
    const supervisor = new Supervisor({ child, onEvent: (e) => events.push(e), healthyAfterMs: 60_000, now });
    try {
      child.failNext = 5; // five starts fail: six deaths in a row before one start holds
      await child.kill();
      await until(() => events.some((e) => e.kind === "restarted"), "a restart that holds");
      const delays = events.flatMap((e) => (e.kind === "exited" ? [e.restartInMs] : []));
      expect(delays).toEqual([100, 100, 100, 100, 100, 1_000]);
      expect(events.filter((e) => e.kind === "restart-failed")).toHaveLength(5);

      // Up for longer than healthyAfterMs: the next death is a first one again.
      clockOffsetMs += 61_000;
      events.length = 0;
      await child.kill();
      await until(() => events.some((e) => e.kind === "restarted"), "the restart after a healthy run");
      expect(events[0]).toMatchObject({ kind: "exited", restartInMs: 100 });
    } finally {
      supervisor.stop();
      await child.process.stop();
      await supervisor.finished();
    }
  });

  it("restarts nothing once stopped", async () => {
    const child = new Child();
    await child.restart();
    const events: SupervisorEvent[] = [];
    const supervisor = new Supervisor({ child, onEvent: (e) => events.push(e) });
    supervisor.stop();
    await child.process.stop();
    await supervisor.finished();
    expect(events).toEqual([]);
    expect(child.process.running).toBe(false);
  });
});

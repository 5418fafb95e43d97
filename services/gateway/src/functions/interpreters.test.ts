import { describe, expect, it } from "vitest";
import type { Heartbeat } from "@nimbus/service-kit";
import { interpretersFor } from "./interpreters.js";

const beat = (node: string, runtimes?: Heartbeat["runtimes"], service = "invoker"): Heartbeat => ({ service, node, ready: true, startedAt: "", pid: 1, intervalMs: 2000, ...(runtimes ? { runtimes } : {}) });

describe("interpretersFor", () => {
  it("groups the live invokers by the interpreter they run a runtime name on, most nodes first", () => {
    const debian = { path: "/usr/bin/python3.11", version: "3.11.2" };
    const opt = { path: "/opt/py312/bin/python3.12", version: "3.12.4", configured: true as const };
    const beats = [beat("c", { "python3.12": debian }), beat("a", { "python3.12": opt }), beat("b", { "python3.12": debian }), beat("g", { "python3.12": opt }, "gateway"), beat("old")];
    expect(interpretersFor(beats, "python3.12")).toEqual([
      { ...debian, configured: false, nodes: ["b", "c"] },
      { ...opt, nodes: ["a"] },
    ]);
    expect(interpretersFor(beats, "python3.9")).toEqual([]);
  });
});

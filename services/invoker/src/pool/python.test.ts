import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Interpreters } from "./python.js";

// Not under /tmp, which configured interpreters may not be in.
const dir = mkdtempSync("/var/tmp/nimbus-python-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in interpreter that answers the version question as Python would. */
function fake(name: string, version: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\necho ${version}\n`);
  chmodSync(path, 0o755);
  return path;
}

describe("which interpreter runs each Python runtime name", () => {
  fake("python3.9", "3.9.18");
  fake("python3.11", "3.11.2");
  fake("python3.13", "3.13.1");
  symlinkSync("python3.11", join(dir, "python3"));
  const custom = fake("custom-python", "3.12.7");

  it("runs a name on its own version, else the oldest newer one, else the newest older one", () => {
    const chosen = new Interpreters(dir);
    expect(chosen.for("python3.9").path).toBe(join(dir, "python3.9"));
    expect(chosen.for("python3.10").path).toBe(join(dir, "python3.11"));
    expect(chosen.for("python3.12").path).toBe(join(dir, "python3.13"));
    expect(chosen.for("python3").path).toBe(join(dir, "python3"));
    expect(new Interpreters(join(dir, "none")).for("python3.12").path).toBe(join(dir, "none", "python3"));
  });

  it("takes the operator's choice first, and says which ran with each one's full version", () => {
    const chosen = new Interpreters(dir);
    chosen.configure({ "python3.12": custom });
    expect(chosen.for("python3.12")).toEqual({ path: custom, version: "3.12" });
    expect(chosen.configuredPaths()).toEqual([custom]);
    expect(chosen.describe()).toEqual({
      python3: { path: join(dir, "python3"), version: "3.11.2" },
      "python3.9": { path: join(dir, "python3.9"), version: "3.9.18" },
      "python3.10": { path: join(dir, "python3.11"), version: "3.11.2" },
      "python3.12": { path: custom, version: "3.12.7", configured: true },
    });
  });

  it("refuses a configuration it cannot run, saying what is wrong", () => {
    const chosen = new Interpreters(dir);
    expect(() => chosen.configure({ "python2.7": custom })).toThrow(/python2\.7 is not a Python runtime name/);
    expect(() => chosen.configure({ "python3.12": "bin/python" })).toThrow(/must be an absolute path/);
    expect(() => chosen.configure({ "python3.12": "/tmp/py/bin/python3" })).toThrow(/is under \/tmp, which every instance has a private one of/);
    expect(() => chosen.configure({ "python3.12": join(dir, "missing") })).toThrow(/is not an executable file on this node/);
  });
});

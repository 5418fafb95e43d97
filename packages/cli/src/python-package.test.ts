import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { detectRuntime, vendorRequirements } from "./python-package.js";
import { zipDirectory } from "./zip-dir.js";

const root = mkdtempSync(join(tmpdir(), "nimbus-cli-py-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function folder(name: string, files: Record<string, string>): string {
  const dir = join(root, name);
  rmSync(dir, { recursive: true, force: true });
  for (const [file, content] of Object.entries(files)) {
    const path = join(dir, file);
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, content);
  }
  return dir;
}

describe("a Python folder", () => {
  it("is python3 when it has index.py or requirements.txt and no Node.js package", () => {
    expect(detectRuntime(folder("py", { "index.py": "" }))).toBe("python3");
    expect(detectRuntime(folder("req", { "requirements.txt": "flask\n", "app.py": "" }))).toBe("python3");
    expect(detectRuntime(folder("both", { "index.py": "", "index.js": "" }))).toBe("nodejs20");
    expect(detectRuntime(folder("js", { "index.js": "" }))).toBe("nodejs20");
    expect(detectRuntime(folder("none", { "README": "" }))).toBe("nodejs20");
  });

  it("needs no pip without a requirements.txt, and says what to install when pip cannot run", async () => {
    expect(await vendorRequirements(folder("plain", { "index.py": "" }), "/nonexistent/python3")).toBeUndefined();
    await expect(vendorRequirements(folder("wants", { "requirements.txt": "flask\n" }), "/nonexistent/python3")).rejects.toThrow(
      /requirements\.txt needs pip, and \/nonexistent\/python3 could not be run .*apt-get install python3-pip/,
    );
  });

  it("zips the packages pip installed next to the code, the code's own files winning a clash", async () => {
    const code = folder("code", { "index.py": "mine", "util.py": "mine" });
    const vendored = folder("vendored", { "util.py": "theirs", "lib/__init__.py": "theirs" });
    const zip = join(root, "package.zip");
    writeFileSync(zip, await zipDirectory(code, [vendored]));
    const read = "import json, sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(json.dumps({n: z.read(n).decode() for n in z.namelist()}))";
    expect(JSON.parse(execFileSync("python3", ["-c", read, zip], { encoding: "utf8" }))).toEqual({ "index.py": "mine", "util.py": "mine", "lib/__init__.py": "theirs" });
  });
});

import { lstatSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { nodeMount, programMounts, systemMounts } from "./mounts.js";

const VISIBLE = ["/usr/bin", "/usr/lib", "/usr/share/zoneinfo"];

describe("what of the host's system an instance sees", () => {
  it("binds only the visible parts of /usr, and the /etc files runtimes read", () => {
    const args = systemMounts(VISIBLE);
    expect(args.slice(0, 9)).toEqual(["--ro-bind", "/usr/bin", "/usr/bin", "--ro-bind", "/usr/lib", "/usr/lib", "--ro-bind", "/usr/share/zoneinfo", "/usr/share/zoneinfo"]);
    expect(args.filter((a) => a === "/usr" || a === "/usr/sbin" || a === "/usr/local" || a === "/usr/share")).toEqual([]);
    expect(args).toContain("/etc/ssl");
  });

  it.skipIf(!lstatSync("/bin").isSymbolicLink())("keeps merged-/usr links that lead somewhere visible, and no others", () => {
    const args = systemMounts(VISIBLE);
    const links = args.flatMap((a, i) => (a === "--symlink" ? [`${args[i + 2]} -> ${args[i + 1]}`] : []));
    expect(links).toContain("/bin -> usr/bin");
    expect(links.some((l) => l.startsWith("/sbin"))).toBe(false); // /usr/sbin is hidden
    expect(links.some((l) => l.startsWith("/lib64"))).toBe(false); // /usr/lib64 is not in VISIBLE
  });

  it("adds nothing for a Node under a visible part of /usr", () => {
    expect(nodeMount(VISIBLE, "/usr/bin/node", "/usr/bin/node")).toEqual([]);
  });

  it("binds only the binary of a Node in /usr/local, so the rest of /usr/local stays hidden", () => {
    expect(nodeMount(VISIBLE, "/usr/local/bin/node", "/usr/local/bin/node")).toEqual(["--ro-bind", "/usr/local/bin/node", "/usr/local/bin/node"]);
  });

  it("binds the install prefix of a Node elsewhere (nvm, /opt/node)", () => {
    const exec = "/root/.nvm/versions/node/v20.0.0/bin/node";
    expect(nodeMount(VISIBLE, exec, exec)).toEqual(["--ro-bind", "/root/.nvm/versions/node/v20.0.0", "/root/.nvm/versions/node/v20.0.0"]);
  });

  it("adds the link a Node was started through, when it is not already in sight", () => {
    expect(nodeMount(VISIBLE, "/usr/local/bin/node", "/opt/node/bin/node")).toEqual(["--ro-bind", "/opt/node", "/opt/node", "--symlink", "/opt/node/bin/node", "/usr/local/bin/node"]);
    expect(nodeMount(VISIBLE, "/usr/bin/node", "/opt/node/bin/node")).toEqual(["--ro-bind", "/opt/node", "/opt/node"]);
  });
});

describe("programMounts", () => {
  it("adds nothing for a program in a visible part of /usr", () => {
    expect(programMounts(VISIBLE, "/usr/bin/python3.11", "/usr/bin/python3.11")).toEqual([]);
  });

  it("binds the installation of an interpreter built elsewhere, its libraries with it", () => {
    expect(programMounts(VISIBLE, "/opt/python3.12/bin/python3.12", "/opt/python3.12/bin/python3.12")).toEqual(["--ro-bind", "/opt/python3.12", "/opt/python3.12"]);
    expect(programMounts(VISIBLE, "/usr/local/bin/python3.12", "/usr/local/bin/python3.12")).toEqual(["--ro-bind", "/usr/local", "/usr/local"]);
  });

  it("binds a venv, whose interpreter links to the system's", () => {
    expect(programMounts(VISIBLE, "/srv/fc-py/bin/python3", "/usr/bin/python3.11")).toEqual(["--ro-bind", "/srv/fc-py", "/srv/fc-py"]);
  });

  it("binds the installation a link leads to when that is out of sight too", () => {
    expect(programMounts(VISIBLE, "/srv/fc-py/bin/python3", "/opt/py/bin/python3.12")).toEqual(["--ro-bind", "/srv/fc-py", "/srv/fc-py", "--ro-bind", "/opt/py", "/opt/py"]);
  });
});


import { describe, expect, it } from "vitest";
import { hostNodeArgv, hostNodeMounts, parseLdd } from "./host-node.js";

const LDD = `	linux-vdso.so.1 (0x00007ffd5a5f0000)
	libdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f1a2b7a0000)
	libstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f1a2b400000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1a2b000000)
	/lib64/ld-linux-x86-64.so.2 (0x00007f1a2b7c0000)
`;

describe("the host's Node in an image sandbox", () => {
  it("reads the loader and the libraries from ldd, leaving out the kernel's vdso", () => {
    expect(parseLdd(LDD)).toEqual({
      loader: "/lib64/ld-linux-x86-64.so.2",
      libraries: [
        { name: "libdl.so.2", path: "/lib/x86_64-linux-gnu/libdl.so.2" },
        { name: "libstdc++.so.6", path: "/lib/x86_64-linux-gnu/libstdc++.so.6" },
        { name: "libc.so.6", path: "/lib/x86_64-linux-gnu/libc.so.6" },
      ],
    });
  });

  it("refuses a Node whose libraries are missing", () => {
    expect(() => parseLdd("\tlibfoo.so.1 => not found\n")).toThrow(/missing/);
  });

  it("starts Node through the host's loader with an explicit library path, never LD_LIBRARY_PATH", () => {
    const node = { binary: "/usr/bin/node", loader: "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", libraries: [{ name: "libc.so.6", path: "/usr/lib/x86_64-linux-gnu/libc.so.6" }] };
    expect(hostNodeArgv(node)).toEqual(["/var/fc/host/lib/ld-linux-x86-64.so.2", "--library-path", "/var/fc/host/lib", "/var/fc/host/node"]);
    expect(hostNodeMounts(node)).toEqual([
      "--tmpfs", "/var/fc/host",
      "--ro-bind", "/usr/bin/node", "/var/fc/host/node",
      "--ro-bind", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/var/fc/host/lib/libc.so.6",
      "--ro-bind", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/var/fc/host/lib/ld-linux-x86-64.so.2",
      "--remount-ro", "/var/fc/host",
    ]);
    expect(hostNodeArgv({ binary: "/opt/node", loader: undefined, libraries: [] })).toEqual(["/var/fc/host/node"]);
  });
});

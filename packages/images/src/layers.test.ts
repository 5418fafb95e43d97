import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeLayerTar, type LayerEntry } from "@nimbus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageError } from "./errors.js";
import { checkLayers, type LayerFile } from "./layers.js";

let dir: string;
let n = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nimbus-layers-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function layer(entries: LayerEntry[]): Promise<LayerFile> {
  const path = join(dir, `layer-${n++}.tar`);
  await writeLayerTar(path, entries);
  return { path, diffId: `sha256:${createHash("sha256").update(await readFile(path)).digest("hex")}` };
}

async function refused(layers: LayerFile[]): Promise<string> {
  const err = await checkLayers(layers).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageError);
  expect((err as ImageError).code).toBe("InvalidImage");
  return (err as ImageError).message;
}

describe("checkLayers", () => {
  it("passes ordinary layers: ./ prefixes, symlinks inside and outside the root, writes through one that stays inside", async () => {
    const result = await checkLayers([
      await layer([
        { path: "./", dir: true },
        { path: "./usr", dir: true },
        { path: "./usr/lib", dir: true },
        { path: "lib", symlink: "usr/lib" },
        { path: "bin", symlink: "/usr/bin" }, // absolute links are fine; writing through them is not
        { path: "etc", dir: true },
        { path: "etc/alternatives", symlink: "../usr/lib" },
      ]),
      await layer([
        { path: "lib/libx.so", content: "x" },
        { path: "etc/alternatives/y", content: "y" },
        { path: "usr/lib/hard", hardlink: "lib/libx.so" },
      ]),
    ]);
    expect(result.entries).toBe(10);
  });

  it("refuses a file written through a symlink out, even one defined through an inner symlink or a lower layer", async () => {
    expect(await refused([await layer([{ path: "lib", symlink: "usr/lib" }, { path: "usr/lib", dir: true }, { path: "lib/evil", symlink: "/etc" }]), await layer([{ path: "usr/lib/evil/passwd", content: "x" }])])).toMatch(
      /'usr\/lib\/evil\/passwd' with a path through symlink 'usr\/lib\/evil' → '\/etc'/,
    );
    expect(await refused([await layer([{ path: "a", symlink: "b" }, { path: "b", symlink: "../../x" }, { path: "a/f", content: "x" }])])).toMatch(/symlink 'b' → '..\/..\/x'/);
    expect(await refused([await layer([{ path: "loop", symlink: "loop" }, { path: "loop/f", content: "x" }])])).toMatch(/too many levels/);
    expect(await refused([await layer([{ path: "out", symlink: "/" }, { path: "x", hardlink: "out/etc/shadow" }])])).toMatch(/hard link to a path through symlink 'out'/);
  });

  it("forgets a symlink that a whiteout or an opaque directory removed, or a directory replaced", async () => {
    await checkLayers([
      await layer([{ path: "d", dir: true }, { path: "d/out", symlink: "/etc" }, { path: "e", symlink: "/etc" }, { path: "f", symlink: "/" }]),
      await layer([{ path: "d", dir: true }, { path: "d/.wh..wh..opq", content: "" }, { path: ".wh.e", content: "" }, { path: "f", dir: true }]),
      await layer([{ path: "d/out/passwd", content: "x" }, { path: "e/passwd", content: "x" }, { path: "f/g", content: "x" }]),
    ]);
  });

  it("checks each layer's content against its diff_id", async () => {
    const good = await layer([{ path: "a", content: "a" }]);
    expect(await refused([{ ...good, diffId: `sha256:${"0".repeat(64)}` }])).toMatch(/layer 1's content has digest sha256:[0-9a-f]{64}, but the image config says sha256:0{64}/);
  });

  it("takes a tar that ends right after its last entry (as umoci insert writes them), but not one cut inside an entry", async () => {
    const full = await layer([{ path: "a", content: "abcd" }]);
    const cut = join(dir, "cut.tar");
    await writeFile(cut, (await readFile(full.path)).subarray(0, 512 + 4));
    const digest = async (p: string) => `sha256:${createHash("sha256").update(await readFile(p)).digest("hex")}`;
    expect((await checkLayers([{ path: cut, diffId: await digest(cut) }])).entries).toBe(1);
    await truncate(cut, 512 + 2);
    expect(await refused([{ path: cut, diffId: await digest(cut) }])).toMatch(/not a valid tar archive/);
  });
});

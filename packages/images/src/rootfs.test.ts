import { existsSync } from "node:fs";
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageError } from "./errors.js";
import { diskUsage, MOUNT_DIRS, MOUNT_FILES, prepareRootfs } from "./rootfs.js";

let dir: string;
let n = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nimbus-rootfs-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rootfs(): Promise<{ root: string; outside: string }> {
  const base = join(dir, String(n++));
  const root = join(base, "rootfs");
  const outside = join(base, "outside");
  await mkdir(root, { recursive: true, mode: 0o700 });
  await mkdir(outside);
  return { root, outside };
}

describe("prepareRootfs", () => {
  it("creates every mount point in an empty root and lets others enter it", async () => {
    const { root } = await rootfs();
    await prepareRootfs(root);
    for (const d of MOUNT_DIRS) expect((await lstat(join(root, d))).isDirectory(), d).toBe(true);
    for (const f of MOUNT_FILES) expect((await stat(join(root, f))).size, f).toBe(0);
    expect((await stat(root)).mode & 0o777).toBe(0o755);
  });

  it("keeps what the image has, follows symlinks on the way inside the root only, and replaces a symlink at a mount point", async () => {
    const { root, outside } = await rootfs();
    await mkdir(join(root, "etc"));
    await writeFile(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
    await symlink("../run/systemd/resolve/stub-resolv.conf", join(root, "etc/resolv.conf"));
    await symlink("/private/var", join(root, "var")); // absolute: inside the image it means <root>/private/var
    await symlink(`../../../../../../../..${outside}`, join(root, "tmp")); // a mount point that is a link out
    await mkdir(join(root, "dev"));
    await symlink(outside, join(root, "dev/escape"));
    await prepareRootfs(root);

    expect(await readFile(join(root, "etc/passwd"), "utf8")).toBe("root:x:0:0::/root:/bin/sh\n");
    expect((await lstat(join(root, "etc/resolv.conf"))).isFile()).toBe(true);
    expect((await lstat(join(root, "var"))).isSymbolicLink()).toBe(true);
    expect((await lstat(join(root, "private/var/fc/runtime"))).isDirectory()).toBe(true);
    expect((await lstat(join(root, "tmp"))).isDirectory()).toBe(true);
    expect(await readdir(outside)).toEqual([]);
  });

  it("never creates anything outside the root through a symlink on the way", async () => {
    const { root, outside } = await rootfs();
    await symlink(`../../../../../../../../..${outside}`, join(root, "var"));
    await symlink(outside, join(root, "etc"));
    await prepareRootfs(root);
    expect(await readdir(outside)).toEqual([]);
    // Resolved as a chroot would: `..` stops at the root, absolute targets start there.
    expect(existsSync(join(root, outside.slice(1), "fc/runtime"))).toBe(true);
    expect(existsSync(join(root, outside.slice(1), "hosts"))).toBe(true);
  });

  it("refuses a root whose mount point is the wrong kind of file", async () => {
    const { root } = await rootfs();
    await writeFile(join(root, "proc"), "not a directory");
    const err = await prepareRootfs(root).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageError);
    expect((err as ImageError).message).toMatch(/\/proc in the image is not a directory/);
  });
});

describe("diskUsage", () => {
  it("counts allocated blocks once per inode", async () => {
    const { root } = await rootfs();
    await writeFile(join(root, "a"), Buffer.alloc(10_000, 1));
    const { link } = await import("node:fs/promises");
    await link(join(root, "a"), join(root, "b"));
    await chmod(join(root, "a"), 0o600);
    const used = await diskUsage(root);
    expect(used).toBeGreaterThanOrEqual(10_000 + 4096);
    expect(used).toBeLessThan(2 * 10_000 + 4096);
  });
});

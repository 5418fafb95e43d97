import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blobGets, CacheFixture, downloadStarted, failure, leftovers, pulls, skopeoPids, waitFor } from "./cache-fixtures.js";
import type { ImageError } from "./errors.js";
import type { CachedImage } from "./types.js";

// Faults during pulls (RELIABILITY #25): a killed skopeo, a frozen or restarted registry, a SIGKILLed
// process mid-pull; and concurrency, restarts and pre-pulls. Each interruption lands mid-blob: the
// pull goes through a proxy that serves the registry at 10 MB/s, and the tests wait until skopeo
// has written part of the Node image's 40 MB layer, then freeze the registry.

let f: CacheFixture;
beforeAll(async () => {
  f = await CacheFixture.start(async (images) => ({
    node: { tag: await images.node() },
    layered: { tag: await images.layered() },
    "lru-a": { tag: await images.marker("lru-a", "lru a") },
  }));
}, 180_000);
afterAll(async () => {
  await f?.stop();
});

describe("ImageCache: concurrency and restarts", () => {
  it("coalesces concurrent acquires of one image into one pull", async () => {
    const t = await f.cache();
    const before = blobGets(f.open, "team/layered");
    const acquired = await Promise.all(Array.from({ length: 5 }, () => t.cache.acquire(f.pinned("layered"))));
    expect(new Set(acquired.map((i) => i.rootfs)).size).toBe(1);
    expect(pulls(t)).toBe(1);
    const layerGets = blobGets(f.open, "team/layered") - before;
    console.log(`5 concurrent acquires: ${pulls(t)} pull, ${layerGets} blob GETs (3 layers + config)`);
    expect(layerGets).toBeLessThanOrEqual(5);
    expect(t.cache.list()[0]?.inUse).toBe(5);
  });

  it("keeps what it pulled across a restart (init indexes it) and pulls nothing again", async () => {
    const first = await f.cache();
    const image = await first.cache.acquire(f.pinned("layered"));
    const second = await f.cache({ dir: first.dir });
    expect(second.cache.list()).toEqual([expect.objectContaining({ digest: image.digest, inUse: 0, references: [f.pinned("layered")] })]);
    expect((await second.cache.acquire(f.pinned("layered"))).rootfs).toBe(image.rootfs);
    expect(pulls(second)).toBe(0);
  });

  it("keeps a reference an image gained later across a restart (its meta.json is saved, not rewritten on every use)", async () => {
    const first = await f.cache();
    const image = await first.cache.acquire(f.pinned("layered"));
    for (let i = 0; i < 5; i++) await first.cache.acquire(f.pinned("layered"));
    const other = await f.slowPinned("layered"); // the same digest under another registry host
    await first.cache.acquire(other);
    const metaFile = join(first.dir, image.digest.slice("sha256:".length), "meta.json");
    await waitFor("the new reference in meta.json", async () => (await readFile(metaFile, "utf8")).includes(other) || undefined);
    expect(await readdir(join(first.dir, image.digest.slice("sha256:".length)))).toEqual(["meta.json", "rootfs"]);
    const second = await f.cache({ dir: first.dir });
    expect(second.cache.list()).toEqual([expect.objectContaining({ digest: image.digest, references: [f.pinned("layered"), other] })]);
    expect(pulls(first)).toBe(1);
  });

  it("prepulls in the background without marking the image in use", async () => {
    const pulled: CachedImage[] = [];
    const t = await f.cache({ onPulled: (i) => pulled.push(i) });
    const cached = await t.cache.prepull(f.pinned("lru-a"));
    expect(cached).toMatchObject({ digest: f.pushed["lru-a"]!.digest, inUse: 0 });
    expect(pulled.map((i) => i.digest)).toEqual([f.pushed["lru-a"]!.digest]);
    expect(await t.cache.prepull(`${f.open.host}/team/nothing@sha256:${"0".repeat(64)}`)).toBeUndefined();
    expect(t.messages).toContain("image pre-pull failed");
  });

  it("fails a pull whose skopeo is killed mid-download, leaves nothing usable, and the next acquire pulls again", async () => {
    const t = await f.cache();
    const acquiring = t.cache.acquire(await f.slowPinned("node"));
    const { staging, bytes } = await downloadStarted(t.dir);
    f.open.pause(); // hold the download where it is
    console.log(`skopeo had written ${bytes} bytes when the registry was frozen`);
    try {
      const [pid] = await waitFor("skopeo copy to run", async () => {
        const pids = await skopeoPids(staging);
        return pids.length > 0 ? pids : undefined;
      });
      process.kill(pid!, "SIGKILL");
      const err = await failure(acquiring);
      expect(err.code).toBe("Unavailable");
      console.log(`skopeo killed mid-download: ${err.message}`);
    } finally {
      f.open.resume();
    }
    expect(await leftovers(t.dir)).toEqual([]);
    expect(t.cache.list()).toEqual([]);
    const image = await t.cache.acquire(f.pinned("node"));
    expect(existsSync(join(image.rootfs, "usr/local/bin/node"))).toBe(true);
    expect(pulls(t)).toBe(2);
  });

  it("fails Unavailable when the registry freezes mid-download, after timeoutMs without progress", async () => {
    const t = await f.cache({ access: { insecureRegistries: [], timeoutMs: 2_000 } });
    const acquiring = t.cache.acquire(await f.slowPinned("node"));
    const { bytes } = await downloadStarted(t.dir);
    f.open.pause();
    const started = Date.now();
    console.log(`skopeo had written ${bytes} bytes when the registry was frozen`);
    try {
      const err = await failure(acquiring);
      expect(err.code).toBe("Unavailable");
      expect(err.message).toMatch(/no progress for 2000 ms/);
      console.log(`registry frozen mid-download: Unavailable ${Date.now() - started} ms after the freeze (timeoutMs 2000)`);
    } finally {
      f.open.resume();
    }
    expect(await leftovers(t.dir)).toEqual([]);
    expect(existsSync(join((await t.cache.acquire(f.pinned("node"))).rootfs, "app/server.js"))).toBe(true);
  });

  it("pulls again and succeeds after the registry restarts mid-pull", async () => {
    const t = await f.cache();
    const acquiring = t.cache.acquire(await f.slowPinned("node"));
    const { bytes } = await downloadStarted(t.dir);
    f.open.pause(); // stop the transfer where it is, then kill: the registry dies mid-blob
    await f.open.kill();
    console.log(`skopeo had written ${bytes} bytes when the registry was killed`);
    const outcome = await acquiring.then(
      () => "the pull finished before the registry died",
      (e: ImageError) => `${e.code}: ${e.message}`,
    );
    console.log(`registry killed mid-pull: ${outcome}`);
    expect(outcome).toMatch(/^Unavailable/);
    await f.open.restart();
    const image = await t.cache.acquire(f.pinned("node"));
    expect(existsSync(join(image.rootfs, "usr/local/bin/node"))).toBe(true);
    expect(await leftovers(t.dir)).toEqual([]);
  });

  it("after a SIGKILL of the process pulling, leaves nothing usable; init() cleans up and the next acquire pulls", async () => {
    const cacheDir = join(f.dir, "caches", "killed");
    const script = await f.pullScript(cacheDir, [await f.slowPinned("node")]);
    const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    const exited = new Promise((r) => child.once("exit", r));
    const { staging, bytes } = await downloadStarted(cacheDir);
    f.open.pause();
    console.log(`the child's skopeo had written ${bytes} bytes when the registry was frozen and the child killed`);
    try {
      await waitFor("the child's skopeo copy", async () => ((await skopeoPids(staging)).length > 0 ? true : undefined));
      child.kill("SIGKILL");
      await exited;
      // skopeo dies with it (setpriv --pdeathsig), so nothing keeps writing into the cache.
      await waitFor("the orphaned skopeo to die", async () => ((await skopeoPids(staging)).length === 0 ? true : undefined), 10_000);
    } finally {
      f.open.resume();
    }
    expect(output).not.toContain("acquired");
    const left = await leftovers(cacheDir);
    console.log(`after SIGKILL mid-pull, the cache dir holds: ${left.join(", ")}`);
    expect(left.length).toBe(1);

    const t = await f.cache({ dir: cacheDir });
    expect(await leftovers(cacheDir)).toEqual([]);
    expect(t.cache.list()).toEqual([]);
    const image = await t.cache.acquire(f.pinned("node"));
    expect(existsSync(join(image.rootfs, "usr/local/bin/node"))).toBe(true);
    expect(pulls(t)).toBe(1);
  });
});

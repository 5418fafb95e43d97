import { describe, expect, it } from "vitest";
import { formatBytes, imagesTable } from "./images.js";

const DIGEST_A = `sha256:${"a".repeat(64)}`;
const DIGEST_B = `sha256:${"b".repeat(64)}`;

describe("imagesTable", () => {
  const replies = [
    {
      node: "invoker-1",
      images: [
        { digest: DIGEST_A, references: ["r/app@" + DIGEST_A], sizeBytes: 65_957_888, lastUsed: "2026-12-01T13:29:15.872Z", inUse: 1 },
        { digest: DIGEST_B, references: ["r/app@" + DIGEST_B, "r/other@" + DIGEST_B], sizeBytes: 2048, lastUsed: "2026-12-01T13:31:00.000Z", inUse: 0 },
      ],
    },
    { node: "invoker-2", images: [] },
  ];

  it("prints a row per image, most recently used first within a node, and says when a node holds none", () => {
    expect(imagesTable(replies, false).split("\n")).toEqual([
      "node       digest                  size  last used            in use  references",
      `invoker-1  sha256:bbbbbbbbbbbb   2.0 KB  2026-12-01 13:31:00       0  r/app@${DIGEST_B}, r/other@${DIGEST_B}`,
      `invoker-1  sha256:aaaaaaaaaaaa  62.9 MB  2026-12-01 13:29:15       1  r/app@${DIGEST_A}`,
      "invoker-2  (no images)",
      "",
    ]);
  });

  it("shows whole digests when asked", () => {
    expect(imagesTable(replies, true)).toContain(`invoker-1  ${DIGEST_A}  62.9 MB`);
  });
});

describe("formatBytes", () => {
  it("counts in units of 1024 with one decimal", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(20 * 1024 ** 3)).toBe("20.0 GB");
  });
});

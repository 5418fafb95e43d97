import { describe, expect, it } from "vitest";
import { decodeImageMessage, encodeImageMessage, ImageListReply, ImagePrepull, ImagePulled } from "./image-messages.js";

const DIGEST = `sha256:${"c".repeat(64)}`;
const text = (value: unknown) => new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));

describe("image messages", () => {
  it("round-trip", () => {
    const prepull = { pinned: `reg.lan:5000/team/app@${DIGEST}`, digest: DIGEST };
    expect(decodeImageMessage(ImagePrepull, encodeImageMessage(prepull))).toEqual(prepull);
    const reply = { node: "invoker-1", images: [{ digest: DIGEST, references: ["reg.lan:5000/team/app:v1"], sizeBytes: 10, lastUsed: "2026-01-01T00:00:00Z", inUse: 1 }] };
    expect(decodeImageMessage(ImageListReply, encodeImageMessage(reply))).toEqual(reply);
  });

  it("are refused when they are not what the subject carries", () => {
    expect(decodeImageMessage(ImagePulled, text("not json"))).toBeUndefined();
    expect(decodeImageMessage(ImagePulled, text({ digest: "sha256:short", node: "n" }))).toBeUndefined();
    expect(decodeImageMessage(ImagePulled, text({ digest: DIGEST }))).toBeUndefined();
    expect(decodeImageMessage(ImageListReply, text({ node: "n", images: [{ digest: DIGEST }] }))).toBeUndefined();
  });
});

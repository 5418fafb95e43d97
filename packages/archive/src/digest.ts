import { createHash } from "node:crypto";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { Crc64 } from "./crc64.js";

export interface CodeDigest {
  size: number;
  /** FC's `codeChecksum`: CRC-64/XZ as a decimal string. */
  crc64: string;
  /** Content address (hex). */
  sha256: string;
}

const SLICE = 1024 * 1024;

/** Checksums of a code package, yielding to the event loop every megabyte so big uploads don't stall it. */
export async function digestCode(data: Uint8Array): Promise<CodeDigest> {
  const crc = new Crc64();
  const sha = createHash("sha256");
  for (let offset = 0; offset < data.length; offset += SLICE) {
    const slice = data.subarray(offset, Math.min(offset + SLICE, data.length));
    crc.update(slice);
    sha.update(slice);
    if (offset + SLICE < data.length) await yieldToLoop();
  }
  return { size: data.length, crc64: crc.digest(), sha256: sha.digest("hex") };
}

import { digestCode, walkZip } from "@nimbus/archive";
import { errors, NimbusError } from "@nimbus/protocol";
import type { CodeStore } from "@nimbus/store";

export interface CodeLimits {
  maxZipBytes: number;
  maxUnzippedBytes: number;
  maxEntries: number;
}

export interface IngestedCode {
  codeSize: number;
  codeChecksum: string;
  codeSha256: string;
  /** True when this upload stored a package that was not there before. */
  created: boolean;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes `code.zipFile`, refusing anything that is not strict base64 or is over the zipped limit. */
export function decodeZipFile(zipFile: string, maxZipBytes: number): Buffer {
  const compact = zipFile.includes("\n") ? zipFile.replace(/\r?\n/g, "") : zipFile;
  if (compact.length === 0) throw errors.invalidArgument("code.zipFile is empty");
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) throw errors.invalidArgument("code.zipFile is not valid base64");
  const padding = compact.endsWith("==") ? 2 : compact.endsWith("=") ? 1 : 0;
  const size = (compact.length / 4) * 3 - padding;
  if (size > maxZipBytes) throw errors.entityTooLarge(maxZipBytes);
  return Buffer.from(compact, "base64");
}

/**
 * Validates a code package completely (every entry inflated and checked) before anything is
 * written, then stores it content-addressed. A package whose checksum does not match the
 * `x-fc-code-checksum` the client sent is refused.
 */
export async function ingestCode(
  zipFile: string,
  store: CodeStore,
  limits: CodeLimits,
  expectedChecksum?: string,
): Promise<IngestedCode> {
  const zip = decodeZipFile(zipFile, limits.maxZipBytes);
  await walkZip(zip, { maxUnzippedBytes: limits.maxUnzippedBytes, maxEntries: limits.maxEntries });
  const digest = await digestCode(zip);
  if (expectedChecksum !== undefined && expectedChecksum !== digest.crc64) {
    throw errors.invalidArgument(`code checksum mismatch: the package's CRC-64 is ${digest.crc64}, the request said ${expectedChecksum}`);
  }
  try {
    const { created } = await store.put(digest.sha256, zip);
    return { codeSize: digest.size, codeChecksum: digest.crc64, codeSha256: digest.sha256, created };
  } catch (err) {
    throw new NimbusError("ServiceUnavailable", "could not store the code package; retry", { cause: err });
  }
}

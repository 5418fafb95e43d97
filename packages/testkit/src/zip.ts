import yazl from "yazl";

/** One file of a zip fixture. */
export interface ZipFileSpec {
  content: string | Buffer;
  /** Unix mode bits, file type included (0o100644 by default; 0o120777 makes a symlink). */
  mode?: number;
  /** Store instead of deflate. */
  store?: boolean;
}

/** Builds a zip in memory from `{ "path/in/zip": content }`; a path ending in `/` is an empty directory. */
export async function makeZip(files: Record<string, string | Buffer | ZipFileSpec>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [path, spec] of Object.entries(files)) {
    if (path.endsWith("/")) {
      zip.addEmptyDirectory(path.slice(0, -1));
      continue;
    }
    const s: ZipFileSpec = typeof spec === "string" || Buffer.isBuffer(spec) ? { content: spec } : spec;
    const data = Buffer.isBuffer(s.content) ? s.content : Buffer.from(s.content);
    zip.addBuffer(data, path, { mode: s.mode ?? 0o100644, compress: !s.store });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A zip of one Node.js handler file, base64-encoded for `code.zipFile`. */
export async function nodeHandlerZip(source = `exports.handler = (event, context, callback) => callback(null, "ok");`, file = "index.js"): Promise<string> {
  return (await makeZip({ [file]: source })).toString("base64");
}

/**
 * Renames an entry in both its local header and the central directory, byte for byte. yazl (rightly)
 * refuses names like `../x` or `/etc/x`, so hostile fixtures are built with a same-length placeholder
 * and patched afterwards.
 */
export function renameEntry(zip: Buffer, from: string, to: string): Buffer {
  if (Buffer.byteLength(from) !== Buffer.byteLength(to)) throw new Error("renameEntry needs names of the same length");
  const out = Buffer.from(zip);
  const needle = Buffer.from(from);
  let at = out.indexOf(needle);
  let count = 0;
  while (at !== -1) {
    Buffer.from(to).copy(out, at);
    count++;
    at = out.indexOf(needle, at + needle.length);
  }
  if (count < 2) throw new Error(`entry '${from}' not found in both headers`);
  return out;
}

/**
 * Makes every header of a single-entry zip claim a smaller uncompressed size than the data really
 * inflates to (a zip bomb that lies about its size).
 */
export function understateSize(zip: Buffer, claimed: number): Buffer {
  const out = Buffer.from(zip);
  const local = out.indexOf(Buffer.from([0x50, 0x4b, 0x03, 0x04]));
  const central = out.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  if (local === -1 || central === -1) throw new Error("not a zip");
  // Local header: uncompressed size at +22. Central directory header: at +24.
  out.writeUInt32LE(claimed, local + 22);
  out.writeUInt32LE(claimed, central + 24);
  // yazl writes sizes in a data descriptor after the data too (signature 0x08074b50): patch it.
  const descriptor = out.indexOf(Buffer.from([0x50, 0x4b, 0x07, 0x08]));
  if (descriptor !== -1 && descriptor < central) out.writeUInt32LE(claimed, descriptor + 12);
  return out;
}

import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as zlib from "node:zlib";
import yauzl from "yauzl";
import { errors, isNimbusError, Limits, NimbusError } from "@nimbus/protocol";

/** What a code package may unpack to. */
export interface ZipLimits {
  maxUnzippedBytes: number;
  maxEntries: number;
}

export interface ZipEntryInfo {
  /** Relative path inside the package, `/`-separated, never absolute, never with `..`. */
  path: string;
  directory: boolean;
  /** Unix permission bits when the zip records them (0 otherwise). */
  mode: number;
  size: number;
}

export interface ZipSummary {
  entries: number;
  files: number;
  unzippedBytes: number;
}

/** Called for every file entry with its verified content stream; it must consume the stream. */
export type EntryVisitor = (entry: ZipEntryInfo, content: Readable) => Promise<void>;

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const CREATOR_UNIX = 3;

// zlib.crc32 exists from Node 20.15 / 22.2; on older Nodes the CRC check is skipped (sizes still are).
const crc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

function invalid(reason: string): NimbusError {
  return errors.invalidArgument(`code package is not a valid zip file: ${reason}`);
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function openZip(data: Buffer): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(data, { lazyEntries: true, decodeStrings: true, validateEntrySizes: true, strictFileNames: false }, (err, zip) =>
      err ? reject(invalid(describe(err))) : resolve(zip),
    );
  });
}

function fileType(entry: yauzl.Entry): number | undefined {
  if (entry.versionMadeBy >> 8 !== CREATOR_UNIX) return undefined;
  const type = (entry.externalFileAttributes >>> 16) & S_IFMT;
  return type === 0 ? undefined : type;
}

/** An entry name short enough to quote in an error message. */
function quoted(path: string): string {
  return path.length > 80 ? `${path.slice(0, 80)}…` : path;
}

/** Names a file system can hold once unpacked: checked here so a package fails at upload, not at every start. */
function checkNameLength(path: string): void {
  if (Buffer.byteLength(path) > Limits.codeEntryPathBytes) {
    throw errors.invalidArgument(`code package entry '${quoted(path)}' has a path longer than ${Limits.codeEntryPathBytes} bytes`);
  }
  for (const component of path.split("/")) {
    if (Buffer.byteLength(component) > Limits.codeEntryNameBytes) {
      throw errors.invalidArgument(`code package entry '${quoted(path)}' has a name longer than ${Limits.codeEntryNameBytes} bytes: '${quoted(component)}'`);
    }
  }
}

function checkEntry(entry: yauzl.Entry): ZipEntryInfo {
  const path = entry.fileName;
  if (path.length === 0 || path.includes("\0")) throw invalid(`entry name '${quoted(path)}' is not allowed`);
  checkNameLength(path);
  const directory = path.endsWith("/");
  const type = fileType(entry);
  if (type === S_IFLNK) throw errors.invalidArgument(`code package must not contain symbolic links: '${path}'`);
  if (type !== undefined && type !== S_IFREG && type !== S_IFDIR) {
    throw errors.invalidArgument(`code package must contain only regular files and directories: '${path}'`);
  }
  if ((entry.generalPurposeBitFlag & 0x1) !== 0) throw errors.invalidArgument(`code package entry '${path}' is encrypted`);
  const mode = entry.versionMadeBy >> 8 === CREATOR_UNIX ? (entry.externalFileAttributes >>> 16) & 0o777 : 0;
  return { path: directory ? path.slice(0, -1) : path, directory, mode, size: entry.uncompressedSize };
}

/** Verifies the CRC-32 and length of an entry's content as it streams by. */
function verifier(entry: yauzl.Entry): Transform {
  let crc = 0;
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (crc32) crc = crc32(chunk, crc);
      done(null, chunk);
    },
    flush(done) {
      if (bytes !== entry.uncompressedSize) done(invalid(`entry '${entry.fileName}' has the wrong size`));
      else if (crc32 && crc >>> 0 !== entry.crc32 >>> 0) done(invalid(`entry '${entry.fileName}' is corrupt (CRC mismatch)`));
      else done();
    },
  });
}

async function drain(_entry: ZipEntryInfo, content: Readable): Promise<void> {
  for await (const _chunk of content) {
    // discard: inflating every byte is what proves the package is sound
  }
}

/**
 * Reads a whole zip, enforcing Nimbus's rules for code packages: no absolute paths, no `..`, names
 * a file system can hold (components ≤ 255 bytes, paths ≤ 4,096), no symbolic links or special
 * files, no encryption, bounded entry count and unpacked size (declared and actual), intact data
 * (CRC). Rejections are InvalidArgument / EntityTooLarge errors with a reason.
 */
export async function walkZip(data: Buffer, limits: ZipLimits, visit: EntryVisitor = drain): Promise<ZipSummary> {
  const zip = await openZip(data);
  const summary: ZipSummary = { entries: 0, files: 0, unzippedBytes: 0 };
  try {
    for (;;) {
      const entry = await nextEntry(zip);
      if (!entry) break;
      summary.entries++;
      if (summary.entries > limits.maxEntries) {
        throw errors.invalidArgument(`code package has more than ${limits.maxEntries} entries`);
      }
      const info = checkEntry(entry);
      if (info.directory) continue;
      summary.files++;
      summary.unzippedBytes += entry.uncompressedSize;
      if (summary.unzippedBytes > limits.maxUnzippedBytes) {
        throw tooLarge(limits.maxUnzippedBytes);
      }
      const content = await openEntry(zip, entry);
      const checked = verifier(entry);
      await Promise.all([pipeline(content, checked), visit(info, checked)]).catch((err: unknown) => {
        throw isNimbusError(err) ? err : invalid(`entry '${entry.fileName}': ${describe(err)}`);
      });
    }
  } finally {
    zip.close();
  }
  if (summary.files === 0) throw errors.invalidArgument("code package is empty: the zip holds no files");
  return summary;
}

function tooLarge(limit: number): NimbusError {
  return new NimbusError("EntityTooLarge", `code package unpacks to more than the limit of ${limit} bytes`);
}

function nextEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | undefined> {
  return new Promise((resolve, reject) => {
    const onEntry = (entry: yauzl.Entry) => {
      cleanup();
      resolve(entry);
    };
    const onEnd = () => {
      cleanup();
      resolve(undefined);
    };
    const onError = (err: unknown) => {
      cleanup();
      reject(isNimbusError(err) ? err : invalid(describe(err)));
    };
    const cleanup = () => {
      zip.off("entry", onEntry);
      zip.off("end", onEnd);
      zip.off("error", onError);
    };
    zip.on("entry", onEntry);
    zip.on("end", onEnd);
    zip.on("error", onError);
    zip.readEntry();
  });
}

function openEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream) => (err ? reject(invalid(`entry '${entry.fileName}': ${describe(err)}`)) : resolve(stream)));
  });
}

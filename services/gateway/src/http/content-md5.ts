import { createHash, timingSafeEqual, type Hash } from "node:crypto";
import { Transform } from "node:stream";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { errors, Headers, type NimbusError } from "@nimbus/protocol";

const HEX = /^[0-9a-fA-F]{32}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const EMPTY_MD5 = createHash("md5").digest();

/**
 * The 16-byte digest a `Content-MD5` header names. FC takes the spellings its SDKs send: RFC 1864's
 * base64 of the digest (FC's docs, Python), the hex digest (Go SDK) and the base64 of the hex digest
 * (@alicloud/fc2). Anything else is InvalidArgument.
 */
export function parseContentMd5(value: string): Buffer {
  const trimmed = value.trim();
  if (HEX.test(trimmed)) return Buffer.from(trimmed, "hex");
  if (BASE64.test(trimmed) && trimmed.length % 4 === 0) {
    const decoded = Buffer.from(trimmed, "base64");
    if (decoded.length === 16) return decoded;
    const text = decoded.toString("latin1");
    if (HEX.test(text)) return Buffer.from(text, "hex");
  }
  throw errors.invalidArgument(`the Content-MD5 header '${trimmed.slice(0, 64)}' is not an MD5 digest (base64 or hex)`);
}

function mismatch(): NimbusError {
  return errors.invalidArgument("the Content-MD5 header does not match the MD5 digest of the request body");
}

type Outcome = "verified" | "mismatch";
const OUTCOME = Symbol("nimbus.contentMd5");
type Marked = FastifyRequest & { [OUTCOME]?: Outcome };

/**
 * Passes a body through unchanged, hashing it. At its end the outcome is recorded on the request,
 * and a mismatch also fails the stream, which fails the body reader when one is reading it.
 */
function hashingStream(expected: Buffer, req: Marked): Transform {
  const hash: Hash = createHash("md5");
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      const matches = timingSafeEqual(expected, hash.digest());
      req[OUTCOME] = matches ? "verified" : "mismatch";
      done(matches ? undefined : mismatch());
    },
  });
  // Nobody reads the body of a GET: its stream errors go nowhere, and preHandler decides instead.
  stream.on("error", () => undefined);
  return stream;
}

function expectedDigest(req: FastifyRequest): Buffer | undefined {
  const header = req.headers[Headers.contentMd5];
  if (header === undefined) return undefined;
  return parseContentMd5(Array.isArray(header) ? header.join(",") : header);
}

/**
 * Binds a request's body to its `Content-MD5` (which FC's signature covers) on every route: the
 * body is hashed while it streams in, with no second copy, and a mismatch fails the request with
 * InvalidArgument before any handler runs. A route that reads no body (GET, or an empty body) is
 * checked against the empty body, which is what its handler sees. Requests without the header pass.
 */
export function verifyContentMd5(app: FastifyInstance): void {
  app.addHook("preParsing", async (req, _reply, payload) => {
    const expected = expectedDigest(req);
    if (expected === undefined) return payload;
    const stream = hashingStream(expected, req);
    payload.on("error", (err) => stream.destroy(err));
    return payload.pipe(stream);
  });
  app.addHook("preHandler", async (req) => {
    const outcome = (req as Marked)[OUTCOME];
    if (outcome === "verified") return;
    if (outcome === "mismatch") throw mismatch();
    const expected = expectedDigest(req);
    if (expected !== undefined && !timingSafeEqual(expected, EMPTY_MD5)) throw mismatch();
  });
}

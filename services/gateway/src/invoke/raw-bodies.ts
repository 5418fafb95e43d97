import type { FastifyInstance } from "fastify";

/** Inside this plugin scope every request body is raw bytes, whatever its Content-Type (the function decides). */
export function rawBodies(scope: FastifyInstance): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
}

import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, extname, join } from "node:path";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * The console's page may load its own script and style and talk to this origin, nothing else: no
 * inline script, no other origin, never framed.
 */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** The built console (packages/console/dist), read once; undefined when it was not built. */
function loadAssets(): Map<string, Asset> | undefined {
  try {
    const dist = join(dirname(createRequire(import.meta.url).resolve("@nimbus/console/package.json")), "dist");
    const assets = new Map<string, Asset>();
    for (const name of readdirSync(dist)) {
      const type = TYPES[extname(name)];
      if (!type) continue;
      const body = readFileSync(join(dist, name));
      assets.set(name, { body, type, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"` });
    }
    return assets.has("index.html") ? assets : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The web console at /console/: a static single-page app from this origin (so it calls the API
 * without CORS), unsigned like /healthz — the page holds nothing secret, and every API request it
 * makes is signed in the browser with the key pair its user signs in with.
 */
export function consoleRoutes(app: FastifyInstance): void {
  const assets = loadAssets();
  const config = { config: { public: true } };
  app.get("/console", config, async (_req, reply) => reply.redirect("/console/", 301));
  const serve = async (file: string, req: FastifyRequest, reply: FastifyReply) => {
    if (!assets) return reply.status(404).type("text/plain; charset=utf-8").send("The console is not built: run `npm run build` (npm start does).\n");
    const asset = assets.get(file);
    if (!asset) return reply.status(404).type("text/plain; charset=utf-8").send("Not found.\n");
    reply
      .header("content-type", asset.type)
      .header("etag", asset.etag)
      // The page is always checked again (it names the bundle); the rest too, cheaply, by its ETag.
      .header("cache-control", "no-cache")
      .header("x-content-type-options", "nosniff")
      .header("referrer-policy", "no-referrer")
      .header("content-security-policy", CSP);
    if (req.headers["if-none-match"] === asset.etag) return reply.status(304).send();
    return reply.send(asset.body);
  };
  app.get("/console/", config, (req, reply) => serve("index.html", req, reply));
  app.get<{ Params: { file: string } }>("/console/:file", config, (req, reply) => serve(req.params.file, req, reply));
}

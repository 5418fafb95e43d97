import { createServer } from "node:net";

/** Ports this process handed out lately: servers starting side by side never get the same one. */
const handedOut = new Map<number, number>();
const HANDED_OUT_MS = 60_000;

/**
 * A TCP port that was free on `host` a moment ago, and not one this process handed out in the last
 * minute (the kernel may offer a port again before the server it went to has bound it).
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const now = Date.now();
  for (const [port, at] of handedOut) if (now - at > HANDED_OUT_MS) handedOut.delete(port);
  for (;;) {
    const port = await anyFreePort(host);
    if (handedOut.has(port)) continue;
    handedOut.set(port, now);
    return port;
  }
}

function anyFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** True when something accepts connections on host:port. */
export function isListening(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(true));
    server.listen(port, host, () => server.close(() => resolve(false)));
  });
}

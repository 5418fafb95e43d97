import { describe, expect, it } from "vitest";
import { isInsecureRegistry, isLoopbackRegistry, skopeoAccessFlags, skopeoError, skopeoMessage } from "./registry.js";
import type { ToolResult } from "./tools.js";

const access = { insecureRegistries: ["registry.lan:5000", "plain.lan"], timeoutMs: 1000 };

function failed(stderr: string, extra: Partial<ToolResult> = {}): ToolResult {
  return { stdout: Buffer.alloc(0), stderr, code: 1, signal: null, timedOut: false, ms: 5, ...extra };
}

describe("registry access", () => {
  it("lets loopback and listed registries speak plain HTTP, nothing else", () => {
    for (const r of ["localhost:5000", "localhost", "127.0.0.1:5000", "127.9.8.7", "[::1]:5000"]) expect(isLoopbackRegistry(r), r).toBe(true);
    for (const r of ["docker.io", "10.0.0.1:5000", "localhost.example.com", "[::2]:5000", "128.0.0.1"]) expect(isLoopbackRegistry(r), r).toBe(false);
    expect(isInsecureRegistry("registry.lan:5000", access)).toBe(true);
    expect(isInsecureRegistry("registry.lan:5001", access)).toBe(false);
    expect(isInsecureRegistry("plain.lan:8080", access)).toBe(true);
    expect(isInsecureRegistry("docker.io", access)).toBe(false);
  });

  it("hands skopeo the auth file, or says there are no credentials", () => {
    expect(skopeoAccessFlags("docker.io", access, "inspect")).toEqual(["--no-creds"]);
    expect(skopeoAccessFlags("127.0.0.1:5000", { ...access, authFile: "/etc/nimbus/auth.json" }, "src")).toEqual([
      "--src-tls-verify=false",
      "--src-authfile",
      "/etc/nimbus/auth.json",
    ]);
  });
});

// skopeo 1.9's own stderr for each case, as recorded against docker-registry 2.8 (and Docker Hub's wording).
const SAID = {
  tagMissing: `time="2026-12-01T13:07:17Z" level=fatal msg="Error parsing image name \\"docker://127.0.0.1:5055/test/one:nope\\": reading manifest nope in 127.0.0.1:5055/test/one: manifest unknown: manifest unknown"`,
  copyMissing: `time="2026-12-01T13:07:17Z" level=fatal msg="initializing source docker://127.0.0.1:5055/test/none:v1: reading manifest v1 in 127.0.0.1:5055/test/none: manifest unknown: manifest unknown"`,
  unauthorized: `time="2026-12-01T13:07:28Z" level=fatal msg="Error parsing image name \\"docker://127.0.0.1:5056/test/one:v1\\": reading manifest v1 in 127.0.0.1:5056/test/one: unauthorized: authentication required"`,
  // Bearer-token auth: anonymous (the token grants nothing, the registry lists why) and a wrong password (the token server's 401).
  tokenAnonymous: `time="2026-12-01T14:05:53Z" level=fatal msg="Error parsing image name \\"docker://127.0.0.1:35207/test/one:v1\\": reading manifest v1 in 127.0.0.1:35207/test/one: errors:\\ndenied: requested access to the resource is denied\\nunauthorized: authentication required\\n"`,
  tokenWrongPassword: `time="2026-12-01T14:05:53Z" level=fatal msg="Error parsing image name \\"docker://127.0.0.1:35207/test/one:v1\\": unable to retrieve auth token: invalid username/password: unauthorized: incorrect username or password"`,
  hubDenied: `time="x" level=fatal msg="Error parsing image name \\"docker://docker.io/team/private:latest\\": reading manifest latest in docker.io/team/private: requested access to the resource is denied"`,
  refused: `time="2026-12-01T13:07:17Z" level=fatal msg="Error parsing image name \\"docker://127.0.0.1:1/x:y\\": pinging container registry 127.0.0.1:1: Get \\"http://127.0.0.1:1/v2/\\": dial tcp 127.0.0.1:1: connect: connection refused"`,
  https: `time="x" level=fatal msg="Error parsing image name \\"docker://10.0.0.5:5000/a:b\\": pinging container registry 10.0.0.5:5000: Get \\"https://10.0.0.5:5000/v2/\\": http: server gave HTTP response to HTTPS client"`,
  serverError: `time="x" level=fatal msg="reading blob sha256:ab: fetching blob: received unexpected HTTP status: 503 Service Unavailable"`,
};

describe("skopeo's errors", () => {
  it("keep the registry's words without skopeo's framing", () => {
    expect(skopeoMessage(SAID.tagMissing)).toBe("reading manifest nope in 127.0.0.1:5055/test/one: manifest unknown: manifest unknown");
    expect(skopeoMessage(SAID.copyMissing)).toBe("reading manifest v1 in 127.0.0.1:5055/test/none: manifest unknown: manifest unknown");
  });

  it("put a registry's list of errors on one line, not with its escaped newlines squashed into the words", () => {
    expect(skopeoMessage(SAID.tokenAnonymous)).toBe(
      "reading manifest v1 in 127.0.0.1:35207/test/one: errors: denied: requested access to the resource is denied; unauthorized: authentication required",
    );
    expect(skopeoMessage(SAID.tokenWrongPassword)).toBe("unable to retrieve auth token: invalid username/password: unauthorized: incorrect username or password");
  });

  it.each([
    ["tagMissing", "NotFound"],
    ["copyMissing", "NotFound"],
    ["unauthorized", "Unauthorized"],
    ["tokenAnonymous", "Unauthorized"],
    ["tokenWrongPassword", "Unauthorized"],
    ["hubDenied", "Unauthorized"],
    ["refused", "Unavailable"],
    ["https", "Unavailable"],
    ["serverError", "Unavailable"],
  ] as const)("%s → %s", (which, code) => {
    const err = skopeoError(failed(SAID[which]), "image r/a:b", 1000);
    expect(err.code).toBe(code);
    expect(err.message).toContain(skopeoMessage(SAID[which]));
  });

  it("explain a timeout and a kill, and point a plain-HTTP registry at NIMBUS_INSECURE_REGISTRIES", () => {
    expect(skopeoError(failed("", { timedOut: true, signal: "SIGKILL" }), "image r/a:b", 1500).message).toBe(
      "image r/a:b: the registry did not answer within 1500 ms (skopeo was stopped)",
    );
    expect(skopeoError(failed("", { signal: "SIGKILL", code: null }), "image r/a:b", 1500).message).toMatch(/killed by SIGKILL/);
    expect(skopeoError(failed(SAID.https), "image r/a:b", 1000).message).toMatch(/NIMBUS_INSECURE_REGISTRIES/);
  });
});

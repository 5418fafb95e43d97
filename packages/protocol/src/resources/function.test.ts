import { describe, expect, it } from "vitest";
import { CUSTOM_RUNTIMES, NODE_RUNTIMES } from "../runtimes.js";
import { assertNoPrototypeKeys, dropNulls, parseOrThrow } from "../validation.js";
import { CreateFunctionBody, UpdateFunctionBody } from "./function.js";

const base = { functionName: "fn", runtime: "nodejs20", handler: "index.handler", code: { zipFile: "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==" } };
const create = (extra: Record<string, unknown>) => parseOrThrow(CreateFunctionBody, { ...base, ...extra });
const invalid = (extra: Record<string, unknown>) => {
  try {
    create(extra);
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error("expected InvalidArgument");
};

describe("function bodies", () => {
  it("accepts every Node.js runtime FC has had, and the custom runtimes", () => {
    for (const runtime of [...NODE_RUNTIMES, ...CUSTOM_RUNTIMES]) expect(create({ runtime }).runtime).toBe(runtime);
  });

  it.each(["nodejs99", "python2.7", "java8", "custom_container", "", "NODEJS20", 10])("rejects runtime %j the way FC does", (runtime) => {
    const err = invalid({ runtime });
    expect(err.code).toBe("InvalidArgument");
    if (typeof runtime === "string") expect(err.message).toContain("Runtime is set to an invalid value");
  });

  it("reads numeric strings as numbers, as FC does", () => {
    const body = create({ initializationTimeout: "20", timeout: " 60 ", memorySize: "512", instanceConcurrency: "10", caPort: "8080" });
    expect(body).toMatchObject({ initializationTimeout: 20, timeout: 60, memorySize: 512, instanceConcurrency: 10, caPort: 8080 });
  });

  it.each(
    [
    { timeout: 0 },
    { timeout: 86_401 },
    { timeout: 1.5 },
    { timeout: "abc" },
    { initializationTimeout: 301 },
    { memorySize: 127 },
    { memorySize: 130 },
    { memorySize: 32_832 },
    { instanceConcurrency: 0 },
    { instanceConcurrency: 201 },
    { caPort: 70_000 },
    { handler: "../../etc/passwd.x" },
    { handler: "/abs.handler" },
    { handler: "" },
    { handler: "a".repeat(129) },
    { description: "d".repeat(257) },
    { layers: ["not-an-arn"] },
    { layers: Array.from({ length: 6 }, (_, i) => `acs:fc:r:1:layers/l${i}/versions/1`) },
    { environmentVariables: { "1BAD": "x" } },
    { environmentVariables: { GOOD: 1 } },
    { environmentVariables: { BIG: "x".repeat(4097) } },
    { environmentVariables: { constructor: "x" } },
    { code: { ossBucketName: "b", ossObjectName: "o" } },
    { code: {} },
    ].map((extra) => [JSON.stringify(extra).slice(0, 60), extra] as const),
  )("rejects %s", (_label, extra) => {
    expect(invalid(extra).code).toBe("InvalidArgument");
  });

  it("requires runtime, handler, name and code on create", () => {
    for (const key of ["runtime", "handler", "functionName", "code"]) {
      const body: Record<string, unknown> = { ...base };
      delete body[key];
      expect(() => parseOrThrow(CreateFunctionBody, body)).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
    }
  });

  it("takes a partial body on update, with nulls meaning absent", () => {
    const body = parseOrThrow(UpdateFunctionBody, dropNulls({ memorySize: 256, environmentVariables: null, code: null, layers: null }));
    expect(body).toEqual({ memorySize: 256 });
  });
});

describe("prototype keys", () => {
  it("are refused anywhere in a body", () => {
    for (const text of ['{"__proto__": {"x": 1}}', '{"a": {"constructor": {"prototype": {}}}}', '{"a": [{"__proto__": 1}]}']) {
      expect(() => assertNoPrototypeKeys(JSON.parse(text))).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
    }
    expect(() => assertNoPrototypeKeys({ a: { b: [1, { c: "constructor" }] } })).not.toThrow();
  });
});
